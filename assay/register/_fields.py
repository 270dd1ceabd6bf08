"""The field types of the disclosure format: constrained texts, identifiers, addresses, codes and vocabularies.

Each type checks its value and, when wrong, raises a pydantic error carrying our message and fix
(:func:`assay_error`), which the parser turns into a :class:`~assay.errors.FieldProblem`.
"""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import urlsplit

import pycountry
from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from assay.register.vocabulary import (
    AffectedGroup,
    Capability,
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
    "CapabilityName",
    "ContextName",
    "DecisionRoleName",
    "Domain",
    "Email",
    "GroupName",
    "Jurisdiction",
    "Language",
    "Licence",
    "LongText",
    "ModalityName",
    "NO_REPEATS",
    "Name",
    "OrganisationKindName",
    "OutputUseName",
    "ProductName",
    "PurposeName",
    "QuestionId",
    "RuleId",
    "ShortText",
    "SizeRangeName",
    "Slug",
    "StatusName",
    "Text",
    "Text100",
    "Text350",
    "Text40",
    "Text50",
    "Url",
    "assay_error",
    "items",
]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def assay_error(message: str, fix: str) -> PydanticCustomError:
    # Custom errors carry our fix in ctx; _problems_from() turns them into FieldProblems.
    return PydanticCustomError("assay", message, {"fix": fix})


def _no_control_characters(value: str) -> str:
    # Control characters (other than tab and newlines) have no place in a public register and can garble pages
    # and terminals.
    if _CONTROL.search(value):
        raise assay_error("contains control characters", "remove invisible control characters from the text")
    return value


_PLAIN = AfterValidator(_no_control_characters)


def _trimmed(max_length: int) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)


# Plain one-line or free texts of at most so many characters; aliases (not calls) so that type checkers see them.
Text40 = Annotated[str, _trimmed(40), _PLAIN]
Text50 = Annotated[str, _trimmed(50), _PLAIN]
Text100 = Annotated[str, _trimmed(100), _PLAIN]
Text350 = Annotated[str, _trimmed(350), _PLAIN]
Name = Annotated[str, _trimmed(200), _PLAIN]
ShortText = Annotated[str, _trimmed(1_000), _PLAIN]
Text = Annotated[str, _trimmed(10_000), _PLAIN]
LongText = Annotated[str, _trimmed(30_000), _PLAIN]

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def _slug(value: str) -> str:
    if not _SLUG.match(value) or "--" in value:
        raise assay_error(
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
        raise assay_error("is not a web address", "give a full address starting with https://")
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
        raise assay_error("is not an e-mail address", "give an address like complaints@example.org")
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
    raise assay_error(
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
        raise assay_error("is not an internet domain name", "give a bare domain such as 'wikipedia.org'")
    return value


Domain = Annotated[str, StringConstraints(max_length=253), AfterValidator(_domain)]

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")


def _language(value: str) -> str:
    if not _LANGUAGE.match(value):
        raise assay_error("is not a language tag", "use an IETF BCP 47 tag such as 'en', 'nl' or 'pt-BR'")
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
    if not value:
        # license_expression "normalises" an empty expression to the string 'None', which is no licence.
        raise assay_error(
            "the licence is empty",
            "give an SPDX identifier such as 'MIT', a Hugging Face licence name, 'proprietary', or 'other' with a "
            "licence_url",
        )
    if value.lower() in _MODEL_LICENCES:
        return value.lower()
    if re.fullmatch(r"LicenseRef-[A-Za-z0-9.\-]{1,100}", value):
        return value
    try:
        info = _spdx().validate(value)
    except Exception:  # noqa: BLE001 - the library raises internal errors on some malformed expressions
        info = None
    if info is None:
        raise assay_error(
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
    raise assay_error(
        f"'{value}' is not a known licence",
        f"{hint}use an SPDX licence identifier or expression (e.g. 'Apache-2.0', 'MIT OR Apache-2.0'), a Hugging "
        "Face licence name (e.g. 'openrail++', 'llama3.1'), 'proprietary', or 'other' with a licence_url",
    )


Licence = Annotated[str, StringConstraints(max_length=200), AfterValidator(_licence)]


def _vocabulary(vocab: type) -> BeforeValidator:
    """A vocabulary field's check: unknown values get an error listing the allowed ones and the closest match."""
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
        raise assay_error(f"unknown {readable} {shown}", f"{hint}allowed values: {allowed}")

    return BeforeValidator(check)


CapabilityName = Annotated[Capability, _vocabulary(Capability)]
ContextName = Annotated[DeploymentContext, _vocabulary(DeploymentContext)]
PurposeName = Annotated[Purpose, _vocabulary(Purpose)]
GroupName = Annotated[AffectedGroup, _vocabulary(AffectedGroup)]
ModalityName = Annotated[Modality, _vocabulary(Modality)]
StatusName = Annotated[Status, _vocabulary(Status)]
OrganisationKindName = Annotated[OrganisationKind, _vocabulary(OrganisationKind)]
DecisionRoleName = Annotated[DecisionRole, _vocabulary(DecisionRole)]
SizeRangeName = Annotated[SizeRange, _vocabulary(SizeRange)]
ProductName = Annotated[RegulatedProduct, _vocabulary(RegulatedProduct)]
OutputUseName = Annotated[OutputUse, _vocabulary(OutputUse)]


def _unique(items: list[Any]) -> list[Any]:
    seen: dict[Any, int] = {}
    for i, item in enumerate(items):
        if item in seen:
            raise assay_error(f"'{item}' is listed twice (items {seen[item]} and {i})", "list each value only once")
        seen[item] = i
    return items


def items(*, min_length: int = 0, max_length: int = 100) -> Any:
    """The length limits of a list field whose items are unique: ``Annotated[list[X], items(...), NO_REPEATS]``."""
    return Field(min_length=min_length, max_length=max_length, json_schema_extra={"uniqueItems": True})


NO_REPEATS = AfterValidator(_unique)


RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.\-]{1,80}$")]
QuestionId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,80}$")]
