"""The pure half of a check: bytes in, :class:`Evidence` out. No database, no private key, nothing written.

:func:`examine` is the CPU work of a check (decoding, C2PA validation, watermark detection, hashes) and needs
only a :class:`VerifierMaterial`: the watermark detection keys, the C2PA trust anchors and the register's
signing certificates (public facts: who owns which, which are revoked). The server builds the material from
its data folder and database without opening the CA's private key, and may ship it to worker processes (both
are picklable); :func:`assay.provenance.resolve_many` then turns many evidences into verdicts with one query::

    material = VerifierMaterial.from_register(db, config)       # once, where the database is
    evidence = examine(data, material, name="photo.jpg")         # anywhere, in parallel
    [verdict] = resolve_many([evidence], db, config)             # one query per batch

Steps of :func:`examine`, on the bytes in memory only (never stored, never logged):

1. decode the image under the material's size and pixel limits (bad input -> a precise AssayError);
2. read and validate the embedded C2PA manifest against the trust anchors, downgraded to ``invalid`` when its
   certificate is one the register revoked;
3. name the registered provider whose certificate signed it (trusted credentials only);
4. look for Assay's watermark with every detection key of the material at once (a KeyRing), and the legacy
   register-wide key for version-1 marks;
5. take the candidate marks: the watermark's, and the soft binding of the manifest (whatever its state:
   :func:`~assay.provenance.resolve_many` decides what counts);
6. hash: SHA-256 of the file, and, when there is a mark to compare with, the perceptual hash and the image
   probe the register compares with its secret fingerprint of the recorded picture.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select

from assay import watermark
from assay.config import Config
from assay.db import Database
from assay.db.types import aware
from assay.errors import InvalidInput
from assay.provenance.ca import load_chain, read_anchors_pem
from assay.provenance.fieldindex import FieldIndex
from assay.provenance.keys import FieldMaterial, MarkId, WatermarkKey, load_field_material, load_watermark_keys
from assay.provenance.manifest import ManifestReport, read_manifest
from assay.provenance.media import decode_image, perceptual_hash, sha256_hex
from assay.provenance.models import SigningCertificate

__all__ = ["DetectionFacts", "Evidence", "RegisteredSigner", "VerifierMaterial", "examine", "material_for"]

log = logging.getLogger("assay.provenance")

REVOKED_CODE = "signingCredential.revoked"


@dataclass(frozen=True)
class RegisteredSigner:
    """A claim-signing certificate the register holds for a provider (public facts only)."""

    provider_id: str
    fingerprint: str
    revoked_on: str | None = None  # YYYY-MM-DD, when the register revoked it


@dataclass(frozen=True)
class VerifierMaterial:
    """Everything :func:`examine` needs, and nothing that can sign: picklable, safe to ship to workers.

    ``watermark_keys`` detect marks (the watermark is symmetric: whoever holds them could also embed, so they
    go only to the register's own workers, never to pages or logs); ``anchors_pem`` are the published trust
    anchors; ``signers`` maps a certificate's (issuer, serial) to the provider it was registered for.
    """

    watermark_keys: tuple[WatermarkKey, ...]
    anchors_pem: bytes
    signers: Mapping[tuple[tuple[tuple[str, str], ...], int], RegisteredSigner] = field(default_factory=dict)
    revoked_serials: Mapping[int, str] = field(default_factory=dict)  # serial -> YYYY-MM-DD
    max_bytes: int = 50_000_000
    max_pixels: int = 80_000_000
    field_material: FieldMaterial | None = None  # reads version 3's fields (the register's secret, its kits')
    # Names the key of a field's message (the register's index of its marks'); a worker's copy names nothing.
    field_index: Callable[[int], Iterable[str]] | None = None

    def __repr__(self) -> str:  # keys never end up in logs or tracebacks
        return (
            f"VerifierMaterial({len(self.watermark_keys)} watermark keys, {len(self.signers)} certificates, "
            f"{len(self.revoked_serials)} revoked)"
        )

    @classmethod
    def from_register(cls, db: Database, config: Config) -> VerifierMaterial:
        """Read the material from the data folder and the database. Opens no private key and creates nothing:
        on a fresh folder it is empty (no keys, no anchors), and every image checks as unmarked."""
        data_dir = Path(config.data_dir)
        with db.read() as session:
            certs = session.execute(
                select(
                    SigningCertificate.provider_id,
                    SigningCertificate.fingerprint,
                    SigningCertificate.serial,
                    SigningCertificate.chain_pem,
                    SigningCertificate.revoked_at,
                )
            ).all()
            keys = load_watermark_keys(data_dir, session)
            field_material = load_field_material(data_dir, session)
        signers: dict[tuple[tuple[tuple[str, str], ...], int], RegisteredSigner] = {}
        revoked: dict[int, str] = {}
        for provider_id, fp, serial, chain_pem, revoked_at in certs:
            when = aware(revoked_at).strftime("%Y-%m-%d") if revoked_at is not None else None
            serial_int = _hex_int(serial)
            if serial_int is None:
                continue
            if when is not None:
                revoked[serial_int] = when
            try:
                leaf = load_chain(chain_pem.encode())[0]
            except (InvalidInput, IndexError):
                continue
            issuer = tuple(sorted((a.rfc4514_attribute_name, str(a.value)) for a in leaf.issuer))
            signers[(issuer, serial_int)] = RegisteredSigner(provider_id=provider_id, fingerprint=fp, revoked_on=when)
        return cls(
            watermark_keys=keys,
            anchors_pem=read_anchors_pem(data_dir),
            signers=signers,
            revoked_serials=revoked,
            max_bytes=config.max_upload_bytes,
            max_pixels=config.max_pixels,
            field_material=field_material,
            field_index=FieldIndex(db) if field_material is not None else None,
        )


_materials: dict[tuple[int, str], tuple[Any, VerifierMaterial]] = {}
_materials_lock = threading.Lock()


def material_for(db: Database, config: Config) -> VerifierMaterial:
    """The material of this database and data folder, rebuilt only when something it holds changed.

    Costs one small statement per call (counts of the certificate and key tables, so a revocation made by
    another process counts at once) and a few ``stat`` calls on the anchor and key files."""
    data_dir = Path(config.data_dir)
    stamp = (_files_stamp(data_dir), _db_stamp(db), config.max_upload_bytes, config.max_pixels)
    key = (id(db), str(data_dir.resolve()))
    with _materials_lock:
        cached = _materials.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    material = VerifierMaterial.from_register(db, config)
    with _materials_lock:
        _materials[key] = (stamp, material)
    return material


def _files_stamp(data_dir: Path) -> tuple[Any, ...]:
    out: list[Any] = []
    for rel in (
        "provenance/ca/root.pem",
        "provenance/ca/accepted-anchors.pem",
        "provenance/keys/watermark.key",
        "provenance/keys/master.key",
    ):
        try:
            st = os.stat(data_dir / rel)
            out.append((st.st_mtime_ns, st.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


def _db_stamp(db: Database) -> tuple[Any, ...]:
    from assay.provenance.keys import key_table_stamp

    stamp = [
        select(func.count(SigningCertificate.id)).scalar_subquery(),
        select(func.max(SigningCertificate.id)).scalar_subquery(),
        select(func.count(SigningCertificate.revoked_at)).scalar_subquery(),
        *key_table_stamp(),
    ]
    with db.engine.connect() as conn:
        row = conn.execute(select(*stamp)).one()
    return tuple(row)


@dataclass(frozen=True)
class DetectionFacts:
    """What the watermark detector found, with the key that found it."""

    found: bool
    p_value: float
    algorithm: str = watermark.ALGORITHM
    key_id: str | None = None
    key_provider: str | None = None  # whose key found it (None: the legacy register-wide key)
    key_system: str | None = None
    z_score: float = 0.0
    bit_agreement: float = 0.0
    crc_ok: bool = False
    period_px: float = 0.0
    rotation_deg: float = 0.0
    flipped: bool = False
    offset_px: tuple[float, float] = (0.0, 0.0)
    failed: bool = False  # the detector raised (a bug): a mark may have been missed
    layer: str = "tile"  # where the message was read: the repeating tile, or version 3's field alone

    def as_dict(self, *, oversight: bool = False) -> dict[str, Any]:
        """The public form: found or not, by which algorithm and key. Raw scores (which help anyone tuning a
        removal attack) only with ``oversight=True``."""
        out: dict[str, Any] = {"algorithm": self.algorithm, "found": self.found, "key_id": self.key_id}
        if self.failed:
            out["error"] = "the watermark detector failed on this image"
        if oversight:
            out |= {
                "p_value": 1.0 if self.failed else self.p_value,
                "z_score": round(self.z_score, 3),
                "bit_agreement": round(self.bit_agreement, 4),
                "crc_ok": self.crc_ok,
                "period_px": round(self.period_px, 2),
                "rotation_deg": round(self.rotation_deg, 2),
                "flipped": self.flipped,
                "offset_px": [round(self.offset_px[0], 1), round(self.offset_px[1], 1)],
                "layer": self.layer,
            }
        return out


@dataclass(frozen=True)
class Evidence:
    """The facts :func:`examine` found in one file. Holds no pixels beyond the small probe, and is dropped
    after resolution: never stored, never logged."""

    name: str
    media_type: str
    width: int
    height: int
    sha256: str
    manifest: ManifestReport
    detection: DetectionFacts
    watermark_mark: MarkId | None = None
    # False when the watermark's own binding field is missing from this picture (a version-2 mark lifted from
    # another image, or this one altered beyond what that field survives): the register's fingerprint decides.
    watermark_bound: bool = False
    manifest_mark: MarkId | None = None
    signer: RegisteredSigner | None = None  # the registered certificate that signed trusted credentials
    phash: str | None = None
    probe: Any = None  # assay.provenance.binding.Probe, when a mark was found (compared with the record)

    @property
    def mark(self) -> MarkId | None:
        """The mark to resolve: the watermark's, else a trusted manifest's soft binding."""
        if self.watermark_mark is not None:
            return self.watermark_mark
        if self.manifest.state == "trusted":
            return self.manifest_mark
        return None

    @property
    def mark_source(self) -> str:
        if self.watermark_mark is not None:
            return "watermark"
        return "manifest" if self.mark is not None else ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.name or None,
            "media_type": self.media_type,
            "width": self.width,
            "height": self.height,
            "sha256": self.sha256,
            "manifest": self.manifest.as_dict(),
            "watermark": self.detection.as_dict(),
            "mark_id": self.mark.hex if self.mark else None,
            "mark_source": self.mark_source or None,
        }


def examine(data: bytes, material: VerifierMaterial, *, name: str = "the file") -> Evidence:
    """Examine one file held in memory. Pure: no database, no private key, nothing written or logged.
    Raises :class:`~assay.errors.AssayError` only for input that cannot be checked at all (step 1)."""
    # 1.
    img = decode_image(
        data, max_bytes=material.max_bytes, max_pixels=material.max_pixels, name=name, work_side=watermark.MAX_SIDE
    )
    # 2.
    manifest = _unless_revoked(read_manifest(data, img.media_type, anchors_pem=material.anchors_pem), material)
    # 3.
    signer = None
    if manifest.state == "trusted":
        serial = _cert_serial(manifest.cert_serial)
        if serial is not None:
            signer = material.signers.get((manifest.cert_issuer, serial))
    # 4.
    detection, wm_mark, bound = _detect(
        img.pixels, material.watermark_keys, material.field_material, material.field_index
    )
    # 5.
    manifest_mark = manifest_soft_binding(manifest)
    # 6.
    phash = probe = None
    if wm_mark is not None or manifest_mark is not None:
        from assay.provenance.binding import make_probe

        phash = perceptual_hash(img.pixels)
        probe = make_probe(img.pixels, detection)
    return Evidence(
        name=name,
        media_type=img.media_type,
        width=img.width,
        height=img.height,
        sha256=sha256_hex(data),
        manifest=manifest,
        detection=detection,
        watermark_mark=wm_mark,
        watermark_bound=bound,
        manifest_mark=manifest_mark,
        signer=signer,
        phash=phash,
        probe=probe,
    )


def _detect(
    pixels: np.ndarray,
    keys: tuple[WatermarkKey, ...],
    field_material: FieldMaterial | None = None,
    field_index: Callable[[int], Iterable[str]] | None = None,
) -> tuple[DetectionFacts, MarkId | None, bool]:
    """Look for a mark with every key at once (the watermark's KeyRing screens them together; the legacy
    register-wide key reads version-1 marks; with ``field_material``, version 3's field is read too, even where
    the tile was removed; ``field_index`` names a field message's key at once). Returns the facts, the mark id,
    and whether the mark is bound to this picture (False: the watermark's own binding field is missing, as in a
    mark lifted from another image)."""
    if not keys:
        return DetectionFacts(found=False, p_value=1.0, key_id=None), None, False
    ring, legacy, by_id = _ring(keys)
    px = _for_detection(pixels)
    try:
        if len(ring):
            found = watermark.detect(
                px,
                keys=ring,
                legacy_key=legacy.key if legacy else None,
                field_secret=field_material.secrets if field_material is not None else None,
                accept=(lambda key_id, payload: field_material.accept(by_id[key_id], payload))
                if field_material is not None
                else None,
                lookup=field_index if field_material is not None else None,
            )
        else:
            assert legacy is not None
            found = watermark.detect(px, key=legacy.key)
    except watermark.WatermarkError:
        raise
    except Exception:  # noqa: BLE001 - logged without the image; the verdict says the detector failed
        log.exception("the watermark detector failed on a %dx%d image", pixels.shape[1], pixels.shape[0])
        return DetectionFacts(found=False, p_value=1.0, failed=True), None, False
    payload = found.payload if found.payload is not None else getattr(found, "unbound_payload", None)
    key = None
    if payload is not None:
        key = by_id.get(found.key_id) if found.key_id is not None else legacy
        if found.algorithm == getattr(watermark, "LEGACY_ALGORITHM", "") or (key is None and legacy is not None):
            key = legacy if found.key_id is None else key
    facts = DetectionFacts(
        found=payload is not None and key is not None,
        p_value=found.p_value,
        algorithm=found.algorithm,
        key_id=key.key_id if key is not None and payload is not None else None,
        key_provider=key.provider_id if key is not None and payload is not None else None,
        key_system=key.system_id if key is not None and payload is not None else None,
        z_score=found.z_score,
        bit_agreement=found.bit_agreement,
        crc_ok=found.crc_ok,
        period_px=found.period_px,
        rotation_deg=found.rotation_deg,
        flipped=found.flipped,
        offset_px=found.offset_px,
        layer=found.layer,
    )
    if payload is None or key is None:
        return facts, None, False
    return facts, key.mark_of(payload), found.payload is not None


_rings: dict[bytes, tuple[Any, WatermarkKey | None, dict[str, WatermarkKey]]] = {}
_rings_lock = threading.Lock()


def _ring(keys: tuple[WatermarkKey, ...]) -> tuple[Any, WatermarkKey | None, dict[str, WatermarkKey]]:
    """The KeyRing of the system keys (built once per process and key set: ~50 us a key), and the legacy key."""
    # Cached by the keys themselves (hashed), not their ids: the legacy key has the same id in every register.
    ids = hashlib.sha256(b"".join(k.key_id.encode() + b"\x00" + k.key for k in keys)).digest()
    with _rings_lock:
        cached = _rings.get(ids)
    if cached is not None:
        return cached
    system = [k for k in keys if not k.legacy]
    legacy = next((k for k in keys if k.legacy), None)
    ring = watermark.KeyRing([(k.key_id, k.key) for k in system])
    value = (ring, legacy, {k.key_id: k for k in system})
    with _rings_lock:
        if len(_rings) > 16:
            _rings.clear()
        _rings[ids] = value
    return value


def detect_safely(pixels: np.ndarray, key: bytes) -> watermark.Detection:
    """Run the detector; a failure inside it (a bug, not bad input: the pixels were decoded and checked)
    becomes "nothing found" with a NaN p-value, so one odd image never turns a check into a crash."""
    try:
        return watermark.detect(_for_detection(pixels), key=key)
    except watermark.WatermarkError:
        raise
    except Exception:  # noqa: BLE001 - logged without the image; the verdict says the detector failed
        log.exception("the watermark detector failed on a %dx%d image", pixels.shape[1], pixels.shape[0])
        return watermark.Detection(payload=None, p_value=float("nan"))


def _for_detection(pixels: np.ndarray) -> np.ndarray:
    h, w = pixels.shape[:2]
    if max(h, w) <= watermark.MAX_SIDE:
        return pixels
    # Larger than the detector takes: a box-filtered integer downscale (the mark survives resizing).
    from PIL import Image

    factor = -(-max(h, w) // watermark.MAX_SIDE)
    return np.asarray(Image.fromarray(pixels, "RGB").reduce(factor), dtype=np.uint8)


def manifest_soft_binding(manifest: ManifestReport) -> MarkId | None:
    """The mark a manifest's Assay soft binding names, whatever the manifest's state (None if none)."""
    from assay.provenance.keys import binding_algorithms

    for alg, value in manifest.soft_bindings:
        if alg in binding_algorithms():
            try:
                return MarkId.from_binding(value)
            except Exception:  # noqa: BLE001 - a malformed binding in a hostile file is just "no mark"
                return None
    return None


def _unless_revoked(manifest: ManifestReport, material: VerifierMaterial) -> ManifestReport:
    """The report, downgraded to ``invalid`` when its signing certificate is one the register revoked.

    c2pa's Reader checks the chain to the anchors but knows nothing of the register's revocations (the CRL is
    published, not consulted offline), so a revoked key would otherwise still sign "trusted" credentials.
    Matched by serial number: a collision can only make a check stricter, never looser."""
    if manifest.state not in ("trusted", "valid") or not manifest.cert_serial:
        return manifest
    serial = _cert_serial(manifest.cert_serial)
    revoked_on = material.revoked_serials.get(serial) if serial is not None else None
    if revoked_on is None:
        return manifest
    failure = {
        "code": REVOKED_CODE,
        "explanation": f"the signing certificate was revoked by the register on {revoked_on}",
    }
    return replace(manifest, state="invalid", failures=(*manifest.failures, failure))


def _cert_serial(text: str) -> int | None:
    # c2pa reports the serial in decimal; accept hexadecimal too.
    try:
        return int(text, 10)
    except ValueError:
        return _hex_int(text)


def _hex_int(text: str) -> int | None:
    try:
        return int(text, 16)
    except ValueError:
        return None
