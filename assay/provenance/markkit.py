"""Offline marking: the register issues a marking kit; a provider marks with it on its own machines, no network.

    kit = issue_kit(db, env, provider_id="acme", principal=principal, sequences=100_000)   # register side
    marker = OfflineMarker(kit, state_file)            # provider side, no network
    data, entry = marker.mark(png_bytes, system_id="acme-imagegen")

The entries are recorded later with :func:`assay.provenance.markrecord.record_batch`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

from assay import watermark
from assay.db import Database
from assay.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound
from assay.provenance.counter import KitCounter
from assay.provenance.credentials import SigningCredentials, signing_credentials
from assay.provenance.environment import ProvenanceEnv
from assay.provenance.keys import MAX_SEQUENCE, MarkId, WatermarkKey, binding_key
from assay.provenance.manifest import DEFAULT_TRAINING_MINING, ManifestFacts
from assay.provenance.markcore import b64, iso, make_marked, may_mark, refuse_marked, training_mining, utcnow
from assay.provenance.markkeys import new_namespace, system_key
from assay.provenance.media import MARKABLE_TYPES, decode_image
from assay.provenance.models import SequenceLease
from assay.register.access import Principal
from assay.register.service import get_provider, get_system, system_ids

__all__ = ["KIT_FORMAT", "MAX_KIT_SEQUENCES", "OfflineMarker", "issue_kit", "kit_to_json"]

MAX_KIT_SEQUENCES = 10_000_000
KIT_FORMAT = "assay-marking-kit/3"
_OLD_KIT_FORMATS = ("assay-marking-kit/1",)
# Kits from before the kits' field secret: they still mark, with version 2 of the watermark, whose tile an
# attacker can remove from the picture's own fold (docs/watermark.md); a new kit makes version 3.
_VERSION_2_KIT_FORMATS = ("assay-marking-kit/2",)


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
    never a register-wide key), the kits' watermark field secret (every kit's: its marks are version 3, whose
    field survives the removal of the tile by anyone without a kit), the provider's image-binding key, a fresh
    namespace's key with a lease of ``sequences`` marks, and the provider's signing certificate and key.
    """
    principal.require_provider(provider_id, action="get marking kits")
    if not (1 <= sequences <= min(MAX_KIT_SEQUENCES, MAX_SEQUENCE)):
        raise InvalidInput(
            f"a kit holds 1..{MAX_KIT_SEQUENCES:,} marks, not {sequences:,}",
            hint="ask for another kit when one runs out",
            problems=[FieldProblem("sequences", "out of range", f"1..{MAX_KIT_SEQUENCES}")],
        )
    now = now or utcnow()
    with db.read() as session:
        provider = get_provider(session, provider_id)
        if provider is None:
            raise NotFound(f"there is no provider {provider_id!r}", hint="register the provider first")
        ids = system_ids(session, provider_id=provider_id)
        systems = [s for s in (get_system(session, i) for i in ids) if s is not None and may_mark(s) is None]
    creds = signing_credentials(db, env, provider_id=provider_id, principal=principal, now=now)
    wm_keys = [system_key(db, env, system_id=s.id, provider_id=provider_id, now=now) for s in systems]
    with db.write() as session:
        ns = new_namespace(session, env, provider_id=provider_id, purpose="kit", now=now)
        ns.next_sequence = 1 + sequences
        session.add(SequenceLease(namespace=ns.number, start=1, end=1 + sequences, issued_at=now))
        number = ns.number
    return {
        "format": KIT_FORMAT,
        "register": env.config.base_url,
        "provider": {"id": provider.id, "name": provider.name, "url": env.url(provider.url_path)},
        "issued_at": iso(now),
        "watermark": {
            "alg": watermark.FIELD_ALGORITHM,
            "field_secret": b64(env.keys.kit_field_secret),
            "keys": [
                {"key_id": k.key_id, "system_id": k.system_id, "algorithm": k.algorithm, "key": b64(k.key)}
                for k in wm_keys
            ],
        },
        "binding": {"key": b64(binding_key(env.keys.master, provider_id))},
        "namespace": {"number": number, "key": b64(env.keys.namespace_key(number)), "start": 1, "end": 1 + sequences},
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
        if not isinstance(kit, dict) or kit.get("format") not in (KIT_FORMAT, *_VERSION_2_KIT_FORMATS):
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
            # A kit of format 2 has no field secret: it marks with version 2 (see ``version_2``).
            field = kit["watermark"].get("field_secret") if kit["format"] == KIT_FORMAT else None
            if kit["format"] == KIT_FORMAT and not field:
                raise KeyError("watermark.field_secret")
            self.field_secret = base64.b64decode(field) if field else None
            self.alg = watermark.FIELD_ALGORITHM if self.field_secret else watermark.ALGORITHM
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
        if self.field_secret is not None and len(self.field_secret) != watermark.FIELD_SECRET_BYTES:
            raise InvalidInput(
                "the marking kit's watermark field secret is damaged",
                hint="ask the register for a new kit ('assay keys kit')",
            )
        self.counter_file = counter_file
        self.counter = KitCounter(counter_file, start=self.start, end=self.end)

    @property
    def version_2(self) -> bool:
        """True for a kit from before the kits' field secret: its marks are version 2, whose tile can be removed
        from the picture's own fold; ask the register for a new kit."""
        return self.field_secret is None

    def _refuse_own_mark(self, pixels: Any, *, system_id: str, name: str, remark: bool) -> None:
        """The register refuses to mark an image that already carries an Assay mark whose credentials were
        stripped (``remark.refuse_remarking``); the kit does the same with what it holds: its own systems'
        watermark keys. It cannot see other providers' marks (it has no key of theirs, by design), so this
        catches a provider's own output fed back in, the common accident (a second mark garbles the first)."""
        from assay.provenance.evidence import _detect

        keys = tuple(self.wm_keys.values())
        facts, mark, _ = _detect(pixels, keys)
        if mark is None:
            return
        owner = next((k.system_id for k in keys if k.key_id == facts.key_id), None)
        if remark and owner == system_id:
            return
        raise Conflict(
            f"{name} already carries the Assay mark {mark.hex} of system {owner or 'unknown'} (found with this "
            "kit's key), even though its Content Credentials are gone: marking it again would garble that mark",
            hint="mark the original image, not a marked copy"
            + (" (or pass --remark / remark=True to re-mark your own system's output)" if owner == system_id else ""),
        )

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
        remark: bool = False,
    ) -> tuple[bytes, dict[str, Any]]:
        """Mark one image. Refused (:class:`~assay.errors.Conflict`, nothing taken from the counter) when the
        image already carries a mark of one of this kit's systems, even with its Content Credentials stripped;
        ``remark=True`` allows it only when that mark is the same system's, as the register's own marking does."""
        sysinfo = self.systems.get(system_id)
        if sysinfo is None:
            raise Forbidden(
                f"system {system_id!r} is not in this kit (it is not the provider's, or may not mark)",
                hint="systems in the kit: " + (", ".join(self.systems) or "none"),
            )
        img = decode_image(data, max_bytes=max_bytes, max_pixels=max_pixels, name=name, min_side=watermark.MIN_SIDE)
        refuse_marked(data, img.media_type, name)
        self._refuse_own_mark(img.pixels, system_id=system_id, name=name, remark=remark)
        media_type = img.media_type if img.media_type in MARKABLE_TYPES else "image/png"
        now = now or utcnow()
        mark = MarkId.mint(namespace=self.ns, sequence=self._next_sequence(), key=self.ns_key)
        facts = ManifestFacts(
            mark=mark,
            alg=self.alg,
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
        m = make_marked(
            img.pixels,
            media_type,
            mark=mark,
            facts=facts,
            wm_key=self.wm_keys[system_id],
            bind_key=self.bind_key,
            creds=self.creds,
            visible_label=visible_label,
            field_secret=self.field_secret,
        )
        entry = {
            "mark_id": mark.hex,
            "system_id": system_id,
            "system_version_number": sysinfo["version_number"],
            "created_at": iso(now),
            "sha256": m.sha256,
            "phash": m.phash,
            "width": m.width,
            "height": m.height,
            "media_type": m.media_type,
            "alg": self.alg,
            "manifest_id": m.manifest_id,
            "manifest": b64(m.manifest),
            "certificate_fingerprint": self.creds.fingerprint,
            "visible_label": visible_label,
            "key_id": self.wm_keys[system_id].key_id,
            "binding": b64(m.binding),
        }
        return m.data, entry


def kit_to_json(kit: dict[str, Any]) -> str:
    return json.dumps(kit, indent=2)
