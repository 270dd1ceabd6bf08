"""The disclosure format's model: every section and field of a disclosure, with the checks that span fields.

Checks that need the red-line rules (exception claims) or the impact questionnaire (answers) come from
``screening`` and ``impact``; those read only plain attributes, so they do not import this module.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from assay.register._fields import (
    NO_REPEATS,
    CapabilityName,
    ContextName,
    DecisionRoleName,
    Domain,
    Email,
    GroupName,
    Jurisdiction,
    Language,
    Licence,
    LongText,
    ModalityName,
    Name,
    OrganisationKindName,
    OutputUseName,
    ProductName,
    PurposeName,
    QuestionId,
    RuleId,
    ShortText,
    SizeRangeName,
    Slug,
    StatusName,
    Text,
    Text40,
    Text50,
    Text100,
    Text350,
    Url,
    items,
)
from assay.register.impact import check_answers
from assay.register.screening import check_claims
from assay.register.vocabulary import (
    Capability,
    DataSourceCategory,
    Modality,
    OutputUse,
    Status,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, str_max_length=30_000)


def _cross_field(problems: list[tuple[str, str, str]]) -> None:
    """Raise the cross-field problems of one model (relative paths) as one pydantic error."""
    if problems:
        raise PydanticCustomError(
            "assay_cross_field", "{count} inconsistent fields", {"count": len(problems), "problems": problems}
        )


class Contact(_Strict):
    email: Email | None = Field(default=None, description="An address that reaches the responsible team.")
    phone: Text40 | None = Field(default=None, description="A telephone number, international format.")
    url: Url | None = Field(default=None, description="A contact page.")

    @model_validator(mode="after")
    def _reachable(self) -> Contact:
        if not (self.email or self.url):
            _cross_field([("email", "no e-mail address or contact page is given", "give an email or a url")])
        return self


class Responsible(_Strict):
    role: Name = Field(description="The role or office accountable for the system, e.g. 'Chief Data Officer'.")
    name: Name | None = Field(default=None, description="The person's name, if the organisation publishes it.")


class Organisation(_Strict):
    id: Slug | None = Field(
        default=None, description="The organisation's identifier in this register, if it has one (e.g. 'acme')."
    )
    legal_name: Name = Field(description="The registered legal name.")
    kind: OrganisationKindName = Field(description="What kind of organisation this is.")
    jurisdiction: Jurisdiction = Field(
        description="Where the organisation is established: ISO 3166 code ('NL', 'US-CA'), 'EU' or 'INT'."
    )
    address: ShortText = Field(description="Postal address of the registered office.")
    contact: Contact = Field(description="How the public and authorities reach the organisation.")
    responsible: Responsible = Field(description="Who answers for the system within the organisation.")
    website: Url | None = Field(default=None, description="The organisation's website.")


class Provider(Organisation):
    """The organisation that develops the system (or has it developed) and puts it on the market."""


class Deployer(Organisation):
    """An organisation that uses the system under its own authority."""

    use: ShortText | None = Field(
        default=None, description="How this deployer uses the system, in one or two sentences."
    )


class HumanOversight(_Strict):
    decision_role: DecisionRoleName = Field(description="How far the system's output decides things about people.")
    description: Text = Field(
        description="Who oversees the system, what they can see and change, and when they overrule it."
    )


class Contest(_Strict):
    how: Text = Field(description="How an affected person contests a decision or output, step by step.")
    contact: Email | None = Field(default=None, description="Where to send a complaint or objection.")
    url: Url | None = Field(default=None, description="A page explaining how to contest or object.")


class OutputReuse(_Strict):
    """What the provider allows others to do with the system's outputs. Written into every image Assay marks for
    the system, as the C2PA ``cawg.training-mining`` assertion."""

    # Unstated uses (None) get the defaults when images are marked; stated ones are kept as stated, so the
    # system's page shows what the provider declared (the canonical form drops values equal to a default).
    ai_training: OutputUseName | None = Field(
        default=None, description="Training AI models on the outputs (if not stated: not_allowed)."
    )
    ai_generative_training: OutputUseName | None = Field(
        default=None, description="Training generative AI models on the outputs (if not stated: not_allowed)."
    )
    data_mining: OutputUseName | None = Field(
        default=None, description="Text and data mining of the outputs (if not stated: not_allowed)."
    )
    ai_inference: OutputUseName | None = Field(
        default=None, description="Using the outputs as input to an AI system (if not stated: allowed)."
    )
    conditions: ShortText | None = Field(default=None, description="The conditions of every use marked constrained.")

    @model_validator(mode="after")
    def _conditions_stated(self) -> OutputReuse:
        uses = (self.ai_training, self.ai_generative_training, self.data_mining, self.ai_inference)
        if OutputUse.CONSTRAINED in uses and not self.conditions:
            _cross_field([("conditions", "a constrained use needs its conditions", "state the conditions")])
        return self


class System(_Strict):
    id: Slug | None = Field(
        default=None,
        description="Preferred public identifier (e.g. 'acme-imagegen'); the register derives one if absent.",
    )
    name: Text100 = Field(description="The system's name, as the public knows it.")
    version: Text50 = Field(description="The version this disclosure describes (quote it in YAML: '1.10').")
    status: StatusName = Field(description="planned, in_use or withdrawn.")
    summary: Text350 = Field(description="What the system does, in one or two plain sentences.")
    intended_purpose: Text = Field(description="The use for which the system is intended, with its conditions.")
    purposes: Annotated[list[PurposeName], items(min_length=1, max_length=20), NO_REPEATS] = Field(
        description="What the output is used for, from the purpose vocabulary."
    )
    how_it_works: Text = Field(description="How the system works, for a non-specialist reader.")
    input_modalities: Annotated[list[ModalityName], items(min_length=1, max_length=20), NO_REPEATS] = Field(
        description="Kinds of data the system takes in."
    )
    output_modalities: Annotated[list[ModalityName], items(min_length=1, max_length=20), NO_REPEATS] = Field(
        description="Kinds of data the system produces."
    )
    deployment_contexts: Annotated[list[ContextName], items(min_length=1, max_length=20), NO_REPEATS] = Field(
        description="Where, and in which area of life, the system is used."
    )
    countries: Annotated[list[Jurisdiction], items(min_length=1, max_length=300), NO_REPEATS] = Field(
        description="Where the system is used: ISO 3166 codes, or 'EU'."
    )
    affected_groups: Annotated[list[GroupName], items(min_length=1, max_length=30), NO_REPEATS] = Field(
        description="The people the system is used on or whose lives its output shapes."
    )
    affected_people: Text = Field(description="Who is affected and roughly how many people a year, in words.")
    profiling: bool = Field(
        False,
        description="True if the system evaluates personal aspects of people (work, finances, health, "
        "preferences, behaviour, location) - profiling in the sense of GDPR Art. 4(4).",
    )
    human_oversight: HumanOversight = Field(description="How people oversee the system and its decisions.")
    contest: Contest = Field(description="How affected people can contest the system's decisions.")
    safety_component_of: Annotated[list[ProductName], items(max_length=20), NO_REPEATS] = Field(
        default_factory=list,
        description="Products under EU AI Act Annex I of which the system is (a safety component of) and "
        "that need third-party conformity assessment.",
    )
    legal_basis: ShortText | None = Field(default=None, description="The law that allows a public body to use it.")
    start_date: date | None = Field(default=None, description="When use began or is planned to begin (YYYY-MM-DD).")
    end_date: date | None = Field(default=None, description="When use ended or will end; required once withdrawn.")
    public_url: Url | None = Field(default=None, description="The organisation's own page about the system.")
    output_reuse: OutputReuse | None = Field(
        default=None,
        description="For generative systems: whether others may train AI on, mine or feed to AI the outputs "
        "(defaults: training and mining not allowed, inference allowed).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> System:
        problems = []
        if self.start_date and self.end_date and self.end_date < self.start_date:
            problems.append(("end_date", "is before start_date", "correct one of the two dates"))
        if self.status == Status.WITHDRAWN and self.end_date is None:
            problems.append(("end_date", "a withdrawn system needs an end date", "add end_date"))
        _cross_field(problems)
        return self


class EvaluationResult(_Strict):
    metric: Name = Field(description="What was measured, e.g. 'false match rate' or 'accuracy'.")
    value: float = Field(description="The measured value.")
    unit: Text40 | None = Field(default=None, description="e.g. '%'.")
    dataset: Name | None = Field(default=None, description="The evaluation dataset.")
    group: Name | None = Field(default=None, description="The group or slice of people the value is for, if any.")
    notes: ShortText | None = Field(default=None, description="Conditions of the measurement, caveats.")


class Model(_Strict):
    """A model the system uses, with the fields of a model card."""

    name: Name = Field(description="The model's name.")
    version: Text50 = Field(description="The model's version.")
    provider: Name = Field(description="Who developed the model.")
    architecture_family: Name = Field(
        description="e.g. 'decoder-only transformer', 'latent diffusion', 'gradient-boosted trees'."
    )
    licence: Licence = Field(
        description="SPDX identifier or expression, a Hugging Face licence name, or 'proprietary'."
    )
    licence_url: Url | None = Field(default=None, description="Link to the licence text.")
    general_purpose: bool = Field(False, description="True for a general-purpose AI model (EU AI Act Art. 3(63)).")
    role_in_system: ShortText | None = Field(default=None, description="What this model does within the system.")
    intended_use: Text = Field(description="What the model is meant to be used for.")
    out_of_scope_use: Text | None = Field(default=None, description="Uses the model is not suited or not allowed for.")
    limitations: Text = Field(description="Known limitations and failure modes.")
    bias_risks: Text | None = Field(default=None, description="Known biases and risks for groups of people.")
    evaluation: list[EvaluationResult] = Field(
        default_factory=list,
        max_length=200,
        description="Evaluation results; give results per group of people where the model affects people.",
    )
    model_card_url: Url | None = Field(default=None, description="The full model card.")

    @model_validator(mode="after")
    def _licence_named(self) -> Model:
        if self.licence == "other" and not self.licence_url:
            _cross_field([("licence_url", "licence 'other' needs a link to its text", "add licence_url")])
        return self


class ModalitySize(_Strict):
    modality: ModalityName = Field(description="The kind of data.")
    size: SizeRangeName = Field(description="Size range of the data in this modality.")
    description: ShortText | None = Field(default=None, description="More precise size or characteristics.")


class PublicDataset(_Strict):
    name: Name = Field(description="The dataset's name.")
    url: Url | None = Field(default=None, description="Where the dataset is published.")
    description: ShortText | None = Field(default=None, description="Which part was used, and how.")


class SourceDescription(_Strict):
    description: Text = Field(description="What the data is, where it came from, and on which terms.")


class WebCrawled(_Strict):
    crawlers: list[Name] = Field(min_length=1, max_length=50, description="Names of the crawlers used.")
    period: Name = Field(description="When the data was collected, e.g. '2023-01 to 2025-03'.")
    respects_robots_txt: bool = Field(description="Whether the crawlers obeyed robots.txt.")
    top_domains: Annotated[list[Domain], items(min_length=1, max_length=1_000), NO_REPEATS] = Field(
        description="The most relevant domain names crawled (the EU template asks for the top 10%, up to 1,000)."
    )
    description: Text | None = Field(default=None, description="Anything else about the crawl.")


class UserData(_Strict):
    description: Text = Field(description="Which user data, and how users were informed or asked.")
    services: list[Name] = Field(default_factory=list, max_length=50, description="Services the data came from.")


class SyntheticData(_Strict):
    description: Text = Field(description="What was generated, and how it was checked.")
    generating_models: list[Name] = Field(
        default_factory=list, max_length=50, description="Models that generated the data."
    )


class DataSources(_Strict):
    public_datasets: list[PublicDataset] = Field(
        default_factory=list, max_length=200, description="Publicly available datasets used."
    )
    licensed_data: SourceDescription | None = Field(default=None, description="Data licensed from rightsholders.")
    web_crawled: WebCrawled | None = Field(default=None, description="Data crawled from the web.")
    user_data: UserData | None = Field(default=None, description="Data from users of the provider's services.")
    synthetic_data: SyntheticData | None = Field(default=None, description="Data generated by AI models.")
    operational_records: SourceDescription | None = Field(
        default=None, description="Case files or other records about people held by the provider or deployer."
    )
    other: SourceDescription | None = Field(default=None, description="Any other source.")

    def categories(self) -> list[DataSourceCategory]:
        present = [
            (bool(self.public_datasets), DataSourceCategory.PUBLIC_DATASETS),
            (self.licensed_data is not None, DataSourceCategory.LICENSED_DATA),
            (self.web_crawled is not None, DataSourceCategory.WEB_CRAWLED),
            (self.user_data is not None, DataSourceCategory.USER_DATA),
            (self.synthetic_data is not None, DataSourceCategory.SYNTHETIC_DATA),
            (self.operational_records is not None, DataSourceCategory.OPERATIONAL_RECORDS),
            (self.other is not None, DataSourceCategory.OTHER),
        ]
        return [category for here, category in present if here]

    @model_validator(mode="after")
    def _some_source(self) -> DataSources:
        if not self.categories():
            _cross_field([("", "no data source is described", "describe at least one source category")])
        return self


class DataProcessing(_Strict):
    tdm_opt_out: Text = Field(
        description="How reservations of rights (text-and-data-mining opt-outs, EU Directive 2019/790 "
        "Art. 4(3)) were respected."
    )
    illegal_content_removal: Text = Field(description="How illegal content was removed from the data.")
    other: Text | None = Field(default=None, description="Other processing (deduplication, filtering, labelling).")


class TrainingData(_Strict):
    """The public summary of training content, following the EU AI Office's template (Art. 53(1)(d))."""

    modalities: list[ModalitySize] = Field(
        min_length=1, max_length=20, description="Each kind of data, with its size range."
    )
    latest_collection_date: date | None = Field(default=None, description="When the latest data was collected.")
    languages: Annotated[list[Language], items(max_length=300), NO_REPEATS] = Field(
        default_factory=list, description="Languages of the data (BCP 47 tags)."
    )
    other_characteristics: Text | None = Field(default=None, description="Other relevant characteristics of the data.")
    sources: DataSources = Field(description="Where the data came from, by category.")
    processing: DataProcessing = Field(description="How the data was processed before training.")
    personal_data_used: bool = Field(description="Whether personal data was used to train or fine-tune.")
    biometric_data_used: bool = Field(description="Whether biometric data (faces, voices, ...) was used.")
    personal_data_description: Text | None = Field(
        default=None, description="Which personal data, from whom, on which legal basis, and how it is protected."
    )
    summary_url: Url | None = Field(default=None, description="The provider's published training-data summary.")

    @model_validator(mode="after")
    def _personal(self) -> TrainingData:
        problems = []
        if self.personal_data_used and not self.personal_data_description:
            problems.append(
                (
                    "personal_data_description",
                    "personal data was used but is not described",
                    "say which personal data, from whom, on which legal basis, and how it is protected",
                )
            )
        if self.biometric_data_used and not self.personal_data_used:
            problems.append(("personal_data_used", "biometric data is personal data", "set personal_data_used: true"))
        seen: dict[str, int] = {}
        for i, m in enumerate(self.modalities):
            if m.modality in seen:
                problems.append(
                    (f"modalities[{i}].modality", f"'{m.modality.value}' is listed twice", "give each modality once")
                )
            seen[m.modality] = i
        _cross_field(problems)
        return self


class FundamentalRightsImpactAssessment(_Strict):
    """The contents of EU AI Act Art. 27(1)(a)-(f)."""

    completed_on: date | None = Field(default=None, description="When the assessment was completed.")
    process: Text = Field(description="(a) The deployer's processes in which the system is used.")
    period_and_frequency: Text = Field(description="(b) For how long and how often it is used.")
    affected_groups: Text = Field(description="(c) The categories of people and groups likely to be affected.")
    risks_of_harm: Text = Field(description="(d) The specific risks of harm to those people and groups.")
    human_oversight_measures: Text = Field(description="(e) The human-oversight measures.")
    measures_if_risks_materialise: Text = Field(
        description="(f) What is done if the risks materialise, including internal governance."
    )
    complaint_mechanism: Text = Field(description="(f) The complaint mechanism for affected people.")
    url: Url | None = Field(default=None, description="The published assessment.")
    authority_notified: bool = Field(False, description="Whether the market surveillance authority was notified.")


class Consultation(_Strict):
    groups: Annotated[list[GroupName], items(min_length=1, max_length=30), NO_REPEATS] = Field(
        description="The groups consulted, from the affected-group vocabulary."
    )
    organisations: list[Name] = Field(
        default_factory=list, max_length=50, description="Organisations representing them that took part."
    )
    how: Text = Field(description="How they were consulted (interviews, panels, public consultation...).")
    when: Name = Field(description="When, e.g. '2026-03' or 'March to May 2026'.")
    outcome: Text = Field(description="What they said and what changed as a result.")
    url: Url | None = Field(default=None, description="A published report of the consultation.")


class DataProtectionImpactAssessment(_Strict):
    reference: Name = Field(description="The DPIA's reference or title.")
    completed_on: date | None = Field(default=None, description="When the DPIA was completed.")
    url: Url | None = Field(default=None, description="The published DPIA or its summary.")


class OtherAssessment(_Strict):
    name: Name = Field(description="The assessment's name (audit, algorithm impact assessment, ...).")
    url: Url | None = Field(default=None, description="Where it is published.")


class DueDiligence(_Strict):
    fria: FundamentalRightsImpactAssessment | None = Field(
        default=None, description="Fundamental-rights impact assessment (EU AI Act Art. 27)."
    )
    consultation: Consultation | None = Field(default=None, description="Consultation of affected groups.")
    dpia: DataProtectionImpactAssessment | None = Field(
        default=None, description="Data-protection impact assessment (GDPR Art. 35)."
    )
    human_rights_policy_url: Url | None = Field(default=None, description="The organisation's human-rights policy.")
    other_assessments: list[OtherAssessment] = Field(
        default_factory=list, max_length=50, description="Audits and other published assessments."
    )


class ExceptionClaim(_Strict):
    """A claim that a legal exception to a red-line rule applies. Always reviewed, never silently accepted."""

    rule: RuleId = Field(description="The id of the red-line rule (see /rules).")
    exception: RuleId = Field(description="The id of the legal exception the rule lists.")
    justification: LongText = Field(
        description="Why the exception applies, in full sentences: facts, necessity, proportionality, safeguards."
    )
    legal_basis: ShortText | None = Field(default=None, description="The provision of national or Union law relied on.")
    authorisation: ShortText | None = Field(
        default=None, description="Reference of the judicial or independent administrative authorisation, where needed."
    )


class Disclosure(_Strict):
    """A provider's disclosure of one AI system (schema version 1)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        title="Assay AI system disclosure",
        json_schema_extra={"description": "Describes one AI system for the Assay public register."},
    )

    schema_version: Literal["1"] = Field(description='Version of this format; always "1".')
    provider: Provider = Field(description="The organisation that develops the system and puts it on the market.")
    deployers: list[Deployer] = Field(
        default_factory=list,
        max_length=100,
        description="Organisations using the system; list the provider too if it uses the system itself.",
    )
    system: System = Field(description="What the system is, does, and where and on whom it is used.")
    capabilities: Annotated[list[CapabilityName], items(max_length=40), NO_REPEATS] = Field(
        default_factory=list, description="What the system can do, from the capability vocabulary."
    )
    models: list[Model] = Field(
        default_factory=list, max_length=50, description="The models the system uses, with model-card fields."
    )
    training_data: TrainingData | None = Field(default=None, description="Summary of the training data.")
    due_diligence: DueDiligence = Field(
        default_factory=DueDiligence, description="Impact assessments and consultation of affected groups."
    )
    exception_claims: list[ExceptionClaim] = Field(
        default_factory=list,
        max_length=20,
        description="Legal exceptions claimed against red-line rules; each is reviewed by the oversight body.",
    )
    impact_answers: dict[QuestionId, Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,80}$")]] = Field(
        default_factory=dict,
        max_length=200,
        description="Answers to the impact questionnaire: question id to choice id.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Disclosure:
        _cross_field(_cross_check(self))
        return self


_OUTPUT_FOR_SYNTHETIC = {
    Capability.SYNTHETIC_IMAGE: Modality.IMAGE,
    Capability.SYNTHETIC_AUDIO: Modality.AUDIO,
    Capability.SYNTHETIC_VIDEO: Modality.VIDEO,
    Capability.SYNTHETIC_TEXT: Modality.TEXT,
}


def _cross_check(d: Disclosure) -> list[tuple[str, str, str]]:
    """Checks that span sections. Paths are relative to the document root."""
    problems: list[tuple[str, str, str]] = []
    outputs = set(d.system.output_modalities)
    for i, cap in enumerate(d.capabilities):
        needed = _OUTPUT_FOR_SYNTHETIC.get(cap)
        if needed is not None and needed not in outputs:
            problems.append(
                (
                    f"capabilities[{i}]",
                    f"'{cap.value}' is declared but system.output_modalities lacks '{needed.value}'",
                    f"add '{needed.value}' to system.output_modalities, or remove the capability",
                )
            )
    problems.extend(_check_claims(d))
    problems.extend(_check_answers(d))
    return problems


def _check_claims(d: Disclosure) -> list[tuple[str, str, str]]:
    problems = []
    seen: dict[str, int] = {}
    for i, claim in enumerate(d.exception_claims):
        if claim.rule in seen:
            problems.append(
                (
                    f"exception_claims[{i}].rule",
                    f"repeats the rule of exception_claims[{seen[claim.rule]}]",
                    "claim one exception per rule",
                )
            )
        seen[claim.rule] = i
    return problems + check_claims(d)


def _check_answers(d: Disclosure) -> list[tuple[str, str, str]]:
    return check_answers(d)


# --- Parsing -----------------------------------------------------------------------------------------------
