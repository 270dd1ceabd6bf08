"""The disclosure format: how a provider describes an AI system to the register.

A disclosure is one YAML or JSON document (schema version ``"1"``) saying who is responsible, what the
system does, where and on whom it is used, which models it uses, what data trained them, what due diligence
was done, which legal exceptions are claimed, and the answers to the impact questionnaire. The full format,
with an example, is in ``docs/disclosure-format.md``; the JSON Schema is served at
``<public_url>/schema/disclosure/v1.json``.

    >>> from assay.register.disclosure import parse_disclosure
    >>> from pathlib import Path
    >>> d = parse_disclosure(Path("assay/register/examples/acme-imagegen.yaml").read_bytes())
    >>> d.system.name
    'Acme ImageGen'

``parse_disclosure`` accepts YAML or JSON (text or bytes) or an already-parsed mapping, and raises one
:class:`~assay.errors.InvalidInput` listing every wrong field (its path, what is wrong, and the fix) for any
malformed input; it never raises anything else on bad input.
"""

from __future__ import annotations

import difflib
import json
import re
import types
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

import pycountry
import rfc8785
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from assay.errors import FieldProblem, InvalidInput
from assay.register.vocabulary import (
    AffectedGroup,
    Capability,
    DataSourceCategory,
    DecisionRole,
    DeploymentContext,
    Modality,
    OrganisationKind,
    OutputUse,
    Purpose,
    RegulatedProduct,
    SizeRange,
    Status,
    closest,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "SCHEMA_VERSION",
    "Disclosure",
    "ExceptionClaim",
    "canonical_json",
    "disclosure_json_schema",
    "parse_disclosure",
    "training_data_headline",
]

SCHEMA_VERSION = "1"
DEFAULT_MAX_BYTES = 1_000_000
# More wrong fields than this are summarised, so that one absurd input cannot produce a huge error body.
_MAX_PROBLEMS = 100
_MAX_DEPTH = 50


# --- Field types -------------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _assay_error(message: str, fix: str) -> PydanticCustomError:
    # Custom errors carry our fix in ctx; _problems_from() turns them into FieldProblems.
    return PydanticCustomError("assay", message, {"fix": fix})


def _no_control_characters(value: str) -> str:
    # Control characters (other than tab and newlines) have no place in a public register and can garble pages
    # and terminals.
    if _CONTROL.search(value):
        raise _assay_error("contains control characters", "remove invisible control characters from the text")
    return value


def _text(max_length: int, *, min_length: int = 1) -> Any:
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
        AfterValidator(_no_control_characters),
    ]


Name = _text(200)
ShortText = _text(1_000)
Text = _text(10_000)
LongText = _text(30_000)

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def _slug(value: str) -> str:
    if not _SLUG.match(value) or "--" in value:
        raise _assay_error(
            "is not a valid identifier",
            "use 1-64 lowercase letters, digits and single hyphens, starting and ending with a letter or digit, "
            "e.g. 'acme-imagegen'",
        )
    return value


Slug = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=64),
    AfterValidator(_slug),
    WithJsonSchema({"type": "string", "pattern": "^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$", "maxLength": 64}),
]


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or any(c.isspace() for c in value):
        raise _assay_error("is not a web address", "give a full address starting with https://")
    return value


Url = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2_000),
    AfterValidator(_url),
    WithJsonSchema({"type": "string", "format": "uri", "pattern": "^\\s*https?://", "maxLength": 2_000}),
]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise _assay_error("is not an e-mail address", "give an address like complaints@example.org")
    return value


Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=320),
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 320}),
]


def _jurisdiction(value: str) -> str:
    # ISO 3166-1 alpha-2 (NL), an ISO 3166-2 subdivision (US-CA), EU for the Union, INT for international bodies.
    code = value.strip().upper()
    if code in ("EU", "INT"):
        return code
    if "-" in code:
        if pycountry.subdivisions.get(code=code) is not None:
            return code
    elif len(code) == 2 and pycountry.countries.get(alpha_2=code) is not None:
        return code
    raise _assay_error(
        f"'{value}' is not a country or region code",
        "use an ISO 3166 code such as 'NL', 'DE' or 'US-CA', 'EU' for the European Union, or 'INT' for an "
        "international organisation",
    )


Jurisdiction = Annotated[
    str,
    StringConstraints(max_length=10),
    AfterValidator(_jurisdiction),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^\\s*([A-Za-z]{2}(-[A-Za-z0-9]{1,3})?|EU|INT|eu|int)\\s*$",
            "description": "ISO 3166-1 alpha-2 or ISO 3166-2 code, EU, or INT.",
        }
    ),
]

_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}$")


def _domain(value: str) -> str:
    value = value.strip().lower()
    if not _DOMAIN.match(value):
        raise _assay_error("is not an internet domain name", "give a bare domain such as 'wikipedia.org'")
    return value


Domain = Annotated[str, StringConstraints(max_length=253), AfterValidator(_domain)]

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")


def _language(value: str) -> str:
    if not _LANGUAGE.match(value):
        raise _assay_error("is not a language tag", "use an IETF BCP 47 tag such as 'en', 'nl' or 'pt-BR'")
    return value


Language = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=35),
    AfterValidator(_language),
    WithJsonSchema({"type": "string", "pattern": "^\\s*[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*\\s*$", "maxLength": 35}),
]

# Licence names Hugging Face model cards use that are not on the SPDX list; accepted as they are.
_MODEL_LICENCES = frozenset(
    {
        "openrail",
        "openrail++",
        "creativeml-openrail-m",
        "bigscience-openrail-m",
        "bigscience-bloom-rail-1.0",
        "bigcode-openrail-m",
        "llama2",
        "llama3",
        "llama3.1",
        "llama3.2",
        "llama3.3",
        "llama4",
        "gemma",
        "deepfloyd-if-license",
        "apple-amlr",
        "intel-research",
        "lgpl-lr",
        "h-research",
        "proprietary",
        "other",
    }
)


@lru_cache(maxsize=1)
def _spdx() -> Any:
    # license-expression ships the SPDX licence list and parses expressions such as "Apache-2.0 OR MIT".
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


def _licence(value: str) -> str:
    value = value.strip()
    if value.lower() in _MODEL_LICENCES:
        return value.lower()
    if re.fullmatch(r"LicenseRef-[A-Za-z0-9.\-]{1,100}", value):
        return value
    try:
        info = _spdx().validate(value)
    except Exception:  # noqa: BLE001 - the library raises internal errors on some malformed expressions
        info = None
    if info is None:
        raise _assay_error(
            f"'{value}' is not a valid licence expression",
            "use an SPDX identifier such as 'MIT', or an expression such as 'MIT OR Apache-2.0'",
        )
    if not info.errors and info.normalized_expression:
        return str(info.normalized_expression)
    # Expressions may combine SPDX identifiers with the SPDX "LicenseRef-" form for custom licences.
    custom = [str(s) for s in info.invalid_symbols]
    only_refs = custom and all(re.fullmatch(r"LicenseRef-[A-Za-z0-9.\-]{1,100}", s) for s in custom)
    if only_refs and all(e.startswith("Unknown license key") for e in info.errors):
        return value
    known = [str(k) for k in _spdx().known_symbols if not str(k).startswith("LicenseRef-")]
    guess = difflib.get_close_matches(value, known + sorted(_MODEL_LICENCES), n=1, cutoff=0.6)
    hint = f"did you mean '{guess[0]}'? " if guess else ""
    raise _assay_error(
        f"'{value}' is not a known licence",
        f"{hint}use an SPDX licence identifier or expression (e.g. 'Apache-2.0', 'MIT OR Apache-2.0'), a Hugging "
        "Face licence name (e.g. 'openrail++', 'llama3.1'), 'proprietary', or 'other' with a licence_url",
    )


Licence = Annotated[str, StringConstraints(max_length=200), AfterValidator(_licence)]


def _vocabulary(vocab: type) -> Any:
    """A vocabulary field: unknown values get an error listing the allowed ones and the closest match."""
    kind = vocab.__name__
    readable = re.sub(r"(?<!^)(?=[A-Z])", " ", kind).lower()

    def check(value: Any) -> Any:
        if isinstance(value, vocab):
            return value
        if isinstance(value, str) and value in vocab._value2member_map_:  # type: ignore[attr-defined]
            return value
        guess = closest(vocab, value)
        allowed = ", ".join(m.value for m in vocab)  # type: ignore[attr-defined]
        shown = repr(value) if isinstance(value, str) else f"a {type(value).__name__}"
        hint = f"did you mean '{guess}'? " if guess else ""
        raise _assay_error(f"unknown {readable} {shown}", f"{hint}allowed values: {allowed}")

    return Annotated[vocab, BeforeValidator(check)]


CapabilityName = _vocabulary(Capability)
ContextName = _vocabulary(DeploymentContext)
PurposeName = _vocabulary(Purpose)
GroupName = _vocabulary(AffectedGroup)
ModalityName = _vocabulary(Modality)
StatusName = _vocabulary(Status)
OrganisationKindName = _vocabulary(OrganisationKind)
DecisionRoleName = _vocabulary(DecisionRole)
SizeRangeName = _vocabulary(SizeRange)
ProductName = _vocabulary(RegulatedProduct)
OutputUseName = _vocabulary(OutputUse)


def _unique(items: list[Any]) -> list[Any]:
    seen: dict[Any, int] = {}
    for i, item in enumerate(items):
        if item in seen:
            raise _assay_error(f"'{item}' is listed twice (items {seen[item]} and {i})", "list each value only once")
        seen[item] = i
    return items


def _unique_list(item: Any, *, min_length: int = 0, max_length: int = 100) -> Any:
    return Annotated[
        list[item],
        Field(min_length=min_length, max_length=max_length, json_schema_extra={"uniqueItems": True}),
        AfterValidator(_unique),
    ]


RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.\-]{1,80}$")]
QuestionId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,80}$")]


# --- The model ---------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, str_max_length=30_000)


def _cross_field(problems: list[tuple[str, str, str]]) -> None:
    """Raise the cross-field problems of one model (relative paths) as one pydantic error."""
    if problems:
        raise PydanticCustomError(
            "assay_cross_field", "{count} inconsistent fields", {"count": len(problems), "problems": problems}
        )


class Contact(_Strict):
    email: Email | None = Field(None, description="An address that reaches the responsible team.")
    phone: _text(40) | None = Field(None, description="A telephone number, international format.")
    url: Url | None = Field(None, description="A contact page.")

    @model_validator(mode="after")
    def _reachable(self) -> Contact:
        if not (self.email or self.url):
            _cross_field([("email", "no e-mail address or contact page is given", "give an email or a url")])
        return self


class Responsible(_Strict):
    role: Name = Field(description="The role or office accountable for the system, e.g. 'Chief Data Officer'.")
    name: Name | None = Field(None, description="The person's name, if the organisation publishes it.")


class Organisation(_Strict):
    id: Slug | None = Field(
        None, description="The organisation's identifier in this register, if it has one (e.g. 'acme')."
    )
    legal_name: Name = Field(description="The registered legal name.")
    kind: OrganisationKindName = Field(description="What kind of organisation this is.")
    jurisdiction: Jurisdiction = Field(
        description="Where the organisation is established: ISO 3166 code ('NL', 'US-CA'), 'EU' or 'INT'."
    )
    address: ShortText = Field(description="Postal address of the registered office.")
    contact: Contact = Field(description="How the public and authorities reach the organisation.")
    responsible: Responsible = Field(description="Who answers for the system within the organisation.")
    website: Url | None = Field(None, description="The organisation's website.")


class Provider(Organisation):
    """The organisation that develops the system (or has it developed) and puts it on the market."""


class Deployer(Organisation):
    """An organisation that uses the system under its own authority."""

    use: ShortText | None = Field(None, description="How this deployer uses the system, in one or two sentences.")


class HumanOversight(_Strict):
    decision_role: DecisionRoleName = Field(description="How far the system's output decides things about people.")
    description: Text = Field(
        description="Who oversees the system, what they can see and change, and when they overrule it."
    )


class Contest(_Strict):
    how: Text = Field(description="How an affected person contests a decision or output, step by step.")
    contact: Email | None = Field(None, description="Where to send a complaint or objection.")
    url: Url | None = Field(None, description="A page explaining how to contest or object.")


class OutputReuse(_Strict):
    """What the provider allows others to do with the system's outputs. Written into every image Assay marks for
    the system, as the C2PA ``cawg.training-mining`` assertion."""

    # Unstated uses (None) get the defaults when images are marked; stated ones are kept as stated, so the
    # system's page shows what the provider declared (the canonical form drops values equal to a default).
    ai_training: OutputUseName | None = Field(
        None, description="Training AI models on the outputs (if not stated: not_allowed)."
    )
    ai_generative_training: OutputUseName | None = Field(
        None, description="Training generative AI models on the outputs (if not stated: not_allowed)."
    )
    data_mining: OutputUseName | None = Field(
        None, description="Text and data mining of the outputs (if not stated: not_allowed)."
    )
    ai_inference: OutputUseName | None = Field(
        None, description="Using the outputs as input to an AI system (if not stated: allowed)."
    )
    conditions: ShortText | None = Field(None, description="The conditions of every use marked constrained.")

    @model_validator(mode="after")
    def _conditions_stated(self) -> OutputReuse:
        uses = (self.ai_training, self.ai_generative_training, self.data_mining, self.ai_inference)
        if OutputUse.CONSTRAINED in uses and not self.conditions:
            _cross_field([("conditions", "a constrained use needs its conditions", "state the conditions")])
        return self


class System(_Strict):
    id: Slug | None = Field(
        None,
        description="Preferred public identifier (e.g. 'acme-imagegen'); the register derives one if absent.",
    )
    name: _text(100) = Field(description="The system's name, as the public knows it.")
    version: _text(50) = Field(description="The version this disclosure describes (quote it in YAML: '1.10').")
    status: StatusName = Field(description="planned, in_use or withdrawn.")
    summary: _text(350) = Field(description="What the system does, in one or two plain sentences.")
    intended_purpose: Text = Field(description="The use for which the system is intended, with its conditions.")
    purposes: _unique_list(PurposeName, min_length=1, max_length=20) = Field(  # type: ignore[valid-type]
        description="What the output is used for, from the purpose vocabulary."
    )
    how_it_works: Text = Field(description="How the system works, for a non-specialist reader.")
    input_modalities: _unique_list(ModalityName, min_length=1, max_length=20) = Field(  # type: ignore[valid-type]
        description="Kinds of data the system takes in."
    )
    output_modalities: _unique_list(ModalityName, min_length=1, max_length=20) = Field(  # type: ignore[valid-type]
        description="Kinds of data the system produces."
    )
    deployment_contexts: _unique_list(ContextName, min_length=1, max_length=20) = Field(  # type: ignore[valid-type]
        description="Where, and in which area of life, the system is used."
    )
    countries: _unique_list(Jurisdiction, min_length=1, max_length=300) = Field(  # type: ignore[valid-type]
        description="Where the system is used: ISO 3166 codes, or 'EU'."
    )
    affected_groups: _unique_list(GroupName, min_length=1, max_length=30) = Field(  # type: ignore[valid-type]
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
    safety_component_of: _unique_list(ProductName, max_length=20) = Field(  # type: ignore[valid-type]
        default_factory=list,
        description="Products under EU AI Act Annex I of which the system is (a safety component of) and "
        "that need third-party conformity assessment.",
    )
    legal_basis: ShortText | None = Field(None, description="The law that allows a public body to use it.")
    start_date: date | None = Field(None, description="When use began or is planned to begin (YYYY-MM-DD).")
    end_date: date | None = Field(None, description="When use ended or will end; required once withdrawn.")
    public_url: Url | None = Field(None, description="The organisation's own page about the system.")
    output_reuse: OutputReuse | None = Field(
        None,
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
    unit: _text(40) | None = Field(None, description="e.g. '%'.")
    dataset: Name | None = Field(None, description="The evaluation dataset.")
    group: Name | None = Field(None, description="The group or slice of people the value is for, if any.")
    notes: ShortText | None = Field(None, description="Conditions of the measurement, caveats.")


class Model(_Strict):
    """A model the system uses, with the fields of a model card."""

    name: Name = Field(description="The model's name.")
    version: _text(50) = Field(description="The model's version.")
    provider: Name = Field(description="Who developed the model.")
    architecture_family: Name = Field(
        description="e.g. 'decoder-only transformer', 'latent diffusion', 'gradient-boosted trees'."
    )
    licence: Licence = Field(
        description="SPDX identifier or expression, a Hugging Face licence name, or 'proprietary'."
    )
    licence_url: Url | None = Field(None, description="Link to the licence text.")
    general_purpose: bool = Field(False, description="True for a general-purpose AI model (EU AI Act Art. 3(63)).")
    role_in_system: ShortText | None = Field(None, description="What this model does within the system.")
    intended_use: Text = Field(description="What the model is meant to be used for.")
    out_of_scope_use: Text | None = Field(None, description="Uses the model is not suited or not allowed for.")
    limitations: Text = Field(description="Known limitations and failure modes.")
    bias_risks: Text | None = Field(None, description="Known biases and risks for groups of people.")
    evaluation: list[EvaluationResult] = Field(
        default_factory=list,
        max_length=200,
        description="Evaluation results; give results per group of people where the model affects people.",
    )
    model_card_url: Url | None = Field(None, description="The full model card.")

    @model_validator(mode="after")
    def _licence_named(self) -> Model:
        if self.licence == "other" and not self.licence_url:
            _cross_field([("licence_url", "licence 'other' needs a link to its text", "add licence_url")])
        return self


class ModalitySize(_Strict):
    modality: ModalityName = Field(description="The kind of data.")
    size: SizeRangeName = Field(description="Size range of the data in this modality.")
    description: ShortText | None = Field(None, description="More precise size or characteristics.")


class PublicDataset(_Strict):
    name: Name = Field(description="The dataset's name.")
    url: Url | None = Field(None, description="Where the dataset is published.")
    description: ShortText | None = Field(None, description="Which part was used, and how.")


class SourceDescription(_Strict):
    description: Text = Field(description="What the data is, where it came from, and on which terms.")


class WebCrawled(_Strict):
    crawlers: list[Name] = Field(min_length=1, max_length=50, description="Names of the crawlers used.")
    period: Name = Field(description="When the data was collected, e.g. '2023-01 to 2025-03'.")
    respects_robots_txt: bool = Field(description="Whether the crawlers obeyed robots.txt.")
    top_domains: _unique_list(Domain, min_length=1, max_length=1_000) = Field(  # type: ignore[valid-type]
        description="The most relevant domain names crawled (the EU template asks for the top 10%, up to 1,000)."
    )
    description: Text | None = Field(None, description="Anything else about the crawl.")


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
    licensed_data: SourceDescription | None = Field(None, description="Data licensed from rightsholders.")
    web_crawled: WebCrawled | None = Field(None, description="Data crawled from the web.")
    user_data: UserData | None = Field(None, description="Data from users of the provider's services.")
    synthetic_data: SyntheticData | None = Field(None, description="Data generated by AI models.")
    operational_records: SourceDescription | None = Field(
        None, description="Case files or other records about people held by the provider or deployer."
    )
    other: SourceDescription | None = Field(None, description="Any other source.")

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
    other: Text | None = Field(None, description="Other processing (deduplication, filtering, labelling).")


class TrainingData(_Strict):
    """The public summary of training content, following the EU AI Office's template (Art. 53(1)(d))."""

    modalities: list[ModalitySize] = Field(
        min_length=1, max_length=20, description="Each kind of data, with its size range."
    )
    latest_collection_date: date | None = Field(None, description="When the latest data was collected.")
    languages: _unique_list(Language, max_length=300) = Field(  # type: ignore[valid-type]
        default_factory=list, description="Languages of the data (BCP 47 tags)."
    )
    other_characteristics: Text | None = Field(None, description="Other relevant characteristics of the data.")
    sources: DataSources = Field(description="Where the data came from, by category.")
    processing: DataProcessing = Field(description="How the data was processed before training.")
    personal_data_used: bool = Field(description="Whether personal data was used to train or fine-tune.")
    biometric_data_used: bool = Field(description="Whether biometric data (faces, voices, ...) was used.")
    personal_data_description: Text | None = Field(
        None, description="Which personal data, from whom, on which legal basis, and how it is protected."
    )
    summary_url: Url | None = Field(None, description="The provider's published training-data summary.")

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

    completed_on: date | None = Field(None, description="When the assessment was completed.")
    process: Text = Field(description="(a) The deployer's processes in which the system is used.")
    period_and_frequency: Text = Field(description="(b) For how long and how often it is used.")
    affected_groups: Text = Field(description="(c) The categories of people and groups likely to be affected.")
    risks_of_harm: Text = Field(description="(d) The specific risks of harm to those people and groups.")
    human_oversight_measures: Text = Field(description="(e) The human-oversight measures.")
    measures_if_risks_materialise: Text = Field(
        description="(f) What is done if the risks materialise, including internal governance."
    )
    complaint_mechanism: Text = Field(description="(f) The complaint mechanism for affected people.")
    url: Url | None = Field(None, description="The published assessment.")
    authority_notified: bool = Field(False, description="Whether the market surveillance authority was notified.")


class Consultation(_Strict):
    groups: _unique_list(GroupName, min_length=1, max_length=30) = Field(  # type: ignore[valid-type]
        description="The groups consulted, from the affected-group vocabulary."
    )
    organisations: list[Name] = Field(
        default_factory=list, max_length=50, description="Organisations representing them that took part."
    )
    how: Text = Field(description="How they were consulted (interviews, panels, public consultation...).")
    when: Name = Field(description="When, e.g. '2026-03' or 'March to May 2026'.")
    outcome: Text = Field(description="What they said and what changed as a result.")
    url: Url | None = Field(None, description="A published report of the consultation.")


class DataProtectionImpactAssessment(_Strict):
    reference: Name = Field(description="The DPIA's reference or title.")
    completed_on: date | None = Field(None, description="When the DPIA was completed.")
    url: Url | None = Field(None, description="The published DPIA or its summary.")


class OtherAssessment(_Strict):
    name: Name = Field(description="The assessment's name (audit, algorithm impact assessment, ...).")
    url: Url | None = Field(None, description="Where it is published.")


class DueDiligence(_Strict):
    fria: FundamentalRightsImpactAssessment | None = Field(
        None, description="Fundamental-rights impact assessment (EU AI Act Art. 27)."
    )
    consultation: Consultation | None = Field(None, description="Consultation of affected groups.")
    dpia: DataProtectionImpactAssessment | None = Field(
        None, description="Data-protection impact assessment (GDPR Art. 35)."
    )
    human_rights_policy_url: Url | None = Field(None, description="The organisation's human-rights policy.")
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
    legal_basis: ShortText | None = Field(None, description="The provision of national or Union law relied on.")
    authorisation: ShortText | None = Field(
        None, description="Reference of the judicial or independent administrative authorisation, where needed."
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
    capabilities: _unique_list(CapabilityName, max_length=40) = Field(  # type: ignore[valid-type]
        default_factory=list, description="What the system can do, from the capability vocabulary."
    )
    models: list[Model] = Field(
        default_factory=list, max_length=50, description="The models the system uses, with model-card fields."
    )
    training_data: TrainingData | None = Field(None, description="Summary of the training data.")
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
    # Imported here, not at the top: screening builds on this module (its rules name exceptions by id).
    from assay.register.screening import check_claims

    return problems + check_claims(d)


def _check_answers(d: Disclosure) -> list[tuple[str, str, str]]:
    from assay.register.impact import check_answers

    return check_answers(d)


# --- Parsing -----------------------------------------------------------------------------------------------


class _Refused(Exception):
    """A YAML construct a disclosure may not use; carries the position for the error message."""

    def __init__(self, message: str, fix: str, mark: Any) -> None:
        super().__init__(message)
        self.message, self.fix, self.mark = message, fix, mark


_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _StrictConstructor(yaml.constructor.SafeConstructor):
    """Builds plain data; refuses duplicate keys, non-text keys and merge keys instead of guessing."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise _Refused("expected a mapping", "give fields as 'name: value'", node.start_mark)
        mapping: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refused("merge keys (<<) are not allowed", "write the fields out in full", key_node.start_mark)
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise _Refused(f"the key {key!r} is not text", "put the key in quotes", key_node.start_mark)
            if key in mapping:
                raise _Refused(
                    f"duplicate key '{key}' (first given on line {first_line[key] + 1})",
                    "give each field once; remove or merge the repeated one",
                    key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


class _StrictResolver(yaml.resolver.Resolver):
    """Types only YAML 1.2 core scalars (true/false, decimal integers, floats, null); all else stays text."""


_StrictResolver.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL_TAG, _INT_TAG, _FLOAT_TAG, _TIMESTAMP_TAG)]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}
_StrictResolver.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_StrictResolver.add_implicit_resolver(_INT_TAG, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789"))
_StrictResolver.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+)$"),
    list("-+0123456789."),
)


class _Loader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    _StrictConstructor,
    _StrictResolver,
):
    """PyYAML's safe loader, made strict and predictable for untrusted documents (pure Python).

    Why not plain ``yaml.safe_load``: it silently keeps the last of duplicate keys, expands aliases (a
    "billion laughs" document can exhaust memory), and follows YAML 1.1, where ``NO`` (Norway) is ``false``,
    ``1:20`` is 80 and ``2026-01-01`` becomes a date object inside a text field.
    """

    _depth = 0

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _StrictConstructor.__init__(self)
        _StrictResolver.__init__(self)

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused("aliases (*name) are not allowed", "write the value out in full", event.start_mark)
        # An explicit limit rather than Python's recursion limit: a disclosure is at most about 8 levels deep.
        self._depth += 1
        try:
            if self._depth > _MAX_DEPTH:
                raise _Refused(
                    f"the document is nested too deeply (more than {_MAX_DEPTH} levels)",
                    "a disclosure needs only a few levels",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


if yaml.__with_libyaml__:

    class _FastLoader(yaml.cyaml.CParser, _StrictConstructor, _StrictResolver):  # type: ignore[misc]
        """The same rules on libyaml's parser, about ten times faster; aliases and depth are checked first."""

        def __init__(self, stream: str) -> None:
            _prescan(stream)
            yaml.cyaml.CParser.__init__(self, stream)
            _StrictConstructor.__init__(self)
            _StrictResolver.__init__(self)

    def _prescan(stream: str) -> None:
        # libyaml composes nodes in C, where we cannot hook in; so walk its event stream once beforehand.
        parser = yaml.cyaml.CParser(stream)
        depth = 0
        try:
            while parser.check_event():
                event = parser.get_event()
                if isinstance(event, yaml.AliasEvent):
                    raise _Refused("aliases (*name) are not allowed", "write the value out in full", event.start_mark)
                if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                    depth += 1
                    if depth > _MAX_DEPTH:
                        raise _Refused(
                            f"the document is nested too deeply (more than {_MAX_DEPTH} levels)",
                            "a disclosure needs only a few levels",
                            event.start_mark,
                        )
                elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                    depth -= 1
        finally:
            parser.dispose()

    _YAML_LOADER: type = _FastLoader
else:  # pragma: no cover - PyYAML built without libyaml
    _YAML_LOADER = _Loader


def _invalid(source: str, message: str, fix: str, *, path: str = "") -> InvalidInput:
    return InvalidInput(f"{source}: {message}", hint=fix, problems=[FieldProblem(path or "(document)", message, fix)])


def _load_yaml(text: str, source: str) -> Any:
    loader = None
    try:
        loader = _YAML_LOADER(text)  # the reader already refuses some characters here
        if not loader.check_node():
            raise _invalid(source, "the document is empty", "give the disclosure's fields")
        node = loader.get_node()
        if loader.check_node():
            extra = loader.get_node()
            raise _Refused(
                "more than one YAML document", "keep one disclosure per file (remove '---')", extra.start_mark
            )
        return loader.construct_document(node)
    except _Refused as exc:
        where = f" (line {exc.mark.line + 1}, column {exc.mark.column + 1})" if exc.mark else ""
        raise _invalid(source, exc.message + where, exc.fix) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = exc.problem or exc.context or "malformed YAML"
        raise _invalid(source, f"not valid YAML{where}: {what}", "check indentation, colons and quotes there") from None
    except yaml.YAMLError as exc:
        raise _invalid(source, f"not valid YAML: {exc}", "check the document's syntax") from None
    except RecursionError:
        raise _invalid(source, "the document is nested too deeply", "a disclosure needs only a few levels") from None
    finally:
        if loader is not None:
            loader.dispose()


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"duplicate key '{key}'", "give each field once; remove or merge the repeated one", None)
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise _Refused(f"'{name}' is not a JSON number", "give a finite number", None)


def _load_json(text: str, source: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)
    except _Refused as exc:
        raise _invalid(source, exc.message, exc.fix) from None
    except json.JSONDecodeError as exc:
        raise _invalid(
            source,
            f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            "check brackets, commas and quotes there",
        ) from None
    except RecursionError:
        raise _invalid(source, "the document is nested too deeply", "a disclosure needs only a few levels") from None
    except ValueError as exc:  # e.g. integers with too many digits
        raise _invalid(source, f"not valid JSON: {exc}", "check the numbers in the document") from None


def _decode(data: bytes, source: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(
            source, f"not UTF-8 text (invalid byte at offset {exc.start})", "save the file as UTF-8"
        ) from None
    return text


def parse_disclosure(
    data: bytes | bytearray | str | Mapping[str, Any],
    *,
    source: str = "disclosure",
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Disclosure:
    """Parse and validate a disclosure from YAML or JSON (text or bytes) or a mapping.

    Raises one :class:`InvalidInput` listing every wrong field as a ``FieldProblem(path, message, fix)``,
    where ``path`` looks like ``models[0].licence``. ``source`` names the input in messages (e.g. a file name).
    """
    # 1. Bytes: size first (before any work), then strict UTF-8.
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        if len(raw) > max_bytes:
            raise _invalid(
                source,
                f"the document is {len(raw):,} bytes; the limit is {max_bytes:,}",
                "shorten long texts or link to documents instead of pasting them",
            )
        text: str | None = _decode(raw, source)
    elif isinstance(data, str):
        text = data
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise _invalid(
                source, "the text contains unpaired surrogate characters", "save the file as UTF-8"
            ) from None
        if size > max_bytes:
            raise _invalid(
                source,
                f"the document is {size:,} bytes; the limit is {max_bytes:,}",
                "shorten long texts or link to documents instead of pasting them",
            )
    elif isinstance(data, Mapping):
        text = None
    else:
        raise _invalid(
            source,
            f"expected YAML or JSON text or a mapping, got {type(data).__name__}",
            "pass the document's text or its parsed fields",
        )

    # 2. Text: JSON if it looks like JSON (better messages, same meaning), else YAML.
    if text is not None:
        text = text.removeprefix("\ufeff")
        if not text.strip():
            raise _invalid(source, "the document is empty", "give the disclosure's fields")
        loaded = _load_json(text, source) if text.lstrip()[:1] in ("{", "[") else _load_yaml(text, source)
    else:
        loaded = data

    # 3. The top level must be a mapping of fields.
    if not isinstance(loaded, Mapping):
        raise _invalid(
            source,
            f"the document is a {_kind(loaded)}, not a set of fields",
            "start with 'schema_version: \"1\"' and the other top-level fields",
        )

    # 4. Validate every field at once; turn pydantic's errors into our problems, one per wrong field.
    try:
        return Disclosure.model_validate(dict(loaded))
    except ValidationError as exc:
        problems = _problems_from(exc)
    except RecursionError:
        raise _invalid(source, "the document is nested too deeply", "a disclosure needs only a few levels") from None
    shown = problems[:_MAX_PROBLEMS]
    if len(problems) > _MAX_PROBLEMS:
        shown.append(
            FieldProblem("(document)", f"and {len(problems) - _MAX_PROBLEMS} more problems", "fix the ones above first")
        )
    noun = "field is" if len(problems) == 1 else "fields are"
    first = shown[0]
    return_hint = f"{first.path}: {first.fix}" if len(problems) == 1 else "fix each field listed in 'problems'"
    raise InvalidInput(f"{source}: {len(problems)} {noun} wrong", hint=return_hint, problems=shown)


def _kind(value: Any) -> str:
    return (
        {list: "list", str: "text", int: "number", float: "number", bool: "boolean"}.get(
            type(value), type(value).__name__
        )
        if value is not None
        else "null value"
    )


# --- Error translation -------------------------------------------------------------------------------------


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for an error in a mapping's key rather than its value
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(str(part), ensure_ascii=False)}]"
    return out or "(document)"


def _unwrap(annotation: Any) -> Any:
    """The model class inside Optional[...], list[...], dict[..., ...] and Annotated[...], if any."""
    for _ in range(8):
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (list, dict, Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            if models:
                return models[0]
            annotation = args[-1] if args else None
        else:
            break
    return annotation


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that holds the last element of ``loc`` (to list allowed and required fields)."""
    model: Any = Disclosure
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return None
        model = _unwrap(model.model_fields[part].annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _problems_from(exc: ValidationError) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err.get("loc", ()))
        kind = err.get("type", "")
        ctx = err.get("ctx") or {}
        given = err.get("input")
        if kind == "assay_cross_field":
            prefix = loc
            for rel, message, fix in ctx.get("problems", ()):
                full = _path(prefix) if not rel else (f"{_path(prefix)}.{rel}" if prefix else rel).replace(".[", "[")
                problems.append(FieldProblem(full, message, fix))
            continue
        problems.append(FieldProblem(_path(loc), *_explain(kind, err.get("msg", ""), ctx, given, loc)))
    return problems


def _explain(kind: str, msg: str, ctx: Mapping[str, Any], given: Any, loc: tuple[Any, ...]) -> tuple[str, str]:
    """Message and fix for one pydantic error, in our words."""
    name = loc[-1] if loc else ""
    if kind == "assay":
        return msg, str(ctx.get("fix", ""))
    if kind == "missing":
        model = _model_at(loc)
        field = model.model_fields.get(str(name)) if model else None
        about = f" ({field.description})" if field and field.description else ""
        return "this field is required", f"add '{name}'{about}"
    if kind == "extra_forbidden":
        model = _model_at(loc)
        allowed = sorted(model.model_fields) if model else []
        guess = difflib.get_close_matches(str(name), allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{guess[0]}'? " if guess else ""
        return f"unknown field '{name}'", f"{hint}remove it; allowed fields here: {', '.join(allowed)}"
    if kind == "literal_error":
        return (
            f"must be {ctx.get('expected', 'one of the allowed values')}",
            f"use {ctx.get('expected', 'an allowed value')}",
        )
    if kind in ("string_type", "string_sub_type"):
        if isinstance(given, bool | int | float):
            return (
                f"must be text, got the {_kind(given)} {given!r}",
                'put the value in quotes, e.g. "1.10" - YAML reads unquoted 1.10 as a number',
            )
        return f"must be text, got a {_kind(given)}", "give a text value"
    if kind == "string_too_long":
        size = f" (it has {len(given)})" if isinstance(given, str) else ""
        return f"is too long{size}", f"shorten it to at most {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        return "must not be empty", "write the text, or leave the optional field out"
    if kind == "string_pattern_mismatch":
        what = "key" if loc and loc[-1] == "[key]" else "value"
        return (
            f"the {what} has characters that are not allowed",
            "use lowercase letters, digits and underscores (see the allowed ids in the documentation)",
        )
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s)", "add the missing items"
    if kind == "too_long":
        return f"has too many items (at most {ctx.get('max_length')})", "shorten the list"
    if kind == "list_type":
        return f"must be a list, got a {_kind(given)}", "give a list: one '- item' per line, or [a, b]"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a set of fields, got a {_kind(given)}", "give the fields as 'name: value' lines"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false", "write true or false (without quotes)"
    if kind in ("float_type", "float_parsing", "finite_number", "int_type", "int_parsing"):
        return "must be a finite number", "write a number such as 0.93 (without quotes)"
    if kind.startswith("date") or kind.startswith("datetime"):
        return "is not a date", "write a date as YYYY-MM-DD, e.g. 2026-03-31"
    return msg, "correct the value"


# --- Derived outputs ---------------------------------------------------------------------------------------


def canonical_json(d: Disclosure) -> bytes:
    """The disclosure as RFC 8785 canonical JSON (sorted keys, no whitespace, UTF-8), for hashing.

    Fields left at their default are omitted, so adding an optional field to the format later does not
    change the hash of existing disclosures.
    """
    return rfc8785.dumps(d.model_dump(mode="json", exclude_defaults=True))


def disclosure_json_schema(base_url: str) -> dict[str, Any]:
    """The JSON Schema (2020-12) of the disclosure format, with ``$id`` ``<base_url>/schema/disclosure/v1.json``."""
    # Building the schema takes ~15 ms; it only changes with the code and data files, so build it once.
    return json.loads(_schema_text(base_url.rstrip("/")))


@lru_cache(maxsize=8)
def _schema_text(base_url: str) -> str:
    schema = Disclosure.model_json_schema(mode="validation")
    out: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{base_url}/schema/disclosure/v{SCHEMA_VERSION}.json",
    }
    out.update(schema)
    # The questionnaire is data, so its question and choice ids are added here rather than typed in the model.
    from assay.register.impact import answers_json_schema

    out["properties"]["impact_answers"] = answers_json_schema()
    return json.dumps(out)


_SIZE_WORDS = {
    SizeRange.TINY: "a very small amount of",
    SizeRange.SMALL: "a small amount of",
    SizeRange.LARGE: "a large amount of",
    SizeRange.HUGE: "a very large amount of",
    SizeRange.UNKNOWN: "an unknown amount of",
}

_MODALITY_WORDS = {
    Modality.TEXT: "text",
    Modality.IMAGE: "images",
    Modality.VIDEO: "video",
    Modality.AUDIO: "audio",
    Modality.TABULAR: "tabular data",
    Modality.TIME_SERIES: "sensor data",
    Modality.GEOSPATIAL: "location data",
    Modality.BIOMETRIC: "biometric data",
    Modality.CODE: "code",
    Modality.SCORES_DECISIONS: "scores and decisions",
}


_SOURCE_WORDS = {
    DataSourceCategory.PUBLIC_DATASETS: "public datasets",
    DataSourceCategory.LICENSED_DATA: "licensed data",
    DataSourceCategory.WEB_CRAWLED: "web-crawled data",
    DataSourceCategory.USER_DATA: "data from users",
    DataSourceCategory.SYNTHETIC_DATA: "synthetic data",
    DataSourceCategory.OPERATIONAL_RECORDS: "case records",
    DataSourceCategory.OTHER: "other sources",
}


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def training_data_headline(d: Disclosure) -> str:
    """The training data in one plain sentence, e.g. for lists and the top of a system's page."""
    t = d.training_data
    if t is None:
        if not d.models:
            return "The system uses no trained model, so there is no training data to summarise."
        return "The provider has not published a summary of the training data."
    largest = max((m.size for m in t.modalities), key=list(SizeRange).index)
    kinds = _join([_MODALITY_WORDS[m.modality] for m in t.modalities])
    sources = [_SOURCE_WORDS[c] for c in t.sources.categories()]
    if t.biometric_data_used:
        personal = "it includes personal data, among them biometric data"
    elif t.personal_data_used:
        personal = "it includes personal data but no biometric data"
    else:
        personal = "the provider says it contains no personal data"
    if largest == SizeRange.UNKNOWN:
        amount = f"Trained on {kinds}"
    else:
        amount = f"Trained on {_SIZE_WORDS[largest]} {kinds}"
    return f"{amount} from {_join(sources)}; {personal}."
