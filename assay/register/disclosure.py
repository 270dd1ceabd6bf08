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
from functools import lru_cache
from typing import Annotated, Any, Union, get_args, get_origin

import rfc8785
import yaml
from pydantic import BaseModel, ValidationError

from assay.errors import FieldProblem, InvalidInput
from assay.register._document import Disclosure, ExceptionClaim
from assay.register._yaml import FAST_LOADER, StrictLoader
from assay.register._yaml import Refused as _Refused
from assay.register.impact import answers_json_schema
from assay.register.vocabulary import DataSourceCategory, Modality, SizeRange

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

# The strict loader (pure Python) and the one parse_disclosure uses (libyaml's parser with the same rules, when
# PyYAML has it); module attributes so that tests can run both.
_Loader = StrictLoader
_YAML_LOADER: type = FAST_LOADER


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
