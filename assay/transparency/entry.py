"""The log's entry format: one canonical, versioned JSON object per register event or mark.

An entry is the UTF-8 bytes of::

    {"body":{...},"kind":"system.published","time":"2026-11-29T10:00:00Z","v":1}

serialised canonically (keys sorted, no whitespace, no floats, ``ensure_ascii=False``), so that the same event
always gives the same bytes and anyone can recompute its leaf hash. Bodies carry ids, versions, hashes and
times only: :func:`encode_entry` refuses values that look like personal data or secrets (an e-mail or IP
address, a phone number, a PEM key, a field named like ``email`` or ``password``) and entries larger than
:data:`MAX_ENTRY_BYTES`, naming the offending field. Nothing here touches the database.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from assay.errors import FieldProblem, InvalidInput, TooLarge

__all__ = ["ENTRY_VERSION", "KINDS", "MAX_ENTRY_BYTES", "decode_entry", "encode_entry"]

ENTRY_VERSION = 1

# The kinds of event the register writes (fixed by the contract between Assay's parts).
KINDS: frozenset[str] = frozenset(
    {
        "system.published",
        "system.updated",
        "system.finding",
        "system.suspended",
        "system.reinstated",
        "system.deployer.confirmed",
        "system.deployer.denied",
        "system.rescreened",
        "provider.registered",
        "token.issued",
        "token.revoked",
        "provider.key.issued",
        "provider.key.revoked",
        "provider.certificate.issued",
        "provider.certificate.revoked",
        "mark.recorded",
        "text.key.issued",
        "text.key.revoked",
        "text.recorded",
        "complaints.key.published",
        "complaints.key.rotated",
    }
)

# Entry bundles prefix each entry with a big-endian uint16 length, so 65,535 is the hard ceiling; 16 KiB
# keeps tiles small and is far more than ids, versions and hashes need.
MAX_ENTRY_BYTES = 16 * 1024
_MAX_DEPTH = 8
_MAX_INT = 2**64  # ids such as a 64-bit watermark payload must fit; beyond that a string is the honest type
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")

# Field names that only ever hold personal data or secrets; a body must carry an id or a hash instead.
_FORBIDDEN_KEYS = frozenset(
    {
        "email",
        "e_mail",
        "mail",
        "phone",
        "phone_number",
        "telephone",
        "mobile",
        "address",
        "street",
        "postcode",
        "zip",
        "ip",
        "ip_address",
        "ipaddress",
        "remote_addr",
        "client_ip",
        "user_agent",
        "password",
        "passphrase",
        "secret",
        "private_key",
        "privatekey",
        "token",
        "api_key",
        "apikey",
        "birthdate",
        "date_of_birth",
        "dob",
        "ssn",
        "national_id",
        "passport",
        "first_name",
        "last_name",
        "full_name",
        "surname",
        "given_name",
        "complainant",
        "complaint_text",
        "message_text",
    }
)
_EMAIL = re.compile(r"[^@\s<>\"']+@[^@\s<>\"']+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"^\+?\(?\d[\d\s().\-]{7,}\d$")
_PEM = re.compile(r"-----BEGIN [A-Z ]*(PRIVATE KEY|SECRET)")
_TOKENISH = re.compile(r"^(ast|sk|pk|ghp|xox[abp])_[A-Za-z0-9_\-]{16,}$")
_IPV4ISH = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_IPV6ISH = re.compile(r"^[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*$")


def encode_entry(kind: str, body: Mapping[str, Any], *, time: datetime) -> bytes:
    """The canonical bytes of an entry, or :class:`InvalidInput`/:class:`TooLarge` naming what is wrong."""
    if kind not in KINDS:
        raise InvalidInput(
            f"unknown log entry kind {kind!r}",
            hint="use one of: " + ", ".join(sorted(KINDS)),
            problems=[FieldProblem("kind", "not a known kind", "use one of the documented kinds")],
        )
    if not isinstance(body, Mapping):
        raise InvalidInput(
            f"a log entry body must be a mapping, got {type(body).__name__}",
            hint="pass a dict of ids, versions, hashes and times",
        )
    if time.tzinfo is None:
        raise InvalidInput("a log entry time must be timezone-aware", hint="pass datetime.now(UTC)")
    problems: list[FieldProblem] = []
    clean = _check_value(dict(body), "body", 0, problems)
    if problems:
        raise InvalidInput(
            f"the {kind} log entry body is not allowed: {problems[0].path}: {problems[0].message}",
            hint="a log entry carries only ids, versions, hashes and times; never personal data or secrets",
            problems=problems,
        )
    entry = {
        "v": ENTRY_VERSION,
        "kind": kind,
        "time": time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "body": clean,
    }
    data = canonical_json(entry)
    if len(data) > MAX_ENTRY_BYTES:
        raise TooLarge(
            f"the {kind} log entry is {len(data)} bytes, over the limit of {MAX_ENTRY_BYTES} bytes",
            hint="log a hash of large content instead of the content itself",
            problems=[FieldProblem("body", f"{len(data)} bytes when encoded", f"at most {MAX_ENTRY_BYTES} bytes")],
        )
    return data


def canonical_json(value: Any) -> bytes:
    # Sorted keys, no whitespace, no floats: the same value always serialises to the same bytes.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def decode_entry(data: bytes) -> dict[str, Any]:
    """Parse entry bytes back into ``{"v", "kind", "time", "body"}``; strict, for auditors and the web pages."""
    if len(data) > MAX_ENTRY_BYTES:
        raise InvalidInput(
            f"the log entry is {len(data)} bytes, over the limit of {MAX_ENTRY_BYTES} bytes",
            hint="Assay never records entries this large: this entry was not written by an Assay register",
        )
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"the log entry is not UTF-8 JSON: {exc}", hint="entries are canonical JSON") from None
    if not isinstance(value, dict) or set(value) != {"v", "kind", "time", "body"}:
        raise InvalidInput(
            "the log entry is not an object with exactly the fields v, kind, time and body",
            hint="this entry was not written by Assay's entry format version 1",
        )
    if value["v"] != ENTRY_VERSION:
        raise InvalidInput(f"unsupported log entry version {value['v']!r}", hint="upgrade Assay to read it")
    if canonical_json(value) != bytes(data):
        raise InvalidInput("the log entry is not in canonical form", hint="entries are canonical JSON")
    return value


def _check_value(value: Any, path: str, depth: int, problems: list[FieldProblem]) -> Any:
    if depth > _MAX_DEPTH:
        problems.append(FieldProblem(path, f"nested deeper than {_MAX_DEPTH} levels", "flatten the body"))
        return None
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -_MAX_INT < value < _MAX_INT:
            problems.append(FieldProblem(path, "integer outside the 64-bit range", "log it as a decimal string"))
        return value
    if isinstance(value, float):
        problems.append(
            FieldProblem(path, "floating-point numbers have no canonical form", "log an integer or a string")
        )
        return None
    if isinstance(value, str):
        _check_string(value, path, problems)
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            where = f"{path}.{key}"
            if not isinstance(key, str) or not _KEY.match(key):
                problems.append(
                    FieldProblem(
                        where,
                        "field names are letters, digits, '_', '.', '-' (at most 64)",
                        "rename the field",
                    )
                )
                continue
            if key.lower().replace("-", "_") in _FORBIDDEN_KEYS:
                problems.append(
                    FieldProblem(
                        where,
                        "this field name is for personal data or a secret",
                        "log an id or a hash instead",
                    )
                )
                continue
            out[key] = _check_value(item, where, depth + 1, problems)
        return out
    if isinstance(value, (list, tuple)):
        return [_check_value(item, f"{path}[{i}]", depth + 1, problems) for i, item in enumerate(value)]
    problems.append(
        FieldProblem(
            path,
            f"values of type {type(value).__name__} cannot be logged",
            "convert it to a string, an integer or a list",
        )
    )
    return None


def _check_string(value: str, path: str, problems: list[FieldProblem]) -> None:
    # Cheap character tests first: recording is on every write path, and most values are ids and hex hashes.
    if "\x00" in value:
        problems.append(FieldProblem(path, "contains a NUL character", "remove it"))
    elif not value.isascii() and not _is_utf8_encodable(value):
        problems.append(FieldProblem(path, "contains a lone surrogate, which UTF-8 cannot encode", "remove it"))
    elif "@" in value and _EMAIL.search(value):
        problems.append(FieldProblem(path, "looks like an e-mail address", "log an id or a hash instead"))
    elif "-----" in value and _PEM.search(value):
        problems.append(FieldProblem(path, "looks like a private key", "never log secrets; log a key id"))
    elif "_" in value and _TOKENISH.match(value):
        problems.append(FieldProblem(path, "looks like an API token", "never log secrets; log the token id"))
    elif len(value) <= 45 and _looks_like_ip(value) and "version" not in path.rsplit(".", 1)[-1].lower():
        # A four-part version number ("1.2.3.4") reads like an IPv4 address; fields named *version* are exempt.
        problems.append(FieldProblem(path, "looks like an IP address", "never log addresses"))
    elif value.startswith("+") and _PHONE.match(value):
        problems.append(FieldProblem(path, "looks like a phone number", "log an id instead"))


def _is_utf8_encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _looks_like_ip(value: str) -> bool:
    if not (_IPV4ISH.match(value) or _IPV6ISH.match(value)):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
