"""Recording marks made offline with a kit: every entry validated, then all written in one transaction."""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from assay import watermark
from assay.db import Database
from assay.errors import FieldProblem, Forbidden, InvalidInput, TooLarge
from assay.provenance.environment import ProvenanceEnv
from assay.provenance.fieldindex import entry as field_entry
from assay.provenance.keys import MarkId, WatermarkKey, binding_algorithms, system_watermark_key, watermark_key_id
from assay.provenance.manifest import read_manifest_store
from assay.provenance.markcore import MAX_BATCH, aware, log_body, may_mark, utcnow
from assay.provenance.media import MARKABLE_TYPES
from assay.provenance.models import FieldMessage, MarkNamespace, MarkRecord, SequenceLease, WatermarkKeyRecord
from assay.register.access import Principal
from assay.register.service import get_system
from assay.transparency import record

__all__ = ["record_batch"]

_MANIFEST_MAX = 256 * 1024
_CLOCK_SKEW = dt.timedelta(minutes=10)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")


def record_batch(
    db: Database, env: ProvenanceEnv, *, entries: Sequence[Any], principal: Principal, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Record marks made offline. All-or-nothing: every entry is validated, then all are written in one
    transaction, or none with an error that lists every wrong entry. Re-sending an identical entry is a
    no-op (so a batch can be retried after a lost answer); a different entry under a recorded mark id is a
    conflict."""
    if not isinstance(entries, Sequence) or isinstance(entries, str | bytes) or not entries:
        raise InvalidInput(
            "a batch must be a non-empty list of mark entries",
            hint="send the JSON lines 'assay mark --offline' wrote, as a list",
        )
    if len(entries) > MAX_BATCH:
        raise TooLarge(f"{len(entries)} entries in one batch, over the limit of {MAX_BATCH}", hint="split the batch")
    now = now or utcnow()
    problems: list[FieldProblem] = []
    parsed: list[dict[str, Any]] = []
    for i, e in enumerate(entries):
        try:
            parsed.append(_parse_entry(e, i))
        except InvalidInput as exc:
            problems.extend(exc.problems or [FieldProblem(f"[{i}]", exc.message, exc.hint)])
    if problems:
        raise InvalidInput(
            f"{len(problems)} problem(s) in the batch; nothing was recorded",
            hint="fix the listed entries and send the batch again",
            problems=problems[:100],
        )
    out: list[dict[str, Any]] = []
    manifest_ids: set[str] = set()
    with db.write() as session:
        for i, p in enumerate(parsed):
            mark: MarkId = p["mark"]
            ns = session.get(MarkNamespace, mark.namespace)
            where = f"[{i}].mark_id"
            if ns is None:
                problems.append(
                    FieldProblem(where, f"namespace {mark.namespace} does not exist", "use your kit's marks")
                )
                continue
            if not mark.tag_valid(env.keys.namespace_key(ns.number)):
                problems.append(
                    FieldProblem(
                        where,
                        "the mark's tag does not verify (not minted with this namespace's key)",
                        "record only marks your kit made",
                    )
                )
                continue
            try:
                principal.require_provider(ns.provider_id, action="record marks in namespaces")
            except Forbidden as exc:
                problems.append(FieldProblem(where, exc.message, exc.hint))
                continue
            if ns.revoked_at is not None:
                problems.append(FieldProblem(where, f"namespace {ns.number} was revoked", "ask for a new kit"))
                continue
            lease = session.scalars(
                select(SequenceLease).where(
                    SequenceLease.namespace == ns.number,
                    SequenceLease.start <= mark.sequence,
                    SequenceLease.end > mark.sequence,
                )
            ).first()
            if lease is None:
                problems.append(FieldProblem(where, "the sequence number was never leased to a kit", ""))
                continue
            if p["created_at"] < aware(lease.issued_at) - _CLOCK_SKEW or p["created_at"] > now + _CLOCK_SKEW:
                problems.append(
                    FieldProblem(
                        f"[{i}].created_at",
                        "the time is before the kit was issued or in the future",
                        "use the marking machine's UTC time",
                    )
                )
                continue
            system = get_system(session, p["system_id"])
            if system is None or system.provider_id != ns.provider_id:
                problems.append(
                    FieldProblem(
                        f"[{i}].system_id",
                        f"system {p['system_id']!r} is not a system of provider {ns.provider_id!r}",
                        "use one of your systems",
                    )
                )
                continue
            why = may_mark(system)
            if why:
                problems.append(FieldProblem(f"[{i}].system_id", why, ""))
                continue
            key_row = None
            if p["key_id"] is not None:
                key_row = session.get(WatermarkKeyRecord, p["key_id"])
                if key_row is None or key_row.system_id != system.id:
                    problems.append(
                        FieldProblem(
                            f"[{i}].key_id",
                            f"key {p['key_id']} is not a watermark key of system {system.id!r}",
                            "send the entry as 'assay mark --offline' wrote it, with a kit of this provider",
                        )
                    )
                    continue
            version_number = p["system_version_number"] or system.version_number
            if not 1 <= version_number <= system.version_number:
                problems.append(
                    FieldProblem(
                        f"[{i}].system_version_number",
                        f"system {system.id!r} has no record "
                        f"version {version_number} (it is at {system.version_number})",
                        "send the entry as 'assay mark --offline' wrote it",
                    )
                )
                continue
            existing = session.get(MarkRecord, mark.hex)
            if existing is not None:
                if existing.sha256 == p["sha256"] and existing.system_id == system.id:
                    out.append({"mark_id": mark.hex, "status": "already_recorded", "log_index": existing.log_index})
                    continue
                problems.append(
                    FieldProblem(
                        where, "this mark id is already recorded for a different file", "never reuse a mark id"
                    )
                )
                continue
            mid = p["manifest_id"]
            if mid is not None and (
                mid in manifest_ids
                or session.scalar(select(MarkRecord.mark_id).where(MarkRecord.manifest_id == mid)) is not None
            ):
                problems.append(
                    FieldProblem(
                        f"[{i}].manifest_id",
                        f"manifest {mid[:120]!r} is already recorded with another mark",
                        "each marked file has its own manifest",
                    )
                )
                continue
            if mid is not None:
                manifest_ids.add(mid)
            row = MarkRecord(
                mark_id=mark.hex,
                namespace=ns.number,
                sequence=mark.sequence,
                system_id=system.id,
                system_version_number=version_number,
                provider_id=ns.provider_id,
                created_at=p["created_at"],
                recorded_at=now,
                sha256=p["sha256"],
                phash=p["phash"],
                width=p["width"],
                height=p["height"],
                media_type=p["media_type"],
                alg=p["alg"],
                manifest_id=p["manifest_id"],
                manifest=p["manifest"],
                certificate_fingerprint=p["certificate_fingerprint"],
                visible_label=p["visible_label"],
                origin="batch",
                recorded_by_token=principal.actor_token_id,
                key_id=p["key_id"],
                binding=p["binding"],
            )
            session.add(row)
            session.flush()
            if key_row is not None and (indexed := _field_entry(env, mark, key_row)) is not None:
                session.add(indexed)
            row.log_index = record(session, "mark.recorded", log_body(row))
            out.append({"mark_id": mark.hex, "status": "recorded", "log_index": row.log_index})
        if problems:
            # Raising inside the transaction rolls back every record and log entry of this batch.
            raise InvalidInput(
                f"{len(problems)} problem(s) in the batch; nothing was recorded",
                hint="fix the listed entries and send the batch again",
                problems=problems[:100],
            )
    return out


def _field_entry(env: ProvenanceEnv, mark: MarkId, row: WatermarkKeyRecord) -> FieldMessage | None:
    """The field-message index row of a kit's mark (its key derived as the register derives it; a key id
    that does not derive is never trusted, and the mark is then recorded without an index row)."""
    key = system_watermark_key(env.keys.master, row.system_id, row.generation)
    if watermark_key_id(key) != row.key_id:
        return None
    return field_entry(mark, WatermarkKey(row.key_id, key, row.algorithm, provider_id=row.provider_id))


def _parse_entry(e: Any, i: int) -> dict[str, Any]:
    def bad(field: str, message: str, fix: str = "") -> InvalidInput:
        return InvalidInput(message, problems=[FieldProblem(f"[{i}].{field}", message, fix)])

    if not isinstance(e, dict):
        raise bad("", "an entry must be a JSON object")
    mark = (
        MarkId.parse(str(e.get("mark_id", "")), field=f"[{i}].mark_id")
        if _HEX16.match(str(e.get("mark_id", "")))
        else None
    )
    if mark is None:
        raise bad("mark_id", "must be 16 lower-case hexadecimal digits")
    sha = str(e.get("sha256", ""))
    if not _HEX64.match(sha):
        raise bad("sha256", "must be 64 lower-case hexadecimal digits")
    ph = str(e.get("phash", ""))
    if not _HEX16.match(ph):
        raise bad("phash", "must be 16 lower-case hexadecimal digits")
    try:
        created = dt.datetime.fromisoformat(str(e.get("created_at", "")).replace("Z", "+00:00"))
    except ValueError:
        raise bad("created_at", "must be an ISO 8601 UTC time, e.g. 2026-11-29T12:00:00Z") from None
    if created.tzinfo is None:
        raise bad("created_at", "must carry a time zone (Z)")
    mt = str(e.get("media_type", ""))
    if mt not in MARKABLE_TYPES:
        raise bad("media_type", f"must be one of {', '.join(MARKABLE_TYPES)}")
    # Kits make version 3 (kits of format 2: version 2; version 1 is legacy).
    if e.get("alg") not in (watermark.FIELD_ALGORITHM, watermark.ALGORITHM, watermark.LEGACY_ALGORITHM):
        raise bad("alg", f"must be {watermark.FIELD_ALGORITHM!r} (or {watermark.ALGORITHM!r} from an older kit)")
    manifest = None
    if e.get("manifest"):
        try:
            manifest = base64.b64decode(str(e["manifest"]), validate=True)
        except ValueError:
            raise bad("manifest", "must be base64") from None
        if len(manifest) > _MANIFEST_MAX:
            raise bad("manifest", f"is larger than {_MANIFEST_MAX} bytes")
    try:
        w, h, vn = int(e.get("width", 0)), int(e.get("height", 0)), int(e.get("system_version_number") or 0)
    except (TypeError, ValueError):
        raise bad("width", "width, height and system_version_number must be whole numbers") from None
    if not (1 <= w <= 100_000 and 1 <= h <= 100_000):
        raise bad("width", "width and height must be 1..100000")
    mid = e.get("manifest_id")
    if mid is not None and (not isinstance(mid, str) or not 1 <= len(mid) <= 120):
        raise bad("manifest_id", "must be a string of 1 to 120 characters")
    if (mid is None) != (manifest is None):
        raise bad(
            "manifest",
            "manifest and manifest_id come together (both or neither)",
            "send the entry as 'assay mark --offline' wrote it",
        )
    if manifest is not None:
        # The store is served at /manifests/{manifest_id}: it must be the signed store of this very mark.
        try:
            label, bindings = read_manifest_store(manifest)
        except InvalidInput as exc:
            raise bad("manifest", exc.message, exc.hint) from None
        if label != mid:
            raise bad(
                "manifest_id",
                f"is not the id of the manifest in 'manifest' ({label[:120]!r})",
                "send the entry as 'assay mark --offline' wrote it",
            )
        if not any((alg, mark.binding_value) in bindings for alg in binding_algorithms()):
            raise bad(
                "manifest",
                "the manifest's soft binding does not name this mark",
                "send the entry as 'assay mark --offline' wrote it",
            )
    fp = str(e.get("certificate_fingerprint", ""))
    if fp and not _HEX64.match(fp):
        raise bad("certificate_fingerprint", "must be 64 lower-case hexadecimal digits")
    key_id = e.get("key_id")
    if key_id is not None and not (isinstance(key_id, str) and _HEX16.match(key_id)):
        raise bad("key_id", "must be 16 lower-case hexadecimal digits (the kit's key id for the system)")
    image_binding = None
    if e.get("binding") is not None:
        try:
            image_binding = base64.b64decode(str(e["binding"]), validate=True)
        except ValueError:
            raise bad("binding", "must be base64") from None
        if not 3 <= len(image_binding) <= 1024:
            raise bad("binding", "is not an image binding 'assay mark --offline' wrote")
    if (key_id is None) != (image_binding is None):
        raise bad("binding", "key_id and binding come together (both or neither)", "send the entry as written")
    return {
        "mark": mark,
        "system_id": str(e.get("system_id", ""))[:80],
        "system_version_number": vn,
        "created_at": created.astimezone(dt.UTC),
        "sha256": sha,
        "phash": ph,
        "width": w,
        "height": h,
        "media_type": mt,
        "alg": e["alg"],
        "manifest_id": mid,
        "manifest": manifest,
        "certificate_fingerprint": fp,
        "visible_label": bool(e.get("visible_label", False)),
        "key_id": key_id,
        "binding": image_binding,
    }
