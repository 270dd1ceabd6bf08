"""Verify a verdict offline: the register's answer is backed by its own transparency log.

A verdict that names a system carries the mark record's log entry and a C2SP tlog-proof of it. Anyone with
the log's verifier key (published at ``/log/key`` and in docs; ideally obtained some other way than from the
register being checked) can confirm, without trusting the register's web server, that the mark was recorded
on the log, and recorded for the very system, provider and file the verdict names::

    import httpx
    from assay.provenance import verify_verdict

    verdict = httpx.post("https://register.example/api/v1/check", content=open("a.jpg", "rb").read()).json()
    inclusion = verify_verdict(verdict, log_key="register.example/log+1b2c3d4e+AbCd...")
    print(inclusion.origin, inclusion.tree_size, inclusion.body["system"])

:func:`verify_verdict` raises :class:`~assay.errors.VerificationError` at the first step that fails (it
fails closed: a missing proof is a failure, never a pass).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assay.errors import AssayError, VerificationError

__all__ = ["LogInclusion", "verify_logged_entry", "verify_verdict"]

# The statuses whose verdict rests on a mark record (and so must carry its log entry).
_RECORDED = ("marked",)


@dataclass(frozen=True)
class LogInclusion:
    """What a verified verdict proves: the entry at ``index`` of the log ``origin`` (a tree of ``tree_size``
    entries signed by the key given) is the mark record whose logged facts are ``body``."""

    index: int
    origin: str
    tree_size: int
    body: Mapping[str, Any]


def verify_verdict(
    verdict: Any,
    *,
    log_key: str,
    witness_keys: Sequence[str] = (),
    min_witnesses: int = 0,
) -> LogInclusion:
    """Verify a verdict's transparency-log evidence (a :class:`~assay.provenance.Verdict` or its JSON form,
    e.g. the body of ``POST /api/v1/check``) against the log's verifier key ``log_key``.

    1. the verdict carries a log entry and its proof (a verdict naming a recorded mark without them fails);
    2. the proof verifies offline: the checkpoint is signed by ``log_key`` (and cosigned by at least
       ``min_witnesses`` of ``witness_keys``), and the entry is included in the tree it commits to;
    3. the entry is a canonical Assay log entry of kind ``mark.recorded``;
    4. the logged mark is the verdict's mark id;
    5. every system, provider, file hash and watermark key the verdict shows is the logged one (a register
       cannot name another system, file or key than the one it logged).
    """
    v = verdict.as_dict() if hasattr(verdict, "as_dict") else verdict
    if not isinstance(v, Mapping):
        raise VerificationError("the verdict is not a verdict object", hint="pass a Verdict or its JSON form")
    # 1.
    log = v.get("log")
    if not isinstance(log, Mapping):
        if v.get("status") not in _RECORDED:
            raise VerificationError(
                f"the verdict ({v.get('status')!r}) names no recorded mark, so it has no log entry to verify",
                hint="only verdicts that name a system carry a log entry",
            )
        raise VerificationError(
            "the register gave no transparency-log entry for this mark",
            hint="every recorded mark is logged in the same transaction: the register answered inconsistently",
        )
    # 2. and 3.
    checkpoint, _, body = verify_logged_entry(
        log,
        log_key=log_key,
        kinds=("mark.recorded",),
        what="a mark record",
        witness_keys=witness_keys,
        min_witnesses=min_witnesses,
    )
    # 4.
    if body.get("mark") != v.get("mark_id"):
        raise VerificationError("the log entry is not this mark's", hint="the register answered inconsistently")
    # 5.
    watermark = ((v.get("evidence") or {}).get("watermark") or {}) if v.get("mark_source") == "watermark" else {}
    claims = {
        "system": (v.get("system") or {}).get("id") or (v.get("record") or {}).get("system_id"),
        "provider": (v.get("provider") or {}).get("id") or (v.get("record") or {}).get("provider_id"),
        "sha256": (v.get("record") or {}).get("sha256"),
        # The key that found the watermark must be the one the mark was recorded with (logged since keys per
        # system; legacy entries log none).
        "key_id": watermark.get("key_id") if "key_id" in body else None,
    }
    for name, claimed in claims.items():
        if claimed is not None and body.get(name) != claimed:
            raise VerificationError(
                f"the register says {name} {claimed!r}, its log entry says {body.get(name)!r}",
                hint="the register answered inconsistently with its own log",
            )
    return LogInclusion(index=int(log.get("index", -1)), origin=checkpoint.origin, tree_size=checkpoint.size, body=body)


def verify_logged_entry(
    log: Mapping[str, Any],
    *,
    log_key: str,
    kinds: Sequence[str],
    what: str,
    witness_keys: Sequence[str] = (),
    min_witnesses: int = 0,
) -> tuple[Any, str, dict[str, Any]]:
    """The steps every verdict's log evidence takes (``log``: its ``{"entry", "proof", ...}``), image or text:
    the entry and its tlog-proof are there; the proof verifies against ``log_key`` (and the witnesses); the entry
    is a canonical Assay entry of one of ``kinds`` (``what`` names them in the error). Returns the checkpoint, the
    entry's kind and its body; raises VerificationError at the first step that fails."""
    from assay.tlog import verify_proof
    from assay.transparency import decode_entry

    if not (log.get("proof") and log.get("entry")):
        raise VerificationError(
            str(log.get("proof_error") or "the log has not integrated this entry yet"),
            hint="check again in a moment",
        )
    try:
        entry = base64.b64decode(str(log["entry"]), validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError("the verdict's log entry is not base64", hint="pass the verdict unchanged") from None
    try:
        checkpoint = verify_proof(
            str(log["proof"]), entry, log_key, witness_keys=list(witness_keys), min_witnesses=min_witnesses
        )
    except VerificationError:
        raise
    except AssayError as exc:  # a malformed proof or key
        raise VerificationError(exc.message, hint=exc.hint) from None
    try:
        decoded = decode_entry(entry)
    except AssayError as exc:
        raise VerificationError(f"the log entry is not an Assay entry: {exc.message}", hint=exc.hint) from None
    kind = decoded.get("kind")
    if kind not in kinds:
        raise VerificationError(
            f"the log entry is a {kind!r} entry, not {what}", hint="the register answered inconsistently"
        )
    return checkpoint, str(kind), decoded.get("body") or {}
