"""The register's controlled vocabularies: every value a disclosure may use, with a label and a description.

Disclosures name capabilities, deployment contexts, purposes, affected groups, modalities and statuses from
these lists only, so that the red-line rules (``screening``) and the impact questionnaire (``impact``) can
match them exactly and the public can filter the register by them. Each value is a ``str`` enum member with
a plain-language ``label`` and ``description``::

    >>> from assay.register.vocabulary import Capability
    >>> Capability("emotion_recognition").label
    'Emotion recognition'
    >>> Capability.SYNTHETIC_IMAGE.value
    'synthetic_image'

The values are part of the disclosure format (schema version 1): never rename one, only add new ones.
Nothing here imports from the rest of Assay.
"""

from __future__ import annotations

import difflib
from enum import StrEnum
from typing import Any

__all__ = [
    "ANNEX_III_PURPOSES",
    "SENSITIVE_TRAIT_CATEGORISATION",
    "SYNTHETIC_MEDIA",
    "AffectedGroup",
    "Capability",
    "DataSourceCategory",
    "DecisionRole",
    "DeploymentContext",
    "Modality",
    "OrganisationKind",
    "Purpose",
    "RegulatedProduct",
    "SizeRange",
    "Status",
    "VOCABULARIES",
    "VULNERABLE_GROUPS",
    "closest",
    "vocabulary_table",
]


class _Term(StrEnum):
    """A vocabulary value carrying its label and description (members are plain strings for JSON)."""

    label: str
    description: str

    def __new__(cls, value: str, label: str, description: str) -> _Term:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        member.description = description
        return member


class Capability(_Term):
    """What the system can do, as far as the red lines and transparency duties care."""

    EMOTION_RECOGNITION = (
        "emotion_recognition",
        "Emotion recognition",
        "Identifies or infers emotions or intentions of people (for example anger, stress, honesty) from "
        "their face, voice, body, gait, heart rate or other biometric data.",
    )
    GENDER_INFERENCE = (
        "gender_inference",
        "Inference of gender or sex",
        "Infers or classifies a person's gender or sex from their face, voice, body, name, writing or behaviour.",
    )
    BIOMETRIC_CATEGORISATION_RACE = (
        "biometric_categorisation_race",
        "Biometric categorisation by race or ethnic origin",
        "Sorts people into categories of race or ethnic origin, or infers them, from biometric data.",
    )
    BIOMETRIC_CATEGORISATION_POLITICAL_OPINION = (
        "biometric_categorisation_political_opinion",
        "Biometric categorisation by political opinion",
        "Deduces or infers people's political opinions from biometric data.",
    )
    BIOMETRIC_CATEGORISATION_RELIGION = (
        "biometric_categorisation_religion",
        "Biometric categorisation by religious or philosophical beliefs",
        "Deduces or infers people's religious or philosophical beliefs from biometric data.",
    )
    BIOMETRIC_CATEGORISATION_SEXUAL_ORIENTATION = (
        "biometric_categorisation_sexual_orientation",
        "Biometric categorisation by sex life or sexual orientation",
        "Deduces or infers people's sex life or sexual orientation from biometric data.",
    )
    BIOMETRIC_CATEGORISATION_TRADE_UNION = (
        "biometric_categorisation_trade_union",
        "Biometric categorisation by trade-union membership",
        "Deduces or infers whether people are members of a trade union from biometric data.",
    )
    BIOMETRIC_CATEGORISATION_OTHER = (
        "biometric_categorisation_other",
        "Biometric categorisation by other traits",
        "Sorts people into categories such as age group, skin tone, disability or health from biometric data "
        "(traits other than those listed separately).",
    )
    REMOTE_BIOMETRIC_IDENTIFICATION_REALTIME = (
        "remote_biometric_identification_realtime",
        "Remote biometric identification, real time",
        "Identifies people at a distance, without their active involvement, by comparing their face, gait, "
        "voice or other biometric data with a reference database, as the images or sound are captured.",
    )
    REMOTE_BIOMETRIC_IDENTIFICATION_POST = (
        "remote_biometric_identification_post",
        "Remote biometric identification, after the fact",
        "Identifies people at a distance by comparing biometric data from recorded footage or sound with a "
        "reference database, some time after it was captured.",
    )
    BIOMETRIC_VERIFICATION = (
        "biometric_verification",
        "Biometric verification (one-to-one)",
        "Confirms that a person is who they claim to be (for example unlocking a device or passing an "
        "automated gate with one's own passport), by comparing with that one person's data only.",
    )
    FACIAL_IMAGE_SCRAPING = (
        "facial_image_scraping",
        "Untargeted scraping of facial images",
        "Builds or expands facial recognition databases by collecting facial images from the internet or "
        "CCTV footage without targeting specific people.",
    )
    SOCIAL_SCORING = (
        "social_scoring",
        "Social scoring",
        "Evaluates or classifies people over time by their social behaviour or personal characteristics, "
        "with the score leading to worse treatment in unrelated contexts or out of proportion to the "
        "behaviour.",
    )
    CRIME_RISK_PREDICTION_PROFILING = (
        "crime_risk_prediction_profiling",
        "Crime-risk prediction by profiling",
        "Predicts the risk that an individual will commit a crime based on profiling or on their personality "
        "traits and characteristics.",
    )
    MANIPULATIVE_TECHNIQUES = (
        "manipulative_techniques",
        "Manipulative or deceptive techniques",
        "Uses subliminal, purposefully manipulative or deceptive techniques that distort people's behaviour "
        "by impairing their ability to make an informed decision.",
    )
    EXPLOITATION_OF_VULNERABILITIES = (
        "exploitation_of_vulnerabilities",
        "Exploitation of vulnerabilities",
        "Exploits the vulnerabilities of people due to their age, disability or social or economic situation "
        "to distort their behaviour.",
    )
    HUMANITARIAN_BIOMETRIC_COLLECTION = (
        "humanitarian_biometric_collection",
        "Biometric data collection in humanitarian settings",
        "Collects fingerprints, iris scans, face images or other biometric data from people receiving "
        "humanitarian aid, refugees or displaced people.",
    )
    DECEPTION_DETECTION = (
        "deception_detection",
        "Lie or deception detection",
        "Works as a polygraph or similar tool that claims to detect lies, deception or the emotional state "
        "of a person being questioned.",
    )
    CONVERSATIONAL_AGENT = (
        "conversational_agent",
        "Interacts directly with people",
        "Talks or chats with people (a chatbot, voice assistant or agent) so that they may think they are "
        "dealing with a human.",
    )
    DEEP_FAKE = (
        "deep_fake",
        "Deep fakes",
        "Generates or manipulates images, audio or video that resemble existing people, objects, places or "
        "events and would falsely appear to be authentic.",
    )
    SYNTHETIC_IMAGE = (
        "synthetic_image",
        "Generates synthetic images",
        "Generates or substantially edits images.",
    )
    SYNTHETIC_AUDIO = (
        "synthetic_audio",
        "Generates synthetic audio",
        "Generates or substantially edits speech, music or other sound.",
    )
    SYNTHETIC_VIDEO = (
        "synthetic_video",
        "Generates synthetic video",
        "Generates or substantially edits video.",
    )
    SYNTHETIC_TEXT = (
        "synthetic_text",
        "Generates synthetic text",
        "Generates or substantially edits text.",
    )
    AUTOMATED_SCORING_OF_PEOPLE = (
        "automated_scoring_of_people",
        "Scores, ranks or classifies people",
        "Gives individual people a score, rank, risk rating or category that others use to decide about them.",
    )


# The sensitive traits of EU AI Act Art. 5(1)(g); kept together so rules and pages can name them as a group.
SENSITIVE_TRAIT_CATEGORISATION: tuple[Capability, ...] = (
    Capability.BIOMETRIC_CATEGORISATION_RACE,
    Capability.BIOMETRIC_CATEGORISATION_POLITICAL_OPINION,
    Capability.BIOMETRIC_CATEGORISATION_RELIGION,
    Capability.BIOMETRIC_CATEGORISATION_SEXUAL_ORIENTATION,
    Capability.BIOMETRIC_CATEGORISATION_TRADE_UNION,
)

SYNTHETIC_MEDIA: tuple[Capability, ...] = (
    Capability.SYNTHETIC_IMAGE,
    Capability.SYNTHETIC_AUDIO,
    Capability.SYNTHETIC_VIDEO,
    Capability.SYNTHETIC_TEXT,
)


class DeploymentContext(_Term):
    """Where, and in which area of life, the system is used."""

    WORKPLACE = ("workplace", "Workplace", "Employment, recruitment and the management of workers.")
    EDUCATION = (
        "education",
        "Education and vocational training",
        "Schools, universities, training institutions and exams.",
    )
    LAW_ENFORCEMENT = (
        "law_enforcement",
        "Law enforcement",
        "Police, prosecution and other authorities preventing, investigating or prosecuting crime.",
    )
    MIGRATION_BORDER = (
        "migration_border",
        "Migration, asylum and border control",
        "Visa, asylum and residence procedures, border checks and migration management.",
    )
    PUBLIC_SPACES = (
        "public_spaces",
        "Publicly accessible spaces",
        "Streets, squares, stations, shops, stadiums and other places open to the public.",
    )
    HUMANITARIAN_AID = (
        "humanitarian_aid",
        "Humanitarian aid",
        "Aid distribution, refugee camps, registration of displaced people and other humanitarian work.",
    )
    ESSENTIAL_SERVICES = (
        "essential_services",
        "Essential public and private services",
        "Public benefits and services, healthcare access, credit, life and health insurance, housing, "
        "utilities and emergency services.",
    )
    CRITICAL_INFRASTRUCTURE = (
        "critical_infrastructure",
        "Critical infrastructure",
        "Road traffic, water, gas, heating, electricity and critical digital infrastructure.",
    )
    JUSTICE_DEMOCRACY = (
        "justice_democracy",
        "Justice and democratic processes",
        "Courts, alternative dispute resolution, elections and referendums.",
    )
    HEALTH = ("health", "Health and care", "Hospitals, medical practice, care homes and public health.")
    CONSUMER_SERVICES = (
        "consumer_services",
        "Consumer products and online services",
        "Apps, websites, online platforms, shops and customer service.",
    )
    MEDIA_INFORMATION = (
        "media_information",
        "Media and public information",
        "News, publishing, advertising and information on matters of public interest.",
    )
    PUBLIC_ADMINISTRATION = (
        "public_administration",
        "Public administration",
        "Government and municipal services other than those listed separately (permits, taxes, registries).",
    )
    RESEARCH = ("research", "Research", "Scientific research and development, not used on people's cases.")


class Purpose(_Term):
    """What the system's output is used for. The Annex III use cases of the EU AI Act are listed one by one."""

    CRITICAL_INFRASTRUCTURE_SAFETY = (
        "critical_infrastructure_safety",
        "Safety component of critical infrastructure",
        "Manages or operates, as a safety component, critical digital infrastructure, road traffic, or the "
        "supply of water, gas, heating or electricity.",
    )
    EDUCATION_ADMISSION = (
        "education_admission",
        "Admission to education",
        "Decides or helps decide who gets access to or is admitted to an educational institution.",
    )
    EDUCATION_ASSESSMENT = (
        "education_assessment",
        "Assessment of learning outcomes",
        "Evaluates learning outcomes, including to steer a person's learning process.",
    )
    EDUCATION_LEVEL_ASSIGNMENT = (
        "education_level_assignment",
        "Assigning the level of education",
        "Assesses the level of education a person will receive or be able to access.",
    )
    EXAM_PROCTORING = (
        "exam_proctoring",
        "Exam proctoring",
        "Monitors and detects prohibited behaviour of students during tests.",
    )
    RECRUITMENT_SELECTION = (
        "recruitment_selection",
        "Recruitment and selection",
        "Places targeted job advertisements, analyses and filters job applications, or evaluates candidates.",
    )
    WORKER_MANAGEMENT = (
        "worker_management",
        "Decisions about workers",
        "Decides or helps decide on terms of work, promotion or termination, allocates tasks based on "
        "behaviour or personal traits, or monitors and evaluates workers' performance and behaviour.",
    )
    BENEFITS_ELIGIBILITY = (
        "benefits_eligibility",
        "Eligibility for public benefits and services",
        "Evaluates whether people are eligible for public assistance benefits and services, including "
        "healthcare, or grants, reduces, revokes or reclaims them.",
    )
    CREDITWORTHINESS = (
        "creditworthiness",
        "Creditworthiness and credit scoring",
        "Evaluates the creditworthiness of people or establishes their credit score (not fraud detection).",
    )
    INSURANCE_PRICING = (
        "insurance_pricing",
        "Life and health insurance pricing",
        "Assesses risk and sets prices for people's life or health insurance.",
    )
    EMERGENCY_TRIAGE = (
        "emergency_triage",
        "Emergency calls and triage",
        "Evaluates and classifies emergency calls, dispatches or prioritises police, firefighters or medical "
        "aid, or triages patients in emergency healthcare.",
    )
    VICTIM_RISK_ASSESSMENT = (
        "victim_risk_assessment",
        "Risk of becoming a victim of crime",
        "Assesses the risk of a person becoming the victim of a criminal offence, for law enforcement.",
    )
    EVIDENCE_EVALUATION = (
        "evidence_evaluation",
        "Reliability of evidence",
        "Evaluates the reliability of evidence in investigating or prosecuting criminal offences.",
    )
    OFFENDING_RISK_ASSESSMENT = (
        "offending_risk_assessment",
        "Risk of offending or re-offending",
        "Assesses the risk of a person offending or re-offending, or their personality traits or past "
        "criminal behaviour, for law enforcement.",
    )
    CRIMINAL_PROFILING = (
        "criminal_profiling",
        "Profiling in criminal investigations",
        "Profiles people in the detection, investigation or prosecution of criminal offences.",
    )
    MIGRATION_RISK_ASSESSMENT = (
        "migration_risk_assessment",
        "Risk assessment of migrants and travellers",
        "Assesses a security, irregular-migration or health risk posed by a person who intends to enter or "
        "has entered a territory.",
    )
    ASYLUM_VISA_EXAMINATION = (
        "asylum_visa_examination",
        "Examining asylum, visa and residence applications",
        "Helps examine applications for asylum, visas or residence permits and related complaints, including "
        "the reliability of evidence.",
    )
    BORDER_IDENTIFICATION = (
        "border_identification",
        "Detecting and identifying people at borders",
        "Detects, recognises or identifies people in migration, asylum or border control (other than "
        "checking travel documents).",
    )
    JUDICIAL_ASSISTANCE = (
        "judicial_assistance",
        "Assisting judges",
        "Helps a judicial authority or dispute-resolution body research and interpret facts and the law and "
        "apply the law to facts.",
    )
    ELECTION_INFLUENCE = (
        "election_influence",
        "Influencing elections",
        "Influences the outcome of an election or referendum or the voting behaviour of people (not tools "
        "that only organise campaigns logistically).",
    )
    MEDICAL_DIAGNOSIS = (
        "medical_diagnosis",
        "Medical diagnosis or treatment",
        "Supports diagnosis, treatment or care of patients.",
    )
    SAFETY_MONITORING = (
        "safety_monitoring",
        "Safety monitoring",
        "Detects hazards or protects people's physical safety (for example driver fatigue).",
    )
    FRAUD_DETECTION = (
        "fraud_detection",
        "Fraud detection",
        "Detects fraud or financial crime.",
    )
    CONTENT_GENERATION = (
        "content_generation",
        "Content generation",
        "Generates text, images, audio or video on request.",
    )
    CUSTOMER_SERVICE = (
        "customer_service",
        "Information and customer service",
        "Answers questions and guides people to information or services.",
    )
    CONTENT_MODERATION = (
        "content_moderation",
        "Content moderation",
        "Detects and removes or ranks down content on online services.",
    )
    RECOMMENDATION = (
        "recommendation",
        "Recommendation and ranking of content",
        "Recommends or ranks content, products or services.",
    )
    TRANSLATION = ("translation", "Translation and transcription", "Translates or transcribes language.")
    PUBLIC_SURVEILLANCE = (
        "public_surveillance",
        "Surveillance of people",
        "Watches, tracks or monitors people's movements, gatherings or behaviour.",
    )
    AID_DISTRIBUTION = (
        "aid_distribution",
        "Registration and aid distribution",
        "Registers people and distributes food, cash or other humanitarian aid.",
    )
    PRODUCTIVITY = (
        "productivity",
        "Internal productivity",
        "Drafting, summarising, search and other office work that makes no decision about people.",
    )
    OTHER = ("other", "Other", "A purpose not listed here; describe it in the intended purpose.")


# Annex III purposes whose use is high-risk under the EU AI Act (Art. 6(2)); used by pages and the impact tool.
ANNEX_III_PURPOSES: tuple[Purpose, ...] = tuple(
    p
    for p in Purpose
    if p
    not in (
        Purpose.MEDICAL_DIAGNOSIS,
        Purpose.SAFETY_MONITORING,
        Purpose.FRAUD_DETECTION,
        Purpose.CONTENT_GENERATION,
        Purpose.CUSTOMER_SERVICE,
        Purpose.CONTENT_MODERATION,
        Purpose.RECOMMENDATION,
        Purpose.TRANSLATION,
        Purpose.PUBLIC_SURVEILLANCE,
        Purpose.AID_DISTRIBUTION,
        Purpose.PRODUCTIVITY,
        Purpose.OTHER,
    )
)


class AffectedGroup(_Term):
    """People the system is used on or whose lives its output shapes."""

    GENERAL_PUBLIC = ("general_public", "The general public", "Anyone, for example passers-by or users.")
    WORKERS = ("workers", "Workers", "Employees, platform workers and contractors.")
    JOB_APPLICANTS = ("job_applicants", "Job applicants", "People applying for a job or a promotion.")
    STUDENTS = ("students", "Students and pupils", "People in education or sitting an exam.")
    CHILDREN = ("children", "Children", "People under 18.")
    OLDER_PEOPLE = ("older_people", "Older people", "People of advanced age.")
    PERSONS_WITH_DISABILITIES = (
        "persons_with_disabilities",
        "Persons with disabilities",
        "People with long-term physical, mental, intellectual or sensory impairments.",
    )
    MIGRANTS_REFUGEES = (
        "migrants_refugees",
        "Migrants, refugees and asylum seekers",
        "People on the move, applying for protection or residence, or crossing borders.",
    )
    TRAVELLERS = ("travellers", "Travellers", "People crossing borders or using transport.")
    BENEFIT_CLAIMANTS = (
        "benefit_claimants",
        "People claiming benefits",
        "People applying for or receiving public assistance.",
    )
    PEOPLE_IN_POVERTY = (
        "people_in_poverty",
        "People in poverty or precarious situations",
        "People in a difficult social or economic situation, including homeless people.",
    )
    PATIENTS = ("patients", "Patients", "People receiving medical care.")
    CONSUMERS = ("consumers", "Consumers and customers", "People buying or using products and services.")
    BORROWERS_INSURED = (
        "borrowers_insured",
        "Borrowers and insured people",
        "People applying for credit or insurance.",
    )
    SUSPECTS_DEFENDANTS = (
        "suspects_defendants",
        "Suspects, defendants and convicted people",
        "People in contact with police, prosecution, courts or prisons.",
    )
    VICTIMS = ("victims", "Victims of crime", "People who are or may become victims of crime.")
    DETAINED_PEOPLE = ("detained_people", "Detained people", "People in prison, detention or custody.")
    PROTESTERS = (
        "protesters",
        "People at protests and gatherings",
        "People exercising their freedom of assembly or expression.",
    )
    ETHNIC_MINORITIES = (
        "ethnic_minorities",
        "Ethnic, racial and religious minorities",
        "Groups at particular risk of discrimination.",
    )
    INDIGENOUS_PEOPLES = ("indigenous_peoples", "Indigenous peoples", "Indigenous peoples and communities.")
    VOTERS = ("voters", "Voters", "People taking part in elections or referendums.")
    AID_RECIPIENTS = (
        "aid_recipients",
        "Recipients of humanitarian aid",
        "People depending on humanitarian assistance, including displaced people.",
    )


# Groups whose situation makes harm more likely or more severe; the impact questionnaire derives its
# "vulnerable groups" answer from these, so a provider cannot answer it away.
VULNERABLE_GROUPS: frozenset[AffectedGroup] = frozenset(
    {
        AffectedGroup.CHILDREN,
        AffectedGroup.OLDER_PEOPLE,
        AffectedGroup.PERSONS_WITH_DISABILITIES,
        AffectedGroup.MIGRANTS_REFUGEES,
        AffectedGroup.PEOPLE_IN_POVERTY,
        AffectedGroup.BENEFIT_CLAIMANTS,
        AffectedGroup.PATIENTS,
        AffectedGroup.SUSPECTS_DEFENDANTS,
        AffectedGroup.DETAINED_PEOPLE,
        AffectedGroup.PROTESTERS,
        AffectedGroup.ETHNIC_MINORITIES,
        AffectedGroup.INDIGENOUS_PEOPLES,
        AffectedGroup.AID_RECIPIENTS,
        AffectedGroup.VICTIMS,
    }
)


class Modality(_Term):
    """Kinds of input and output data."""

    TEXT = ("text", "Text", "Written language, including documents and messages.")
    IMAGE = ("image", "Images", "Photographs, scans and other still images.")
    VIDEO = ("video", "Video", "Moving images, including CCTV footage.")
    AUDIO = ("audio", "Audio", "Speech, music and other sound.")
    TABULAR = ("tabular", "Records and tables", "Structured records such as case files or transactions.")
    TIME_SERIES = ("time_series", "Sensor and time series", "Measurements over time from sensors or logs.")
    GEOSPATIAL = ("geospatial", "Location data", "Locations, routes, maps and satellite data.")
    BIOMETRIC = (
        "biometric",
        "Biometric data",
        "Faces, fingerprints, iris, voice prints, gait or other data about a person's body or behaviour "
        "that can identify them.",
    )
    CODE = ("code", "Software code", "Source code and programs.")
    SCORES_DECISIONS = (
        "scores_decisions",
        "Scores, ranks and decisions",
        "Numbers, categories or yes/no results about people or cases.",
    )


class Status(_Term):
    """Where the system is in its life."""

    PLANNED = ("planned", "Planned", "Being designed, developed or procured; not yet used on people.")
    IN_USE = ("in_use", "In use", "Used in practice, including pilots on real cases.")
    WITHDRAWN = ("withdrawn", "Withdrawn", "No longer used.")


class OrganisationKind(_Term):
    PUBLIC_BODY = (
        "public_body",
        "Public body",
        "A government, municipality, agency or other body governed by public law.",
    )
    PRIVATE_PUBLIC_SERVICE = (
        "private_public_service",
        "Private body providing a public service",
        "A company or charity that provides a public service (for example a hospital or housing provider).",
    )
    COMPANY = ("company", "Company", "A private company.")
    NON_PROFIT = ("non_profit", "Non-profit organisation", "A charity, foundation, association or NGO.")
    INTERNATIONAL_ORGANISATION = (
        "international_organisation",
        "International organisation",
        "An intergovernmental organisation or UN agency.",
    )
    RESEARCH_INSTITUTION = ("research_institution", "Research institution", "A university or research institute.")


class DecisionRole(_Term):
    """How far the system's output decides things about people; the impact questionnaire scores it."""

    FULLY_AUTOMATED = (
        "fully_automated",
        "Decides on its own",
        "The output takes effect without a person reviewing each case.",
    )
    HUMAN_DECIDES_ON_RECOMMENDATION = (
        "human_decides_on_recommendation",
        "Recommends; a person decides",
        "A person makes each decision, with the system's score, ranking or recommendation in front of them.",
    )
    INFORMS_HUMAN_WORK = (
        "informs_human_work",
        "Supports a person's work",
        "The output is one input among others (a summary, a search result, a draft) for a person's work.",
    )
    NO_DECISIONS_ABOUT_PEOPLE = (
        "no_decisions_about_people",
        "Makes no decisions about people",
        "The output is not used to decide anything about individual people.",
    )


class DataSourceCategory(_Term):
    """Categories of training data, following the EU AI Office's template for the public training summary."""

    PUBLIC_DATASETS = (
        "public_datasets",
        "Publicly available datasets",
        "Datasets published by others and free to reuse.",
    )
    LICENSED_DATA = (
        "licensed_data",
        "Licensed data",
        "Data obtained under licence or commercial agreement from rightsholders or their representatives.",
    )
    WEB_CRAWLED = (
        "web_crawled",
        "Web-crawled data",
        "Data collected from websites by the provider's own crawlers or on its behalf.",
    )
    USER_DATA = (
        "user_data",
        "User data",
        "Data from people using the provider's services and products.",
    )
    SYNTHETIC_DATA = ("synthetic_data", "Synthetic data", "Data generated by AI models.")
    OPERATIONAL_RECORDS = (
        "operational_records",
        "Operational records",
        "Case files, transactions or other records the provider or deployer holds about people.",
    )
    OTHER = ("other", "Other sources", "Any other source, described in words.")


class SizeRange(_Term):
    """Size of the training data per modality, as ranges (the EU AI Office template asks for ranges)."""

    TINY = ("tiny", "Tiny", "Under 10,000 items, under 1 million tokens, or under 100 hours.")
    SMALL = ("small", "Small", "10,000 to 1 million items, 1 million to 1 billion tokens, or 100-10,000 hours.")
    LARGE = (
        "large",
        "Large",
        "1 million to 1 billion items, 1 billion to 10 trillion tokens, or 10,000-1 million hours.",
    )
    HUGE = ("huge", "Very large", "Over 1 billion items, over 10 trillion tokens, or over 1 million hours.")
    UNKNOWN = ("unknown", "Not known", "The provider does not know the size.")


class RegulatedProduct(_Term):
    """Products under the EU harmonisation legislation of Annex I (EU AI Act Art. 6(1))."""

    MEDICAL_DEVICE = ("medical_device", "Medical device", "Regulation (EU) 2017/745.")
    IN_VITRO_DIAGNOSTIC = ("in_vitro_diagnostic", "In vitro diagnostic medical device", "Regulation (EU) 2017/746.")
    MACHINERY = ("machinery", "Machinery", "Directive 2006/42/EC / Regulation (EU) 2023/1230.")
    TOY = ("toy", "Toy", "Directive 2009/48/EC.")
    LIFT = ("lift", "Lift", "Directive 2014/33/EU.")
    RADIO_EQUIPMENT = ("radio_equipment", "Radio equipment", "Directive 2014/53/EU.")
    PRESSURE_EQUIPMENT = ("pressure_equipment", "Pressure equipment", "Directive 2014/68/EU.")
    PERSONAL_PROTECTIVE_EQUIPMENT = (
        "personal_protective_equipment",
        "Personal protective equipment",
        "Regulation (EU) 2016/425.",
    )
    VEHICLE = ("vehicle", "Motor vehicle", "Regulations (EU) 2018/858, 2019/2144 and 168/2013.")
    CIVIL_AVIATION = ("civil_aviation", "Civil aviation", "Regulation (EU) 2018/1139.")
    RAIL = ("rail", "Rail system", "Directive (EU) 2016/797.")
    MARINE_EQUIPMENT = ("marine_equipment", "Marine equipment", "Directive 2014/90/EU.")
    OTHER_ANNEX_I = ("other_annex_i", "Other Annex I product", "Another act listed in Annex I of the EU AI Act.")


class OutputUse(_Term):
    """Whether the system's outputs may be reused by AI (the C2PA/CAWG training-and-mining assertion)."""

    ALLOWED = ("allowed", "Allowed", "Anyone may use the outputs for this.")
    NOT_ALLOWED = ("not_allowed", "Not allowed", "The provider reserves this use (an opt-out).")
    CONSTRAINED = (
        "constrained",
        "Allowed on conditions",
        "Allowed only on the conditions the disclosure states (output_reuse.conditions).",
    )


VOCABULARIES: dict[str, type[_Term]] = {
    "capability": Capability,
    "deployment_context": DeploymentContext,
    "purpose": Purpose,
    "affected_group": AffectedGroup,
    "modality": Modality,
    "status": Status,
    "organisation_kind": OrganisationKind,
    "decision_role": DecisionRole,
    "data_source_category": DataSourceCategory,
    "size_range": SizeRange,
    "regulated_product": RegulatedProduct,
    "output_use": OutputUse,
}


def closest(vocabulary: type[_Term], value: object) -> str | None:
    """The allowed value most like ``value`` (for "did you mean ...?" hints), or None if none is close."""
    if not isinstance(value, str):
        return None
    wanted = value.strip().lower().replace("-", "_").replace(" ", "_")
    values = [m.value for m in vocabulary]
    if wanted in values:
        return wanted
    # Also match labels, so "Emotion recognition" finds emotion_recognition.
    by_label = {m.label.lower().replace(" ", "_"): m.value for m in vocabulary}
    if wanted in by_label:
        return by_label[wanted]
    found = difflib.get_close_matches(wanted, values + list(by_label), n=1, cutoff=0.6)
    if not found:
        # Prefix and substring matches catch abbreviations such as "rbi_realtime" poorly; try containment.
        contained = [v for v in values if wanted and (wanted in v or v in wanted)]
        return contained[0] if len(contained) == 1 else None
    return by_label.get(found[0], found[0])


def vocabulary_table() -> dict[str, list[dict[str, Any]]]:
    """Every vocabulary as plain data (value, label, description), for pages, docs and the API."""
    return {
        name: [{"value": m.value, "label": m.label, "description": m.description} for m in vocab]
        for name, vocab in VOCABULARIES.items()
    }
