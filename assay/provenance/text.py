"""Text provenance in the register: systems' text watermark keys, their tokenizers, recorded generations.

A provider registers a text-generating system's tokenizer and gets its key (``assay text register``); its
generation servers load the key file and mark while they sample (``assay.textmark``); anyone can then check a
text (``assay check``, ``/check``, ``POST /api/v1/check``)::

    info = register_text_watermark(db, env, system_id="lindenholt-assistant", tokenizer_json=data, principal=p)
    key = export_text_key(db, env, system_id="lindenholt-assistant", principal=p)    # -> TextKey, secret
    record_texts(db, env, system_id="lindenholt-assistant", texts=[answer], principal=p)   # optional

Keys. A system's key number ``n`` has the secret ``HMAC-SHA256(master, "assay/system-text-key/v1" | system | 0 | n)``,
derived from the register's master key like the namespace keys of image marks (``assay.provenance.keys``),
under its own label: the database holds no secret, and only the system's own key is ever handed out (to its
provider). Issuing a new key (a new tokenizer, a leak) revokes the previous one; texts marked under a revoked
key still check, and the verdict says the key was revoked.

Records (the trade-off). A provider may record each generation (the SHA-256 of the normalised text, the
system, the time: :func:`record_texts`), or mark without records. With records, a check of the *exact* text
finds the record and its log entry even where the watermark is too weak (short or low-entropy answers), and
the log proves when the text existed; the costs are one log entry per text (a large chat service makes
millions a day) and a hash per answer in the register, which confirms a guessed text (a short answer can be
guessed). Without records, the watermark alone attributes the text: nothing per text is stored anywhere,
the log holds only the key's issuance, and an edited copy is still found (a hash is not). Assay supports
both; the key's issuance is logged either way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assay.db import Database
from assay.db.types import iso_z as _iso
from assay.db.types import utc_now as _now
from assay.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound, TooLarge
from assay.provenance.environment import ProvenanceEnv
from assay.provenance.textmodels import TextKeyRecord, TextRecord, TokenizerFile
from assay.register.access import Principal
from assay.register.service import SystemView, get_system
from assay.textmark import ALGORITHM, TextKey, TextTokenizer
from assay.textmark._keys import DEFAULT_CONTEXT_WIDTH, MAX_CONTEXT_WIDTH
from assay.transparency import record

__all__ = [
    "MAX_RECORDS",
    "TEXT_CAPABILITY",
    "KeyInfo",
    "export_text_key",
    "list_text_keys",
    "load_keyring",
    "may_mark_text",
    "normalise_text",
    "record_texts",
    "register_text_watermark",
    "revoke_text_key",
    "text_secret",
    "text_sha256",
]

TEXT_CAPABILITY = "synthetic_text"
MAX_RECORDS = 10_000
MAX_TEXT_CHARS = 1_000_000


def text_secret(master: bytes, system_id: str, number: int) -> bytes:
    """System ``system_id``'s text key number ``number``, derived from the register's master key."""
    # The same shape as image marks' per-system keys (keys.system_watermark_key), under its own label.
    msg = b"assay/system-text-key/v1" + system_id.encode() + b"\x00" + number.to_bytes(4, "big")
    return hmac.new(master, msg, hashlib.sha256).digest()


def normalise_text(text: str) -> str:
    """The form a text is hashed in: Unicode NFC, runs of white space as one space, trimmed."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def text_sha256(text: str) -> str:
    return hashlib.sha256(normalise_text(text).encode()).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    """Public facts about a text key (never the secret)."""

    key_id: str
    system_id: str
    provider_id: str
    number: int
    alg: str
    context_width: int
    tokenizer_sha256: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    log_index: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "system_id": self.system_id,
            "provider_id": self.provider_id,
            "number": self.number,
            "alg": self.alg,
            "context_width": self.context_width,
            "tokenizer_sha256": self.tokenizer_sha256,
            "created_at": _iso(self.created_at),
            "revoked_at": _iso(self.revoked_at) if self.revoked_at else None,
            "log_index": self.log_index,
        }


def _info(row: TextKeyRecord) -> KeyInfo:
    return KeyInfo(
        key_id=row.key_id,
        system_id=row.system_id,
        provider_id=row.provider_id,
        number=row.number,
        alg=row.alg,
        context_width=row.context_width,
        tokenizer_sha256=row.tokenizer_sha256,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        log_index=row.issued_log_index,
    )


def may_mark_text(system: SystemView) -> str | None:
    """Why ``system`` may not mark texts, or None when it may (the image rule, for the text capability)."""
    from assay.provenance.markcore import may_mark

    return may_mark(system, TEXT_CAPABILITY)


def _system_for(session: Session, system_id: str, principal: Principal, action: str) -> SystemView:
    system = get_system(session, system_id)
    if system is None:
        raise NotFound(
            f"there is no system {system_id!r} in the register",
            hint="give the id shown on the system's page, e.g. 'lindenholt-assistant'",
            problems=[FieldProblem("system_id", "unknown system", "use a registered system's id")],
        )
    principal.require_provider(system.provider_id, action=action)
    return system


def _check_may_mark(system: SystemView) -> None:
    why = may_mark_text(system)
    if why:
        hint = (
            f"add '{TEXT_CAPABILITY}' to the system's capabilities in a new version of its disclosure"
            if TEXT_CAPABILITY in why
            else "only registered generative systems in good standing may mark"
        )
        raise Forbidden(why, hint=hint, problems=[FieldProblem("system_id", why, hint)])


def _current(session: Session, system_id: str, *, lock: bool = False) -> TextKeyRecord | None:
    q = (
        select(TextKeyRecord)
        .where(TextKeyRecord.system_id == system_id, TextKeyRecord.revoked_at.is_(None))
        .order_by(TextKeyRecord.number.desc())
    )
    if lock:
        q = q.with_for_update()
    return session.scalars(q).first()


def register_text_watermark(
    db: Database,
    env: ProvenanceEnv,
    *,
    system_id: str,
    tokenizer_json: bytes,
    principal: Principal,
    context_width: int = DEFAULT_CONTEXT_WIDTH,
    now: dt.datetime | None = None,
) -> KeyInfo:
    """Register the tokenizer a text system generates with and issue its text key (revoking any previous one).

    The tokenizer is checked first (it must load); nothing is written for a bad one. Logged as
    ``text.key.issued`` (and ``text.key.revoked`` for a replaced key), in the same transaction.
    """
    if not 1 <= context_width <= MAX_CONTEXT_WIDTH:
        raise InvalidInput(
            f"context_width must be 1..{MAX_CONTEXT_WIDTH}, not {context_width}",
            hint=f"the default, {DEFAULT_CONTEXT_WIDTH}, suits most models",
            problems=[FieldProblem("context_width", "out of range", f"1..{MAX_CONTEXT_WIDTH}")],
        )
    with db.read() as session:
        _check_may_mark(_system_for(session, system_id, principal, "register text watermarks for systems"))
    tok = TextTokenizer.from_bytes(tokenizer_json)  # raises a clear error before anything is written
    now = now or _now()
    with db.write() as session:
        system = _system_for(session, system_id, principal, "register text watermarks for systems")
        _check_may_mark(system)
        if session.get(TokenizerFile, tok.sha256) is None:
            session.add(
                TokenizerFile(
                    sha256=tok.sha256,
                    size=len(tokenizer_json),
                    vocab_size=tok.vocab_size,
                    data=tokenizer_json,
                    created_at=now,
                )
            )
        old = _current(session, system_id, lock=True)
        if old is not None:
            _revoke(session, old, "replaced by a new text key", now)
        number = (
            session.scalar(select(func.max(TextKeyRecord.number)).where(TextKeyRecord.system_id == system_id)) or 0
        ) + 1
        key = TextKey(text_secret(env.keys.master, system_id, number), context_width=context_width)
        row = TextKeyRecord(
            key_id=key.key_id,
            system_id=system_id,
            provider_id=system.provider_id,
            number=number,
            alg=ALGORITHM,
            context_width=context_width,
            tokenizer_sha256=tok.sha256,
            created_at=now,
            revoked_reason="",
        )
        session.add(row)
        session.flush()
        row.issued_log_index = record(
            session,
            "text.key.issued",
            {
                "provider": system.provider_id,
                "system": system_id,
                "key_id": key.key_id,
                "number": number,
                "alg": ALGORITHM,
                "context_width": context_width,
                "tokenizer_sha256": tok.sha256,
            },
        )
        return _info(row)


def _revoke(session: Session, row: TextKeyRecord, reason: str, now: dt.datetime) -> None:
    row.revoked_at = now
    row.revoked_reason = (reason or "revoked")[:300]
    row.revoked_log_index = record(
        session,
        "text.key.revoked",
        {"provider": row.provider_id, "system": row.system_id, "key_id": row.key_id, "revoked_at": _iso(now)},
    )


def revoke_text_key(
    db: Database, *, system_id: str, principal: Principal, reason: str = "", now: dt.datetime | None = None
) -> KeyInfo:
    """Revoke the system's current text key (after a leak): no key is current until a new one is issued."""
    now = now or _now()
    with db.write() as session:
        _system_for(session, system_id, principal, "revoke text keys")
        row = _current(session, system_id, lock=True)
        if row is None:
            raise Conflict(f"system {system_id!r} has no current text key", hint="see 'assay text key list'")
        _revoke(session, row, reason, now)
        return _info(row)


def export_text_key(db: Database, env: ProvenanceEnv, *, system_id: str, principal: Principal) -> TextKey:
    """The system's current text key, secret included: for its provider's generation servers only."""
    with db.read() as session:
        system = _system_for(session, system_id, principal, "export text keys")
        _check_may_mark(system)
        row = _current(session, system_id)
        if row is None:
            raise NotFound(
                f"system {system_id!r} has no text key yet",
                hint="register its tokenizer first: assay text register --system ID --tokenizer MODEL_FOLDER",
            )
        return _key_of(env.keys.master, row)


def _key_of(master: bytes, row: TextKeyRecord) -> TextKey:
    key = TextKey(
        text_secret(master, row.system_id, row.number),
        context_width=row.context_width,
        system_id=row.system_id,
        tokenizer_sha256=row.tokenizer_sha256,
    )
    if key.key_id != row.key_id:  # a different master key than the one the key was issued under
        raise Conflict(
            f"text key {row.key_id} does not derive from this register's master key",
            hint="restore the register's keys folder from the backup made with this database",
        )
    return key


def list_text_keys(session: Session, *, system_id: str | None = None) -> list[KeyInfo]:
    q = select(TextKeyRecord).order_by(TextKeyRecord.system_id, TextKeyRecord.number)
    if system_id:
        q = q.where(TextKeyRecord.system_id == system_id)
    return [_info(r) for r in session.scalars(q)]


@dataclass(frozen=True)
class Keyring:
    """Every text key of the register, grouped by tokenizer (detection tokenises once per tokenizer)."""

    groups: tuple[tuple[TextTokenizer, tuple[TextKey, ...]], ...]
    info: dict[str, KeyInfo]

    @property
    def size(self) -> int:
        return sum(len(keys) for _, keys in self.groups)


def load_keyring(db: Database, master: bytes | None) -> Keyring:
    """All text keys (revoked ones too: their texts still check) with their tokenizers, from the register's
    master key (None on a register without keys: an empty ring). Secrets in memory only."""
    if master is None:
        return Keyring((), {})
    with db.read() as session:
        rows = list(session.scalars(select(TextKeyRecord).order_by(TextKeyRecord.key_id)))
        by_tok: dict[str, list[TextKey]] = {}
        for r in rows:
            by_tok.setdefault(r.tokenizer_sha256, []).append(_key_of(master, r))
        groups = []
        for sha, keys in by_tok.items():
            data = session.scalar(select(TokenizerFile.data).where(TokenizerFile.sha256 == sha))
            if data is None:  # the foreign key makes this impossible; fail closed, not with a TypeError
                raise NotFound(f"the tokenizer {sha[:12]}... of a text key is missing", hint="register it again")
            groups.append((TextTokenizer.from_bytes(bytes(data)), tuple(keys)))
        return Keyring(tuple(groups), {r.key_id: _info(r) for r in rows})


def keyring_stamp(session: Session) -> tuple[Any, ...]:
    """Changes whenever a text key is issued or revoked (so a cached key ring knows it is stale)."""
    return tuple(
        session.execute(
            select(func.count(), func.max(TextKeyRecord.created_at), func.max(TextKeyRecord.revoked_at))
        ).one()
    )


def record_texts(
    db: Database,
    env: ProvenanceEnv,
    *,
    system_id: str,
    texts: Sequence[str] = (),
    sha256s: Sequence[str] = (),
    principal: Principal,
    created_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Record generations of a system (by text, hashed here, or by the SHA-256 of the normalised text).

    All-or-nothing; one ``text.recorded`` log entry each. Token counts are taken with the system's tokenizer
    when the text is given (0 when only the hash is)."""
    items: list[tuple[str, int]] = []
    if not texts and not sha256s:
        raise InvalidInput("no texts to record", hint="give at least one text or SHA-256")
    if len(texts) + len(sha256s) > MAX_RECORDS:
        raise TooLarge(f"at most {MAX_RECORDS:,} texts in one call", hint="record in smaller batches")
    now = now or _now()
    created = created_at or now
    with db.read() as session:
        system = _system_for(session, system_id, principal, "record texts for systems")
        _check_may_mark(system)
        row = _current(session, system_id)
        if row is None:
            raise NotFound(f"system {system_id!r} has no text key", hint="register its tokenizer first")
        data = session.scalar(select(TokenizerFile.data).where(TokenizerFile.sha256 == row.tokenizer_sha256))
    if data is None:
        raise NotFound(f"system {system_id!r}'s tokenizer is missing", hint="register its tokenizer again")
    tok = TextTokenizer.from_bytes(bytes(data))
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise InvalidInput(f"text {i + 1} is empty", problems=[FieldProblem(f"texts[{i}]", "empty", "")])
        if len(t) > MAX_TEXT_CHARS:
            raise TooLarge(f"text {i + 1} is over {MAX_TEXT_CHARS:,} characters", hint="record shorter texts")
        items.append((text_sha256(t), int(tok.encode(normalise_text(t)).size)))
    for i, h in enumerate(sha256s):
        h = str(h).strip().lower()
        if len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
            raise InvalidInput(
                f"sha256 {i + 1} is not 64 hexadecimal digits",
                hint="hash the normalised text (NFC, white space collapsed) with SHA-256",
                problems=[FieldProblem(f"sha256s[{i}]", "not a SHA-256", "64 lower-case hex digits")],
            )
        items.append((h, 0))
    out = []
    with db.write() as session:
        system = _system_for(session, system_id, principal, "record texts for systems")
        _check_may_mark(system)
        key = _current(session, system_id)
        if key is None:
            raise NotFound(f"system {system_id!r} has no text key", hint="register its tokenizer first")
        for sha, tokens in items:
            rec = TextRecord(
                sha256=sha,
                system_id=system_id,
                system_version_number=system.version_number,
                provider_id=system.provider_id,
                key_id=key.key_id,
                tokens=tokens,
                created_at=created,
                recorded_at=now,
                recorded_by_token=principal.actor_token_id,
            )
            session.add(rec)
            session.flush()
            rec.log_index = record(
                session,
                "text.recorded",
                {
                    "record": rec.id,
                    "system": system_id,
                    "system_version": system.version_number,
                    "provider": system.provider_id,
                    "key_id": key.key_id,
                    "sha256": sha,
                    "tokens": tokens,
                    "created_at": _iso(created),
                },
            )
            out.append({"record": rec.id, "sha256": sha, "tokens": tokens, "log_index": rec.log_index})
    return out


def find_records(session: Session, sha256: str) -> list[TextRecord]:
    return list(session.scalars(select(TextRecord).where(TextRecord.sha256 == sha256).order_by(TextRecord.id)))
