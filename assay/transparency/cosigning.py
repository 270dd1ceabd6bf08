"""Collecting witness cosignatures for this log's checkpoints (client side of https://c2sp.org/tlog-witness).

After the integrator publishes a checkpoint (signed by the log alone), :meth:`Cosigning.collect` sends it to
each witness of ``ASSAY_LOG_WITNESSES``: ``POST <url>`` with ``old <size>`` (the size the witness last
cosigned for us), the consistency proof from that size, a blank line and the checkpoint. On 200 every
returned line must verify with the witness's vkey against that very checkpoint before it is stored; on 409
the witness's own size (``text/x.tlog.size``) is read and the request retried once from there. Failures
(down, timeouts, other statuses, bad cosignatures) are logged and retried later with back-off: they never
fail the integration, and the log keeps publishing with its own signature.

:meth:`Cosigning.note` is what the log serves: the published checkpoint with the stored cosignatures that
verify against it appended (a cosignature for another tree size is never served).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import select

from assay.db import Database
from assay.errors import AssayError, InvalidInput, VerificationError
from assay.tlog import (
    AddCheckpointRequest,
    CosignatureVerifier,
    TileCache,
    TileID,
    TileReader,
    consistency_proof,
    open_note,
    parse_note,
    parse_vkey,
)
from assay.tlog._note import MAX_SIGNATURES
from assay.transparency.models import WitnessCosignature
from assay.transparency.reading import Head, read_published_tile

if TYPE_CHECKING:
    from assay.transparency.storage import LogStorage

log = logging.getLogger("assay.transparency.cosigning")

TIMEOUT = 5.0  # seconds, per request
MAX_ANSWER_BYTES = 64 * 1024
MAX_BACKOFF = 300.0  # seconds between attempts at a failing witness, at most
_SIZE = re.compile(r"(0|[1-9][0-9]{0,19})\n?")


@dataclass(frozen=True)
class Witness:
    url: str
    verifier: CosignatureVerifier

    @property
    def vkey(self) -> str:
        return self.verifier.vkey


class WitnessFailed(AssayError):
    code = "witness_failed"


class Cosigning:
    """The witnesses of one log, and their cosignatures. ``http`` is any ``httpx.Client`` (tests route it
    to another app in-process); by default one with a :data:`TIMEOUT` is made on first use."""

    def __init__(
        self,
        db: Database,
        storage: LogStorage,
        witnesses: list[tuple[str, str]],
        *,
        http: httpx.Client | None = None,
        timeout: float = TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.storage = storage
        self.witnesses = [Witness(url, _cosignature_verifier(vkey)) for url, vkey in witnesses]
        self.http = http
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()  # one collection at a time in this process
        self._retry_at: dict[str, tuple[int, float]] = {}  # vkey -> (failures, clock time of the next try)
        self._tiles = TileCache(256)

    # -- serving -----------------------------------------------------------------------------------------

    def note(self, head: Head) -> str:
        """The head's checkpoint with every stored cosignature that verifies against it appended."""
        if not head.checkpoint or not self.witnesses:
            return head.checkpoint
        by_key = {w.vkey: w for w in self.witnesses}
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(WitnessCosignature.vkey, WitnessCosignature.cosignature).where(
                    WitnessCosignature.vkey.in_(list(by_key)), WitnessCosignature.size == head.size
                )
            ).all()
        lines: list[str] = []
        room = MAX_SIGNATURES - len(parse_note(head.checkpoint).signatures)  # what signed-note clients accept
        for vkey, cosignature in sorted(rows):
            # Verified again here, against the very checkpoint served: never a cosignature of another one.
            verified = _verified_lines(head.checkpoint, cosignature, by_key[vkey].verifier)
            if verified and len(lines) < room:
                lines.append(verified)
        return head.checkpoint + "".join(lines)

    # -- collecting --------------------------------------------------------------------------------------

    def collect(self, head: Head, *, force: bool = False) -> int:
        """Ask every witness that has not cosigned ``head`` yet (and is not backing off, unless ``force``)
        to cosign it; returns how many did. Never raises: failures are logged."""
        if not head.checkpoint or not self.witnesses:
            return 0
        if not self._lock.acquire(blocking=force):
            return 0  # another thread is collecting right now
        try:
            done = 0
            sizes = self._sizes()
            for witness in self.witnesses:
                size, cosigned = sizes.get(witness.vkey, (0, False))
                if size > head.size or (size == head.size and cosigned):
                    continue
                failures, retry_at = self._retry_at.get(witness.vkey, (0, 0.0))
                if not force and self._clock() < retry_at:
                    continue
                try:
                    self._collect_one(witness, head, size)
                except Exception as exc:  # noqa: BLE001 - a witness must never break the log
                    failures += 1
                    delay = min(MAX_BACKOFF, 2.0**failures)
                    self._retry_at[witness.vkey] = (failures, self._clock() + delay)
                    message = exc.message if isinstance(exc, AssayError) else f"{type(exc).__name__}: {exc}"
                    log.warning(
                        "transparency log: witness %s did not cosign size %d (attempt %d, next in %.0f s): %s",
                        witness.url,
                        head.size,
                        failures,
                        delay,
                        message,
                    )
                else:
                    self._retry_at.pop(witness.vkey, None)
                    done += 1
            return done
        finally:
            self._lock.release()

    def _sizes(self) -> dict[str, tuple[int, bool]]:
        with self.db.read() as s:
            return {
                vkey: (int(size), bool(cosignature))
                for vkey, size, cosignature in s.execute(
                    select(WitnessCosignature.vkey, WitnessCosignature.size, WitnessCosignature.cosignature)
                )
            }

    def _collect_one(self, witness: Witness, head: Head, old: int) -> None:
        for attempt in (1, 2):
            status, content_type, body = self._post(witness, head, old)
            if status == 409 and attempt == 1:
                old = _parse_size(body, content_type, witness)
                if old > head.size:
                    raise WitnessFailed(
                        f"the witness has cosigned {old} entries, more than this checkpoint's {head.size}",
                        hint="it will be asked again with the next checkpoint",
                    )
                continue
            if status != 200:
                text = body[:200].decode("utf-8", "replace").strip()
                raise WitnessFailed(f"the witness answered {status}: {text}", hint="")
            break
        try:
            lines = _verified_lines(head.checkpoint, body.decode("utf-8"), witness.verifier, strict=True)
        except (UnicodeDecodeError, InvalidInput, VerificationError) as exc:
            what = exc.message if isinstance(exc, AssayError) else "not UTF-8"
            raise WitnessFailed(f"the witness's answer is not a valid cosignature: {what}", hint="") from None
        self._store(witness.vkey, head.size, lines)
        log.info("transparency log: witness %s cosigned size %d", witness.url, head.size)

    def _post(self, witness: Witness, head: Head, old: int) -> tuple[int, str, bytes]:
        proof = consistency_proof(old, head.size, self._node_reader(head)) if 0 < old < head.size else []
        body = AddCheckpointRequest(old, tuple(proof), head.checkpoint).render().encode()
        if self.http is None:
            self.http = httpx.Client(timeout=self.timeout, follow_redirects=False)
        try:
            with self.http.stream(
                "POST",
                witness.url,
                content=body,
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=self.timeout,
            ) as response:
                # httpx's timeouts are per read: an answer trickling in a byte at a time would never time out.
                deadline = time.monotonic() + self.timeout
                data = b""
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > MAX_ANSWER_BYTES:
                        raise WitnessFailed(f"the witness's answer is larger than {MAX_ANSWER_BYTES} bytes", hint="")
                    if time.monotonic() > deadline:
                        raise WitnessFailed(f"the witness's answer took longer than {self.timeout:g} s", hint="")
                return response.status_code, response.headers.get("content-type", ""), data
        except httpx.HTTPError as exc:
            raise WitnessFailed(f"cannot reach the witness: {type(exc).__name__}: {exc}", hint="") from None

    def _node_reader(self, head: Head):  # type: ignore[no-untyped-def]
        def fetch(tile: TileID) -> bytes:
            data = read_published_tile(self.storage, tile, head)
            if data is None:
                raise WitnessFailed(f"the log's tile {tile.path} is missing", hint="run 'assay log integrate'")
            return data

        return TileReader(head.size, fetch, cache=self._tiles).node

    def _store(self, vkey: str, size: int, cosignature: str) -> None:
        now = datetime.now(UTC)
        with self.db.write() as s:
            row = s.execute(
                select(WitnessCosignature).where(WitnessCosignature.vkey == vkey).with_for_update()
            ).scalar_one_or_none()
            if row is None:
                s.add(WitnessCosignature(vkey=vkey, size=size, cosignature=cosignature, updated_at=now))
            elif row.size <= size:  # never back to a smaller tree (another process may have gone further)
                row.size, row.cosignature, row.updated_at = size, cosignature, now


def witness_status(db: Database, witnesses: list[tuple[str, str]]) -> list[dict[str, object]]:
    """Each witness of ``ASSAY_LOG_WITNESSES`` (URL, vkey), and each only remembered from an earlier setting,
    with the tree size it last cosigned for this log."""
    with db.read() as s:
        rows = {r.vkey: r for r in s.scalars(select(WitnessCosignature))}
        out = [_status(vkey, url, rows.pop(vkey, None), configured=True) for url, vkey in witnesses]
        return out + [_status(vkey, None, row, configured=False) for vkey, row in sorted(rows.items())]


def _status(vkey: str, url: str | None, row: WitnessCosignature | None, *, configured: bool) -> dict[str, object]:
    return {
        "name": vkey.split("+", 1)[0],
        "vkey": vkey,
        "url": url,
        "configured": configured,
        "cosigned_size": int(row.size) if row is not None else None,
        "updated_at": row.updated_at.isoformat() if row is not None else None,
    }


def _cosignature_verifier(vkey: str) -> CosignatureVerifier:
    verifier = parse_vkey(vkey)
    if not isinstance(verifier, CosignatureVerifier):
        raise InvalidInput(f"{vkey} is not a cosignature (type 0x04) key", hint="use the witness's cosignature vkey")
    return verifier


def _parse_size(body: bytes, content_type: str, witness: Witness) -> int:
    text = body.decode("ascii", "replace")
    if content_type.split(";")[0].strip().lower() != "text/x.tlog.size" or not _SIZE.fullmatch(text):
        raise WitnessFailed(
            f"the witness answered 409 without a tree size (content type {content_type!r})",
            hint=f"check that {witness.url} is a C2SP tlog-witness add-checkpoint URL",
        )
    return int(text.strip())


def _verified_lines(checkpoint: str, lines: str, verifier: CosignatureVerifier, *, strict: bool = False) -> str:
    """The first signature line of ``lines`` by ``verifier`` that verifies against ``checkpoint``'s text (one
    per witness: more would only use up the signatures a note may carry).

    Strict (an answer from the witness): anything malformed or a bad signature raises; otherwise (stored
    lines, at serving time) those are dropped and "" returned."""
    try:
        if not lines or not lines.endswith("\n"):
            raise InvalidInput("the cosignature lines are empty or do not end in a newline", hint="")
        _, verified = open_note(checkpoint + lines, [verifier])
    except (InvalidInput, VerificationError):
        if strict:
            raise
        return ""
    return verified[0].line()
