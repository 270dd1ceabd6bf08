"""This register as a C2SP tlog-witness for other logs (e.g. other registers), and its cosigning key.

A witness keeps, for each log it is told to trust (origin and verifier keys), the latest checkpoint it
cosigned, and cosigns a new one only if it is consistent with that (https://c2sp.org/tlog-witness). The
answer of :func:`add_checkpoint` follows the specification's status codes:

- 400 malformed request, or old size larger than the checkpoint's;
- 403 no valid signature by a trusted key of that log (or a bad one);
- 404 unknown origin;
- 409 old size is not the size last cosigned (body: that size, ``text/x.tlog.size``);
- 422 a size-0 checkpoint without the empty root, or a consistency proof that does not verify;
- 200 the cosignature line(s).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from assay.config import Config
from assay.db import Database
from assay.errors import ConfigError, InvalidInput, VerificationError
from assay.files import create_once
from assay.tlog import (
    EMPTY_ROOT,
    AddCheckpointRequest,
    Checkpoint,
    CosignatureSigner,
    open_note,
    parse_note,
    parse_vkey,
    verify_consistency,
)
from assay.transparency.models import WitnessedLog

__all__ = [
    "WitnessAnswer",
    "add_checkpoint",
    "list_logs",
    "load_or_create_witness_key",
    "trust_log",
    "witness_checkpoint",
]

WITNESS_KEY = Path("keys") / "witness.key"


@dataclass(frozen=True)
class WitnessAnswer:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


def witness_name(config: Config) -> str:
    return config.resolved_log_origin.rsplit("/log", 1)[0] + "/witness"


def load_or_create_witness_key(config: Config) -> CosignatureSigner:
    """The register's cosigning key, created on first use in ``<data-dir>/keys/witness.key`` (mode 0600)."""
    path = config.data_dir / WITNESS_KEY
    if not path.exists():  # the first process to create it wins; everyone uses that key
        create_once(path, (CosignatureSigner.generate(witness_name(config)).to_text() + "\n").encode())
    try:
        return CosignatureSigner.from_text(path.read_text())
    except (InvalidInput, OSError) as exc:
        raise ConfigError(f"the witness key {path} is unreadable: {exc}", hint="restore it from your backup") from None


def trust_log(db: Database, vkey: str, *, origin: str | None = None) -> WitnessedLog:
    """Start witnessing the log whose checkpoints ``vkey`` signs (origin: the key's name unless given)."""
    verifier = parse_vkey(vkey)
    if getattr(verifier, "alg", 1) != 1:
        raise InvalidInput("a log's key must be an Ed25519 note key (type 0x01)", hint="use the log's /log/vkey")
    origin = origin or verifier.name
    with db.write() as s:
        row = s.get(WitnessedLog, origin)
        if row is None:
            row = WitnessedLog(
                origin=origin, vkeys=vkey.strip(), size=0, root_hash=EMPTY_ROOT, checkpoint="", updated_at=None
            )
            s.add(row)
        elif vkey.strip() not in row.vkeys.split("\n"):
            row.vkeys = row.vkeys + "\n" + vkey.strip()
        s.flush()
        s.expunge(row)
    return row


def list_logs(db: Database) -> list[dict[str, object]]:
    with db.read() as s:
        rows = s.execute(select(WitnessedLog).order_by(WitnessedLog.origin)).scalars().all()
        return [
            {
                "origin": r.origin,
                "vkeys": r.vkeys.split("\n"),
                "size": r.size,
                "updated_at": r.updated_at.isoformat() if r.updated_at else None,
            }
            for r in rows
        ]


def witness_checkpoint(db: Database, origin_hash: str) -> str | None:
    """The latest checkpoint cosigned for the log whose origin hashes (SHA-256, hex) to ``origin_hash``."""
    with db.read() as s:
        for origin, checkpoint in s.execute(select(WitnessedLog.origin, WitnessedLog.checkpoint)):
            if hashlib.sha256(origin.encode()).hexdigest() == origin_hash and checkpoint:
                return checkpoint
    return None


def add_checkpoint(
    db: Database, signer: CosignatureSigner, body: bytes, *, clock: Callable[[], float] = time.time
) -> WitnessAnswer:
    """Handle one add-checkpoint request (steps as numbered in the specification's order)."""
    # 1. Parse the request and the checkpoint's note (400 when malformed).
    try:
        request = AddCheckpointRequest.parse(body)
        note = parse_note(request.checkpoint)
    except InvalidInput as exc:
        return WitnessAnswer(400, exc.message + "\n")
    origin = note.text.split("\n", 1)[0]
    with db.write() as s:
        # 2. The origin must be a log we witness (404). The row is locked until we answer (PostgreSQL
        #    FOR UPDATE; SQLite's single writer): checking the old size and storing the new state are atomic.
        query = select(WitnessedLog).where(WitnessedLog.origin == origin).with_for_update()
        row = s.execute(query).scalar_one_or_none()
        if row is None:
            return WitnessAnswer(404, f"this witness does not witness {origin}\n")
        # 3. A valid signature by one of the log's keys (403).
        try:
            open_note(request.checkpoint, [parse_vkey(k) for k in row.vkeys.split("\n") if k])
        except (VerificationError, InvalidInput) as exc:
            return WitnessAnswer(403, exc.message + "\n")
        # 4. A well-formed checkpoint (400); size 0 needs the empty tree's root (422).
        try:
            checkpoint = Checkpoint.parse(note.text)
        except InvalidInput as exc:
            lines = note.text.split("\n")
            if len(lines) > 2 and lines[1] == "0":
                return WitnessAnswer(422, "a checkpoint of size 0 must carry the empty tree's root hash\n")
            return WitnessAnswer(400, exc.message + "\n")
        if request.old_size > checkpoint.size:
            return WitnessAnswer(400, f"old size {request.old_size} is larger than the checkpoint's size\n")
        # 5. The old size must be the one we last cosigned (409, with that size).
        if request.old_size != row.size:
            return WitnessAnswer(409, f"{row.size}\n", "text/x.tlog.size")
        # 6. Consistency with what we cosigned before (422).
        if request.old_size == 0:
            if request.proof:
                return WitnessAnswer(422, "the consistency proof from size 0 must be empty\n")
        else:
            try:
                verify_consistency(
                    request.old_size, checkpoint.size, bytes(row.root_hash), checkpoint.root_hash, list(request.proof)
                )
            except VerificationError as exc:
                return WitnessAnswer(422, exc.message + "\n")
        # 7. Cosign, remember (the checkpoint with our cosignature, for monitors) and answer.
        timestamp = int(clock())
        cosignature = signer.cosign(note.text, timestamp)
        row.size = checkpoint.size
        row.root_hash = checkpoint.root_hash
        row.checkpoint = request.checkpoint + cosignature.line()
        row.updated_at = datetime.now(UTC)
    return WitnessAnswer(200, cosignature.line())
