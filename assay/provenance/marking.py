"""Marking: watermark + signed Content Credentials + a record in the register, for a registered system.

Online (the register marks, e.g. ``POST /api/v1/marks`` or ``assay mark``)::

    result = mark_images(db, env, images=[png_bytes], system_id="acme-imagegen", principal=principal)
    result[0].data        # the marked file; result[0].mark.hex is its mark id

Offline (a provider marks on its own machines with a marking kit, then records in batches)::

    kit = issue_kit(db, env, provider_id="acme", principal=principal, sequences=100_000)   # register side
    marker = OfflineMarker(kit, state_file)            # provider side, no network
    data, entry = marker.mark(png_bytes, system_id="acme-imagegen")
    record_batch(db, env, entries=[entry, ...], principal=principal)                        # register side

Who may mark: only a system that declares the ``synthetic_image`` capability, is not prohibited, not
suspended and not withdrawn, and only with a token of its own provider (or the operator). Every refusal is an
:class:`~assay.errors.AssayError` raised before anything is written.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assay import watermark
from assay.db import Database
from assay.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound, TooLarge
from assay.provenance.binding import fingerprint
from assay.provenance.counter import KitCounter
from assay.provenance.credentials import SigningCredentials, signing_credentials
from assay.provenance.environment import ProvenanceEnv
from assay.provenance.keys import (
    MAX_NAMESPACE,
    MAX_SEQUENCE,
    MarkId,
    WatermarkKey,
    binding_algorithms,
    binding_key,
    namespace_key_id,
    system_watermark_key,
    watermark_key_id,
)
from assay.provenance.label import add_visible_label
from assay.provenance.manifest import (
    DEFAULT_TRAINING_MINING,
    ManifestFacts,
    build_manifest,
    read_manifest_store,
    sign_asset,
    xmp_packet,
)
from assay.provenance.media import MARKABLE_TYPES, decode_image, encode_image, perceptual_hash, sha256_hex
from assay.provenance.models import MarkNamespace, MarkRecord, SequenceLease, WatermarkKeyRecord
from assay.provenance.remark import refuse_remarking
from assay.register.access import Principal
from assay.register.service import SystemView, get_provider, get_system
from assay.transparency import record

__all__ = [
    "MAX_BATCH",
    "MarkResult",
    "OfflineMarker",
    "issue_kit",
    "mark_images",
    "may_mark",
    "record_batch",
    "revoke_namespace",
]

MAX_BATCH = 10_000
MAX_KIT_SEQUENCES = 10_000_000
_MANIFEST_MAX = 256 * 1024
_CLOCK_SKEW = dt.timedelta(minutes=10)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
IMAGE_CAPABILITY = "synthetic_image"


@dataclass(frozen=True)
class MarkResult:
    """One marked image: the file to hand out, and what the register recorded about it."""

    mark: MarkId
    data: bytes
    media_type: str
    system_id: str
    sha256: str
    phash: str
    manifest_id: str | None
    log_index: int | None
    created_at: dt.datetime
    key_id: str | None = None  # the system's watermark key

    def as_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "mark_id": self.mark.hex,
            "system_id": self.system_id,
            "media_type": self.media_type,
            "sha256": self.sha256,
            "phash": self.phash,
            "manifest_id": self.manifest_id,
            "log_index": self.log_index,
            "created_at": _iso(self.created_at),
            "bytes": len(self.data),
        }


def may_mark(system: SystemView) -> str | None:
    """Why ``system`` may not mark images, or None when it may."""
    if system.outcome == "prohibited":
        return f"system {system.id!r} is screened as prohibited (a red line): it may not mark outputs"
    if system.suspended:
        return f"system {system.id!r} is suspended by the oversight body: it may not mark outputs"
    if system.status == "withdrawn":
        return f"system {system.id!r} is withdrawn: it may not mark new outputs"
    if IMAGE_CAPABILITY not in system.capabilities:
        return (
            f"system {system.id!r} does not declare the '{IMAGE_CAPABILITY}' capability "
            f"(it declares: {', '.join(system.capabilities) or 'none'})"
        )
    return None


def _check_may_mark(system: SystemView | None, system_id: str, principal: Principal) -> SystemView:
    if system is None:
        raise NotFound(
            f"there is no system {system_id!r} in the register",
            hint="give the id shown on the system's page, e.g. 'acme-imagegen'",
            problems=[FieldProblem("system_id", "unknown system", "use a registered system's id")],
        )
    principal.require_provider(system.provider_id, action="mark images for systems")
    why = may_mark(system)
    if why:
        hint = (
            "add 'synthetic_image' to the system's capabilities in a new version of its disclosure"
            if IMAGE_CAPABILITY in why
            else "only registered generative systems in good standing may mark"
        )
        raise Forbidden(why, hint=hint, problems=[FieldProblem("system_id", why, hint)])
    return system


def _facts(
    env: ProvenanceEnv, system: SystemView, provider_url: str, mark: MarkId, now: dt.datetime, visible_label: bool
) -> ManifestFacts:
    return ManifestFacts(
        mark=mark,
        alg=watermark.ALGORITHM,
        system_id=system.id,
        system_name=system.name,
        system_version=system.version,
        system_url=env.url(system.url_path),
        provider_id=system.provider_id,
        provider_name=system.provider_name,
        provider_url=provider_url,
        mark_url=env.url(f"/marks/{mark.hex}"),
        created_at=now,
        visible_label=visible_label,
        training_mining=training_mining(system.disclosure),
    )


def training_mining(disclosure: dict[str, Any]) -> dict[str, str]:
    """The system's declared output reuse (disclosure ``system.output_reuse``) as CAWG training-mining entries."""
    declared = (disclosure.get("system") or {}).get("output_reuse") or {}
    out = dict(DEFAULT_TRAINING_MINING)
    for field in ("ai_training", "ai_generative_training", "data_mining", "ai_inference"):
        if field in declared:
            out[f"cawg.{field}"] = _CAWG_USE[declared[field]]
    return out


_CAWG_USE = {"allowed": "allowed", "not_allowed": "notAllowed", "constrained": "constrained"}


@dataclass(frozen=True)
class _Made:
    mark: MarkId
    data: bytes
    media_type: str
    sha256: str
    phash: str
    width: int
    height: int
    manifest_id: str | None
    manifest: bytes
    binding: bytes


def _make(
    pixels: np.ndarray,
    media_type: str,
    *,
    mark: MarkId,
    facts: ManifestFacts,
    wm_key: WatermarkKey,
    bind_key: bytes,
    creds: SigningCredentials,
    visible_label: bool,
    tsa_url: str = "",
) -> _Made:
    """Label (optional) -> watermark -> encode with XMP -> sign the C2PA manifest. Pure: writes nothing."""
    if visible_label:
        pixels = add_visible_label(pixels)
    # The mark id travels encrypted under the system's key: the embedded bits are never published.
    marked = watermark.embed(pixels, wm_key.payload_of(mark), key=wm_key.key)
    encoded = encode_image(marked, media_type, xmp=xmp_packet(facts))
    signed, store = sign_asset(
        build_manifest(facts),
        encoded,
        media_type,
        chain_pem=creds.chain_pem,
        key_pem=creds.key_pem,
        alg=creds.alg,
        tsa_url=tsa_url,
    )
    from assay.provenance.manifest import read_manifest

    manifest_id = read_manifest(signed, media_type, anchors_pem=b"").manifest_id
    h, w = marked.shape[:2]
    return _Made(
        mark=mark,
        data=signed,
        media_type=media_type,
        sha256=sha256_hex(signed),
        phash=perceptual_hash(marked),
        width=w,
        height=h,
        manifest_id=manifest_id,
        manifest=store,
        binding=fingerprint(marked, bind_key),
    )


def _refuse_marked(data: bytes, media_type: str, name: str) -> None:
    """An image that already carries Assay's Content Credentials is a marked output, not an original: a second
    watermark over the first garbles both (running 'assay mark' over its own output folder did that). Only
    the manifest is read here (about a millisecond); a marked copy whose metadata was stripped is not caught
    without running the detector, which would double the cost of marking."""
    from assay.provenance.manifest import read_manifest

    for alg, value in read_manifest(data, media_type, anchors_pem=b"").soft_bindings:
        if alg in binding_algorithms():
            raise InvalidInput(
                f"{name} is already marked (its Content Credentials carry the Assay mark {value})",
                hint="mark the original image, not a marked copy",
            )


def _decode_for_marking(env: ProvenanceEnv, data: bytes, name: str) -> tuple[np.ndarray, str]:
    img = decode_image(
        data,
        max_bytes=env.config.max_upload_bytes,
        max_pixels=env.config.max_pixels,
        name=name,
        min_side=watermark.MIN_SIDE,
    )
    _refuse_marked(data, img.media_type, name)
    h, w = img.pixels.shape[:2]
    if max(h, w) > watermark.MAX_SIDE:
        raise TooLarge(
            f"{name} is {w}x{h}; marks are made on images of at most {watermark.MAX_SIDE} px a side",
            hint="scale the image down before marking",
        )
    # Keep the format when c2pa can embed a manifest in it; anything else is written as PNG (lossless).
    return img.pixels, img.media_type if img.media_type in MARKABLE_TYPES else "image/png"


def mark_images(
    db: Database,
    env: ProvenanceEnv,
    *,
    images: Sequence[bytes],
    system_id: str,
    principal: Principal,
    visible_label: bool = False,
    names: Sequence[str] | None = None,
    now: dt.datetime | None = None,
    remark: bool = False,
) -> list[MarkResult]:
    """Mark images for a system through the register (online). All-or-nothing: every image is decoded and
    checked first; the records and their log entries are written in one transaction at the end."""
    if not images:
        raise InvalidInput("no images to mark", hint="give at least one image")
    if len(images) > MAX_BATCH:
        raise TooLarge(
            f"{len(images)} images in one call, over the limit of {MAX_BATCH}", hint="mark in smaller batches"
        )
    names = list(names or [f"image {i + 1}" for i in range(len(images))])
    now = now or _now()
    # 1. permission, before any work
    with db.read() as session:
        system = _check_may_mark(get_system(session, system_id), system_id, principal)
        provider = get_provider(session, system.provider_id)
    assert provider is not None
    # 2. every input decodes (nothing is written for a batch with one bad file)
    decoded = [_decode_for_marking(env, data, name) for data, name in zip(images, names, strict=True)]
    refuse_remarking(db, env, decoded, names, system_id=system.id, allow_same_system=remark)  # stripped marks too
    # 3. signing credentials (issued on first use) and sequence numbers (a short write transaction)
    creds = signing_credentials(db, env, provider_id=system.provider_id, principal=principal, now=now)
    marks = _allocate(db, env, provider_id=system.provider_id, count=len(images), now=now)
    wm_key = system_key(db, env, system_id=system.id, provider_id=system.provider_id, now=now)
    bind_key = binding_key(env.keys.master, system.provider_id)
    # 4. the slow part, outside any transaction
    made = []
    for (pixels, media_type), mark in zip(decoded, marks, strict=True):
        facts = _facts(env, system, env.url(provider.url_path), mark, now, visible_label)
        made.append(
            _make(
                pixels,
                media_type,
                mark=mark,
                facts=facts,
                wm_key=wm_key,
                bind_key=bind_key,
                creds=creds,
                visible_label=visible_label,
            )
        )
    # 5. records + log entries, one transaction; the system is read again so a suspension in between counts
    with db.write() as session:
        _check_may_mark(get_system(session, system_id), system_id, principal)
        results = []
        for m in made:
            row = MarkRecord(
                mark_id=m.mark.hex,
                namespace=m.mark.namespace,
                sequence=m.mark.sequence,
                system_id=system.id,
                system_version_number=system.version_number,
                provider_id=system.provider_id,
                created_at=now,
                recorded_at=now,
                sha256=m.sha256,
                phash=m.phash,
                width=m.width,
                height=m.height,
                media_type=m.media_type,
                alg=watermark.ALGORITHM,
                manifest_id=m.manifest_id,
                manifest=m.manifest,
                certificate_fingerprint=creds.fingerprint,
                visible_label=visible_label,
                origin="online",
                recorded_by_token=principal.actor_token_id,
                key_id=wm_key.key_id,
                binding=m.binding,
            )
            session.add(row)
            session.flush()
            row.log_index = record(session, "mark.recorded", _log_body(row))
            results.append(
                MarkResult(
                    mark=m.mark,
                    data=m.data,
                    media_type=m.media_type,
                    system_id=system.id,
                    sha256=m.sha256,
                    phash=m.phash,
                    manifest_id=m.manifest_id,
                    log_index=row.log_index,
                    created_at=now,
                    key_id=wm_key.key_id,
                )
            )
    return results


def system_key(db: Database, env: ProvenanceEnv, *, system_id: str, provider_id: str, now: dt.datetime) -> WatermarkKey:
    """The system's current watermark key; made (and logged, by id) the first time the system marks."""
    with db.read() as session:
        row = _current_key(session, system_id)
    if row is None:
        with db.write() as session:
            row = _current_key(session, system_id)
            if row is None:
                row = _new_system_key(session, env, system_id=system_id, provider_id=provider_id, now=now)
    key = system_watermark_key(env.keys.master, system_id, row.generation)
    return WatermarkKey(row.key_id, key, row.algorithm, provider_id=row.provider_id, system_id=system_id)


def _current_key(session: Session, system_id: str) -> Any:
    return session.execute(
        select(
            WatermarkKeyRecord.key_id,
            WatermarkKeyRecord.generation,
            WatermarkKeyRecord.algorithm,
            WatermarkKeyRecord.provider_id,
        )
        .where(WatermarkKeyRecord.system_id == system_id, WatermarkKeyRecord.revoked_at.is_(None))
        .order_by(WatermarkKeyRecord.generation.desc())
    ).first()


def _new_system_key(session: Session, env: ProvenanceEnv, *, system_id: str, provider_id: str, now: dt.datetime) -> Any:
    generation = (
        session.scalar(select(func.max(WatermarkKeyRecord.generation)).where(WatermarkKeyRecord.system_id == system_id))
        or 0
    ) + 1
    key_id = watermark_key_id(system_watermark_key(env.keys.master, system_id, generation))
    row = WatermarkKeyRecord(
        key_id=key_id,
        system_id=system_id,
        provider_id=provider_id,
        generation=generation,
        algorithm=watermark.ALGORITHM,
        created_at=now,
    )
    session.add(row)
    session.flush()
    row.log_index = record(
        session,
        "provider.key.issued",
        {
            "provider": provider_id,
            "system": system_id,
            "key_id": key_id,
            "purpose": "watermark",
            "algorithm": watermark.ALGORITHM,
        },
    )
    return row


def _log_body(row: MarkRecord) -> dict[str, Any]:
    return {
        "mark": row.mark_id,
        "system": row.system_id,
        "system_version": row.system_version_number,
        "provider": row.provider_id,
        "sha256": row.sha256,
        "phash": row.phash,
        "alg": row.alg,
        "created_at": _iso(row.created_at),
        "manifest": row.manifest_id or "",
    } | ({"key_id": row.key_id} if row.key_id else {})


def _allocate(db: Database, env: ProvenanceEnv, *, provider_id: str, count: int, now: dt.datetime) -> list[MarkId]:
    """Hand out ``count`` fresh marks from the provider's online namespace (a new one when it runs out)."""
    with db.write() as session:
        ns = session.scalars(
            select(MarkNamespace)
            .where(
                MarkNamespace.provider_id == provider_id,
                MarkNamespace.purpose == "online",
                MarkNamespace.revoked_at.is_(None),
            )
            .order_by(MarkNamespace.number.desc())
            .with_for_update()
        ).first()
        if ns is None or ns.next_sequence + count - 1 > MAX_SEQUENCE:
            ns = _new_namespace(session, env, provider_id=provider_id, purpose="online", now=now)
        start = ns.next_sequence
        ns.next_sequence = start + count
        key = env.keys.namespace_key(ns.number)
        return [MarkId.mint(namespace=ns.number, sequence=s, key=key) for s in range(start, start + count)]


def _new_namespace(
    session: Session, env: ProvenanceEnv, *, provider_id: str, purpose: str, now: dt.datetime
) -> MarkNamespace:
    # Under the single writer (SQLite) or the unique primary key (PostgreSQL), max+1 never hands out twice.
    number = (session.scalar(select(func.max(MarkNamespace.number))) or 0) + 1
    if number > MAX_NAMESPACE:
        raise Conflict(
            "the register has used all mark namespaces",
            hint="this register is full; start a new one with a new watermark algorithm id",
        )
    key_id = namespace_key_id(env.keys.namespace_key(number))
    ns = MarkNamespace(
        number=number,
        provider_id=provider_id,
        purpose=purpose,
        key_id=key_id,
        next_sequence=1,
        created_at=now,
        revoked_reason="",
    )
    session.add(ns)
    session.flush()
    ns.issued_log_index = record(
        session,
        "provider.key.issued",
        {"provider": provider_id, "namespace": number, "key_id": key_id, "purpose": purpose},
    )
    return ns


def revoke_namespace(
    db: Database, *, number: int, principal: Principal, reason: str = "", now: dt.datetime | None = None
) -> dict[str, Any]:
    """Stop a namespace: no new marks can be recorded under it (marks already recorded still resolve)."""
    now = now or _now()
    with db.write() as session:
        ns = session.scalars(select(MarkNamespace).where(MarkNamespace.number == number).with_for_update()).first()
        if ns is None:
            raise NotFound(f"there is no mark namespace {number}", hint="see 'assay keys list'")
        principal.require_provider(ns.provider_id, action="revoke marking keys")
        if ns.revoked_at is not None:
            raise Conflict(f"namespace {number} is already revoked", hint="nothing to do")
        ns.revoked_at = now
        ns.revoked_reason = (reason or "revoked")[:300]
        ns.revoked_log_index = record(
            session,
            "provider.key.revoked",
            {"provider": ns.provider_id, "namespace": number, "key_id": ns.key_id, "revoked_at": _iso(now)},
        )
        return _ns_dict(ns)


def list_namespaces(session: Session, *, provider_id: str | None = None) -> list[dict[str, Any]]:
    q = select(MarkNamespace).order_by(MarkNamespace.number)
    if provider_id:
        q = q.where(MarkNamespace.provider_id == provider_id)
    return [_ns_dict(n) for n in session.scalars(q)]


def list_watermark_keys(session: Session, *, provider_id: str | None = None) -> list[dict[str, Any]]:
    """The systems' watermark keys, by id (public facts; the keys themselves are derived, never stored)."""
    q = select(WatermarkKeyRecord).order_by(WatermarkKeyRecord.system_id, WatermarkKeyRecord.generation)
    if provider_id:
        q = q.where(WatermarkKeyRecord.provider_id == provider_id)
    return [
        {
            "key_id": k.key_id,
            "system_id": k.system_id,
            "provider_id": k.provider_id,
            "generation": k.generation,
            "algorithm": k.algorithm,
            "created_at": _iso(k.created_at),
            "revoked_at": _iso(k.revoked_at) if k.revoked_at else None,
            "log_index": k.log_index,
        }
        for k in session.scalars(q)
    ]


def _ns_dict(ns: MarkNamespace) -> dict[str, Any]:
    return {
        "namespace": ns.number,
        "provider_id": ns.provider_id,
        "purpose": ns.purpose,
        "key_id": ns.key_id,
        "used": ns.next_sequence - 1,
        "created_at": _iso(ns.created_at),
        "revoked_at": _iso(ns.revoked_at) if ns.revoked_at else None,
        "log_index": ns.issued_log_index,
    }


# ---------------------------------------------------------------------------------------------- offline marking

KIT_FORMAT = "assay-marking-kit/2"
_OLD_KIT_FORMATS = ("assay-marking-kit/1",)


def issue_kit(
    db: Database,
    env: ProvenanceEnv,
    *,
    provider_id: str,
    principal: Principal,
    sequences: int = 100_000,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A marking kit: the secrets and the snapshot a provider needs to mark offline. Shown once; keep it secret.

    It holds the watermark key of each of the provider's systems that may mark (never another provider's, and
    never a register-wide key), the provider's image-binding key, a fresh namespace's key with a lease of
    ``sequences`` marks, and the provider's signing certificate and key.
    """
    principal.require_provider(provider_id, action="get marking kits")
    if not (1 <= sequences <= min(MAX_KIT_SEQUENCES, MAX_SEQUENCE)):
        raise InvalidInput(
            f"a kit holds 1..{MAX_KIT_SEQUENCES:,} marks, not {sequences:,}",
            hint="ask for another kit when one runs out",
            problems=[FieldProblem("sequences", "out of range", f"1..{MAX_KIT_SEQUENCES}")],
        )
    now = now or _now()
    with db.read() as session:
        provider = get_provider(session, provider_id)
        if provider is None:
            raise NotFound(f"there is no provider {provider_id!r}", hint="register the provider first")
        from assay.register.models import System

        ids = list(session.scalars(select(System.id).where(System.provider_id == provider_id).order_by(System.id)))
        systems = [s for s in (get_system(session, i) for i in ids) if s is not None and may_mark(s) is None]
    creds = signing_credentials(db, env, provider_id=provider_id, principal=principal, now=now)
    wm_keys = [system_key(db, env, system_id=s.id, provider_id=provider_id, now=now) for s in systems]
    with db.write() as session:
        ns = _new_namespace(session, env, provider_id=provider_id, purpose="kit", now=now)
        ns.next_sequence = 1 + sequences
        session.add(SequenceLease(namespace=ns.number, start=1, end=1 + sequences, issued_at=now))
        number = ns.number
    return {
        "format": KIT_FORMAT,
        "register": env.config.base_url,
        "provider": {"id": provider.id, "name": provider.name, "url": env.url(provider.url_path)},
        "issued_at": _iso(now),
        "watermark": {
            "alg": watermark.ALGORITHM,
            "keys": [
                {"key_id": k.key_id, "system_id": k.system_id, "algorithm": k.algorithm, "key": _b64(k.key)}
                for k in wm_keys
            ],
        },
        "binding": {"key": _b64(binding_key(env.keys.master, provider_id))},
        "namespace": {"number": number, "key": _b64(env.keys.namespace_key(number)), "start": 1, "end": 1 + sequences},
        "signing": {
            "chain_pem": creds.chain_pem.decode(),
            "key_pem": creds.key_pem.decode(),
            "alg": creds.alg,
            "fingerprint": creds.fingerprint,
        },
        "systems": [
            {
                "id": s.id,
                "name": s.name,
                "version": s.version,
                "version_number": s.version_number,
                "url": env.url(s.url_path),
                "training_mining": training_mining(s.disclosure),
            }
            for s in systems
        ],
    }


class OfflineMarker:
    """Marks images with a kit, without the register. Sequence numbers are taken from a counter file under a
    lock, so several processes on one machine never reuse one. Entries go to a JSON-lines batch file."""

    def __init__(self, kit: dict[str, Any], counter_file: Path) -> None:
        if isinstance(kit, dict) and kit.get("format") in _OLD_KIT_FORMATS:
            raise InvalidInput(
                "this marking kit is from before per-system watermark keys: its marks could be copied by any kit",
                hint="ask the register for a new kit ('assay keys kit'); record what you marked with this one first",
            )
        if not isinstance(kit, dict) or kit.get("format") != KIT_FORMAT:
            raise InvalidInput("this is not an Assay marking kit", hint="use the file 'assay keys kit' wrote")
        try:
            self.kit = kit
            provider_id = kit["provider"]["id"]
            self.wm_keys = {
                k["system_id"]: WatermarkKey(
                    k["key_id"],
                    base64.b64decode(k["key"]),
                    k["algorithm"],
                    provider_id=provider_id,
                    system_id=k["system_id"],
                )
                for k in kit["watermark"]["keys"]
            }
            self.bind_key = base64.b64decode(kit["binding"]["key"])
            self.ns = int(kit["namespace"]["number"])
            self.ns_key = base64.b64decode(kit["namespace"]["key"])
            self.start, self.end = int(kit["namespace"]["start"]), int(kit["namespace"]["end"])
            s = kit["signing"]
            self.creds = SigningCredentials(
                chain_pem=s["chain_pem"].encode(),
                key_pem=s["key_pem"].encode(),
                alg=s["alg"],
                fingerprint=s["fingerprint"],
            )
            self.systems = {x["id"]: x for x in kit["systems"]}
            self.provider = kit["provider"]
            self.register = kit["register"].rstrip("/")
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(
                f"the marking kit is incomplete or damaged ({exc})",
                hint="ask the register for a new kit ('assay keys kit')",
            ) from None
        self.counter_file = counter_file
        self.counter = KitCounter(counter_file, start=self.start, end=self.end)

    def _next_sequence(self) -> int:
        return self.counter.take()

    def mark(
        self,
        data: bytes,
        *,
        system_id: str,
        visible_label: bool = False,
        name: str = "the image",
        max_bytes: int = 50_000_000,
        max_pixels: int = 80_000_000,
        now: dt.datetime | None = None,
    ) -> tuple[bytes, dict[str, Any]]:
        sysinfo = self.systems.get(system_id)
        if sysinfo is None:
            raise Forbidden(
                f"system {system_id!r} is not in this kit (it is not the provider's, or may not mark)",
                hint="systems in the kit: " + (", ".join(self.systems) or "none"),
            )
        img = decode_image(data, max_bytes=max_bytes, max_pixels=max_pixels, name=name, min_side=watermark.MIN_SIDE)
        _refuse_marked(data, img.media_type, name)
        media_type = img.media_type if img.media_type in MARKABLE_TYPES else "image/png"
        now = now or _now()
        mark = MarkId.mint(namespace=self.ns, sequence=self._next_sequence(), key=self.ns_key)
        facts = ManifestFacts(
            mark=mark,
            alg=watermark.ALGORITHM,
            system_id=system_id,
            system_name=sysinfo["name"],
            system_version=sysinfo["version"],
            system_url=sysinfo["url"],
            provider_id=self.provider["id"],
            provider_name=self.provider["name"],
            provider_url=self.provider["url"],
            mark_url=f"{self.register}/marks/{mark.hex}",
            created_at=now,
            visible_label=visible_label,
            training_mining=dict(sysinfo.get("training_mining") or DEFAULT_TRAINING_MINING),
        )
        m = _make(
            img.pixels,
            media_type,
            mark=mark,
            facts=facts,
            wm_key=self.wm_keys[system_id],
            bind_key=self.bind_key,
            creds=self.creds,
            visible_label=visible_label,
        )
        entry = {
            "mark_id": mark.hex,
            "system_id": system_id,
            "system_version_number": sysinfo["version_number"],
            "created_at": _iso(now),
            "sha256": m.sha256,
            "phash": m.phash,
            "width": m.width,
            "height": m.height,
            "media_type": m.media_type,
            "alg": watermark.ALGORITHM,
            "manifest_id": m.manifest_id,
            "manifest": _b64(m.manifest),
            "certificate_fingerprint": self.creds.fingerprint,
            "visible_label": visible_label,
            "key_id": self.wm_keys[system_id].key_id,
            "binding": _b64(m.binding),
        }
        return m.data, entry


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
    now = now or _now()
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
            if p["created_at"] < _aware(lease.issued_at) - _CLOCK_SKEW or p["created_at"] > now + _CLOCK_SKEW:
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
            if p["key_id"] is not None:
                owner = session.scalar(
                    select(WatermarkKeyRecord.system_id).where(WatermarkKeyRecord.key_id == p["key_id"])
                )
                if owner != system.id:
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
            row.log_index = record(session, "mark.recorded", _log_body(row))
            out.append({"mark_id": mark.hex, "status": "recorded", "log_index": row.log_index})
        if problems:
            # Raising inside the transaction rolls back every record and log entry of this batch.
            raise InvalidInput(
                f"{len(problems)} problem(s) in the batch; nothing was recorded",
                hint="fix the listed entries and send the batch again",
                problems=problems[:100],
            )
    return out


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
    if e.get("alg") not in binding_algorithms():
        raise bad("alg", f"must be {watermark.ALGORITHM!r}")
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


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(d: dt.datetime) -> dt.datetime:
    return d if d.tzinfo is not None else d.replace(tzinfo=dt.UTC)


def _iso(d: dt.datetime) -> str:
    return _aware(d).strftime("%Y-%m-%dT%H:%M:%SZ")


def kit_to_json(kit: dict[str, Any]) -> str:
    return json.dumps(kit, indent=2)
