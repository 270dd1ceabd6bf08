"""Verdict links people can share: what was found in which file, signed by the register, with no media stored.

A fact-checker who checked a picture sends a link instead of a screenshot of the verdict. The link carries the
file's SHA-256, the status found, the mark (if any) and the time of the check, and a MAC under a key derived
from the register's master key, so a link cannot be edited into another verdict ("marked" for a copied mark,
another file's hash, another mark) or made up: the register re-states only what it signed. Nothing is stored:
the link is the record. A reader re-checks by choosing the same file; its SHA-256 is compared with the link's.

    url = share_url(config.base_url, keys.master, status="marked", mark_id=mark, sha256=digest, at=now)
    shared = read_shared(keys.master, request.query_params)   # None: not a link this register made (or edited)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

__all__ = ["SharedVerdict", "read_shared", "share_url"]

_PATH = "/check/shared"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_AT = re.compile(r"^\d{8}T\d{4}Z$")
_STATUSES = ("marked", "marked_unrecorded", "mark_copied", "mark_unresolved", "credentials_only", "no_mark")


@dataclass(frozen=True)
class SharedVerdict:
    """What a valid link says: on ``checked_at`` (UTC) the register found ``status`` in the file ``sha256``."""

    status: str
    sha256: str
    mark_id: str | None
    checked_at: dt.datetime


def _key(master: bytes) -> bytes:
    return hmac.new(master, b"assay/verdict-link/v1", hashlib.sha256).digest()


def _mac(master: bytes, status: str, mark_id: str, sha256: str, at: str) -> str:
    msg = "\n".join(("v1", status, mark_id, sha256, at)).encode()
    return hmac.new(_key(master), msg, hashlib.sha256).hexdigest()[:32]


def share_url(base_url: str, master: bytes, *, status: str, mark_id: str | None, sha256: str, at: dt.datetime) -> str:
    """The link that re-states this verdict (absolute, on ``base_url``)."""
    stamp = at.astimezone(dt.UTC).strftime("%Y%m%dT%H%MZ")
    params = {"file": sha256, "found": status}
    if mark_id:
        params["mark"] = mark_id
    params |= {"at": stamp, "sig": _mac(master, status, mark_id or "", sha256, stamp)}
    return base_url.rstrip("/") + _PATH + "?" + urlencode(params)


def read_shared(master: bytes, params: dict[str, Any]) -> SharedVerdict | None:
    """The verdict a link states, or None when it is malformed, edited, or not this register's.

    1. every field has its exact form (hash, status, mark id, minute in UTC);
    2. the MAC over all of them verifies (constant time)."""
    # 1.
    sha, status, mark, at, sig = (str(params.get(k) or "") for k in ("file", "found", "mark", "at", "sig"))
    if not _HEX64.match(sha) or status not in _STATUSES or not _AT.match(at) or (mark and not _HEX16.match(mark)):
        return None
    # 2.
    if not hmac.compare_digest(sig.encode(), _mac(master, status, mark, sha, at).encode()):
        return None
    when = dt.datetime.strptime(at, "%Y%m%dT%H%MZ").replace(tzinfo=dt.UTC)
    return SharedVerdict(status=status, sha256=sha, mark_id=mark or None, checked_at=when)
