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

The pieces are split by responsibility: :mod:`~assay.provenance.markcore` (who may mark, the pure making of
a marked file), :mod:`~assay.provenance.markkeys` (namespaces and watermark keys),
:mod:`~assay.provenance.markkit` (kits, offline marking) and :mod:`~assay.provenance.markrecord` (recording
offline batches). This module is online marking, and re-exports the public names of the others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from assay import watermark
from assay.db import Database
from assay.errors import FieldProblem, Forbidden, InvalidInput, NotFound, TooLarge
from assay.provenance.credentials import signing_credentials
from assay.provenance.environment import ProvenanceEnv
from assay.provenance.fieldindex import entry as field_entry
from assay.provenance.keys import MarkId, binding_key
from assay.provenance.manifest import ManifestFacts
from assay.provenance.markcore import (
    IMAGE_CAPABILITY,
    MAX_BATCH,
    iso,
    log_body,
    make_marked,
    may_mark,
    refuse_marked,
    training_mining,
    utcnow,
)
from assay.provenance.markkeys import allocate, list_namespaces, list_watermark_keys, revoke_namespace, system_key
from assay.provenance.markkit import KIT_FORMAT, OfflineMarker, issue_kit, kit_to_json
from assay.provenance.markrecord import record_batch
from assay.provenance.media import MARKABLE_TYPES, decode_image
from assay.provenance.models import MarkRecord
from assay.provenance.remark import refuse_remarking
from assay.register.access import Principal
from assay.register.service import SystemView, get_provider, get_system
from assay.transparency import record

__all__ = [
    "KIT_FORMAT",
    "MAX_BATCH",
    "MarkResult",
    "OfflineMarker",
    "issue_kit",
    "kit_to_json",
    "list_namespaces",
    "list_watermark_keys",
    "mark_images",
    "may_mark",
    "record_batch",
    "revoke_namespace",
    "system_key",
]


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
            "created_at": iso(self.created_at),
            "bytes": len(self.data),
        }


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
        alg=watermark.FIELD_ALGORITHM,  # online marks are version 3: the register holds the field secret
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


def _decode_for_marking(env: ProvenanceEnv, data: bytes, name: str) -> tuple[np.ndarray, str]:
    img = decode_image(
        data,
        max_bytes=env.config.max_upload_bytes,
        max_pixels=env.config.max_pixels,
        name=name,
        min_side=watermark.MIN_SIDE,
    )
    refuse_marked(data, img.media_type, name)
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
    now = now or utcnow()
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
    marks = allocate(db, env, provider_id=system.provider_id, count=len(images), now=now)
    wm_key = system_key(db, env, system_id=system.id, provider_id=system.provider_id, now=now)
    bind_key = binding_key(env.keys.master, system.provider_id)
    # 4. the slow part, outside any transaction
    made = []
    for (pixels, media_type), mark in zip(decoded, marks, strict=True):
        facts = _facts(env, system, env.url(provider.url_path), mark, now, visible_label)
        made.append(
            make_marked(
                pixels,
                media_type,
                mark=mark,
                facts=facts,
                wm_key=wm_key,
                bind_key=bind_key,
                creds=creds,
                visible_label=visible_label,
                field_secret=env.keys.field_secret,
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
                alg=watermark.FIELD_ALGORITHM,
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
            if (indexed := field_entry(m.mark, wm_key)) is not None:
                session.add(indexed)
            row.log_index = record(session, "mark.recorded", log_body(row))
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
