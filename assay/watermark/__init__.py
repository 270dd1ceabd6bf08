"""Assay's invisible image watermark: 64 bits, many keys, blind detection, a computed false-positive bound.

    >>> import numpy as np
    >>> from assay.watermark import KeyRing, embed, detect
    >>> acme, other = bytes(range(32)), bytes(range(1, 33))
    >>> ring = KeyRing([("acme-imagegen", acme), ("other-system", other)])
    >>> rng = np.random.default_rng(0)
    >>> ramp = np.linspace(40, 220, 512)[None, :, None] * np.ones((512, 1, 3))
    >>> pixels = np.clip(ramp + rng.normal(0, 12, (512, 512, 3)), 0, 255).astype(np.uint8)
    >>> marked = embed(pixels, 0x0123456789ABCDEF, key=acme)
    >>> found = detect(marked, keys=ring)
    >>> hex(found.payload), found.key_id, found.algorithm, found.p_value < 1e-6
    ('0x123456789abcdef', 'acme-imagegen', 'org.assay.watermark.2', True)

``embed`` adds a perceptually masked luma pattern (version 2, ``ALGORITHM``): a tile that repeats over the image
(a public sync and the keyed, encrypted payload) plus a keyed *binding field* that does not repeat. ``detect``
needs only the keys: it measures the tile lattice from the image's autocorrelation (so rescaling, rotation and
cropping are undone), folds the image onto one tile, aligns it with the public sync, screens every key of a
:class:`KeyRing` at once, decodes the best, and checks that the binding field of the decoded message is in
*this* image. A message whose binding is missing (a mark lifted from another image by folding) is reported
as ``unbound_payload``, never as ``payload``. Marks of version 1 (``LEGACY_ALGORITHM``) are still found,
and flagged as such in ``Detection.algorithm``. See docs/watermark.md (design, bound, threat model).

Images are RGB ``uint8`` arrays of shape (H, W, 3), at least 256x256; :func:`to_rgb` and :func:`from_rgb`
convert grey, RGBA, paletted and 16-bit Pillow images to that and back without losing alpha.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ..errors import FieldProblem
from . import _detect, _embed, _keys, _pattern, _v2, _v3
from ._input import KEY_BYTES, WatermarkError, check_key
from ._keys import KeyRing

__all__ = [
    "ALGORITHM",
    "FIELD_ALGORITHM",
    "FIELD_SECRET_BYTES",
    "KEY_BYTES",
    "LEGACY_ALGORITHM",
    "MIN_SIDE",
    "MAX_SIDE",
    "PAYLOAD_BITS",
    "P_THRESHOLD",
    "Detection",
    "KeyRing",
    "WatermarkError",
    "detect",
    "embed",
    "field_message",
    "from_rgb",
    "mark_origin",
    "tile_period",
    "to_rgb",
]

#: Stable identifier of the algorithm ``embed`` uses, for the C2PA soft-binding assertion (``alg``).
ALGORITHM = "org.assay.watermark.2"
#: Version 3: version 2 plus a non-repeating copy of the message laid out by the register's field secret
#: (``embed(..., field_secret=)``), found even when the tile is removed (``detect(..., field_secret=)``).
FIELD_ALGORITHM = _v3.ALGORITHM
#: Version 1 (one key, a pilot shared by every image, the payload in the clear): still detected, never made.
LEGACY_ALGORITHM = "org.assay.watermark.1"
PAYLOAD_BITS = 64
MIN_SIDE = 256
MAX_SIDE = 8192
P_THRESHOLD = _v2.P_THRESHOLD
FIELD_SECRET_BYTES = _v3.SECRET_BYTES


@dataclass(frozen=True)
class Detection:
    """What :func:`detect` found.

    ``payload`` is the 64-bit integer, or None when no complete mark was found with confidence: a complete mark
    is a message that decodes (CRC) with ``p_value`` below ``P_THRESHOLD`` *and* whose binding field is in this
    image. ``unbound_payload`` is a message that decodes with confidence but whose binding is missing: a mark
    copied from another image (or this one altered beyond what the binding survives); never treat it as a
    mark made on this picture. ``key_id`` names the ring's key that matched (None with ``key=``), and
    ``algorithm`` the version that found it (``ALGORITHM``, ``FIELD_ALGORITHM`` when a version-3 field binds or
    carries the message, or ``LEGACY_ALGORITHM``).

    ``p_value`` bounds the probability that an image without a mark of any of the keys tried scores at least as
    high (1.0 when nothing matched); ``binding_p_value`` the same for the binding alone, given the message. The
    rest is evidence and geometry: ``period_px`` (the tile period found, in pixels of this image; the marked
    image had ``tile_period(width, height)``), ``rotation_deg`` (the lattice's angle, within +-45 degrees),
    ``quarter_turns`` and ``flipped`` (the orientation found on top of it), ``offset_px`` (where a tile
    starts, modulo the period) and ``origin_px`` (where the mark starts in this image: the marked image's
    top-left pixel for version 2, its anchor for version 3 (:func:`mark_origin`); known only for bound marks,
    modulo 8 tiles on images larger than that). ``layer`` says where the message was read: ``"tile"``, or
    ``"field"`` for a version-3 mark whose tile was gone (read at the picture's anchors, ``origin_px`` then says
    where, or where the surviving public sync put the tile, ``origin_px`` then None).
    """

    payload: int | None
    p_value: float
    z_score: float = 0.0
    bit_agreement: float = 0.0
    crc_ok: bool = False
    period_px: float = 0.0
    rotation_deg: float = 0.0
    flipped: bool = False
    offset_px: tuple[float, float] = (0.0, 0.0)
    algorithm: str = ALGORITHM
    key_id: str | None = None
    unbound_payload: int | None = None
    binding_p_value: float = 1.0
    quarter_turns: int = 0
    origin_px: tuple[float, float] | None = None
    layer: str = "tile"

    @property
    def found(self) -> bool:
        return self.payload is not None

    def as_dict(self) -> dict[str, Any]:
        def hex64(value: int | None) -> str | None:
            return None if value is None else f"{value:016x}"

        return {
            "algorithm": self.algorithm,
            "layer": self.layer,
            "found": self.found,
            "payload": hex64(self.payload),
            "unbound_payload": hex64(self.unbound_payload),
            "key_id": self.key_id,
            "p_value": self.p_value,
            "binding_p_value": self.binding_p_value,
            "z_score": round(self.z_score, 3),
            "bit_agreement": round(self.bit_agreement, 4),
            "crc_ok": self.crc_ok,
            "period_px": round(self.period_px, 2),
            "rotation_deg": round(self.rotation_deg, 2),
            "quarter_turns": self.quarter_turns,
            "flipped": self.flipped,
            "offset_px": [round(self.offset_px[0], 1), round(self.offset_px[1], 1)],
            "origin_px": None if self.origin_px is None else [round(v, 1) for v in self.origin_px],
        }


def _check_payload(payload: Any) -> int:
    try:
        if isinstance(payload, bool):
            raise TypeError
        value = operator.index(payload)
    except TypeError:
        raise WatermarkError(
            f"The payload must be an integer, not {type(payload).__name__}.",
            hint="pass an int in [0, 2**64)",
            problems=[FieldProblem("payload", "not an integer", "use an int in [0, 2**64)")],
        ) from None
    if not 0 <= value < 1 << PAYLOAD_BITS:
        raise WatermarkError(
            f"The payload {value} does not fit in {PAYLOAD_BITS} unsigned bits.",
            hint="use an int in [0, 2**64)",
            problems=[FieldProblem("payload", "out of range", "use an int in [0, 2**64)")],
        )
    return value


def _check_pixels(pixels: Any) -> np.ndarray:
    if not isinstance(pixels, np.ndarray):
        raise WatermarkError(
            f"The image must be a numpy array, not {type(pixels).__name__}.",
            hint="convert a Pillow image with assay.watermark.to_rgb(image)",
            problems=[FieldProblem("pixels", "not a numpy array", "use to_rgb()")],
        )
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise WatermarkError(
            f"The image must be an RGB uint8 array of shape (H, W, 3), not {pixels.dtype} {pixels.shape}.",
            hint="convert grey, RGBA, paletted or 16-bit images with assay.watermark.to_rgb(image)",
            problems=[FieldProblem("pixels", "wrong dtype or shape", "use to_rgb()")],
        )
    h, w = pixels.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise WatermarkError(
            f"The image is {w}x{h} pixels; a mark needs at least {MIN_SIDE}x{MIN_SIDE}.",
            hint="mark images whose shorter side is at least 256 pixels",
            problems=[FieldProblem("pixels", "too small", f"at least {MIN_SIDE} px on each side")],
        )
    if max(h, w) > MAX_SIDE:
        raise WatermarkError(
            f"The image is {w}x{h} pixels; at most {MAX_SIDE} pixels per side are supported.",
            hint=f"downscale the image so its longer side is at most {MAX_SIDE} pixels",
            problems=[FieldProblem("pixels", "too large", f"at most {MAX_SIDE} px on each side")],
        )
    return np.ascontiguousarray(pixels)


def embed(pixels: np.ndarray, payload: int, *, key: bytes, field_secret: bytes | None = None) -> np.ndarray:
    """Return a marked copy of ``pixels`` (RGB uint8, (H, W, 3), sides 256..8192) carrying ``payload``.

    The mark is version 2 (``ALGORITHM``), or version 3 (``FIELD_ALGORITHM``) with ``field_secret``: the
    register's 32-byte secret that lays out a second, non-repeating copy of the message, which survives the
    removal of the repeating tile (only the register holds it: see docs/watermark.md). The per-image secret
    is the keyed encryption of ``payload``, so payloads must differ between images (the register's mark ids
    do): two images marked with the same key and payload carry the same mark.
    """
    rgb = _check_pixels(pixels)
    value = _check_payload(payload)
    secret = check_key(key)
    if field_secret is not None:
        return _embed.apply_delta(rgb, _v3.embed_luma_delta(rgb, secret, value, _v3.check_secret(field_secret)))
    return _embed.apply_delta(rgb, _v2.embed_luma_delta(rgb, secret, value))


def _embed_legacy(pixels: np.ndarray, payload: int, *, key: bytes) -> np.ndarray:
    """Version 1, for tests and the benchmark's side-by-side figures only: new marks are always version 2."""
    rgb = _check_pixels(pixels)
    tile = _pattern.payload_tile(check_key(key), _check_payload(payload))
    return _embed.apply_delta(rgb, _embed.embed_luma_delta(rgb, tile))


def mark_origin(pixels: np.ndarray, payload: int, *, key: bytes, field_secret: bytes) -> tuple[float, float]:
    """Where ``embed(pixels, payload, key=key, field_secret=field_secret)`` (version 3) starts its mark, (x, y)
    in pixels: one of the picture's anchors, points of its content that a crop moves with it, chosen by a
    keyed hash of the mark (the top-left pixel when the picture has none). Version 2 starts at the top-left
    pixel."""
    ciphertext = _keys.encrypt(check_key(key), _check_payload(payload))
    return _v3.mark_origin(_check_pixels(pixels), _v3.check_secret(field_secret), ciphertext)


def field_message(payload: int, *, key: bytes) -> int:
    """The 64-bit message a version-3 mark of ``payload`` made with ``key`` carries in its field (the keyed
    encryption of the payload, which names no key). A register that keeps it for each mark can name the key of
    a field read at once (``detect(..., lookup=)``) instead of decrypting the read under every key."""
    return _keys.encrypt(check_key(key), _check_payload(payload))


def tile_period(width: int, height: int) -> float:
    """The tile period, in pixels, that :func:`embed` uses for a ``width`` x ``height`` image.

    ``Detection.period_px / tile_period(W, H)`` is the scale of a checked copy relative to the W x H image
    that was marked."""
    return _embed.tile_period(int(height), int(width))


def detect(
    pixels: np.ndarray,
    *,
    key: bytes | None = None,
    keys: KeyRing | None = None,
    legacy_key: bytes | None = None,
    field_secret: bytes | Sequence[bytes] | None = None,
    accept: Callable[[str, int], bool] | None = None,
    lookup: Callable[[int], Iterable[str]] | None = None,
) -> Detection:
    """Look for a mark made with ``key`` or with any key of ``keys``. Blind: no original image, no stored state.

    Version-2 marks are looked for with ``key`` or the ring; version-1 marks with ``legacy_key``, which
    defaults to ``key`` when only ``key`` is given (so ``detect(pixels, key=k)`` finds what ``embed`` made
    with ``k`` in either version). The folding is shared: the legacy look costs about a millisecond.

    With ``field_secret``, version-3 marks are found too: through their tile like version 2, and, when the
    tile's message is gone (removed), through their field alone (``Detection.layer == "field"``). It may be a
    list of secrets (the register's own and its offline kits'): each is one more field layout, read on the
    same chip sums, and counted in every bound. The field
    names no key: every key's decryption of its message is offered to ``accept(key_id, payload)``, which
    says whether that payload is a mark (the register checks the mark id's keyed tag); the mark is reported
    only when exactly one key is accepted. Without ``accept`` a field alone reports nothing. ``lookup(message)``
    may name the keys whose recorded marks carry that field message (the register's index): those are offered
    to ``accept`` first, and one it takes is the mark, without decrypting under every key.

    Smaller images than 256x256 (a crop or a downscale of a marked image) are examined too, down to 64x64;
    below that nothing can be found and the result says so.
    """
    if (key is None) == (keys is None):
        raise WatermarkError(
            "Pass exactly one of key= and keys= to detect().",
            hint="detect(pixels, key=one_key) or detect(pixels, keys=KeyRing([(key_id, key), ...]))",
            problems=[FieldProblem("keys", "both or neither given", "pass one of key= and keys=")],
        )
    if keys is not None and not isinstance(keys, KeyRing):
        raise WatermarkError(
            f"keys= must be a KeyRing, not {type(keys).__name__}.",
            hint="build one with KeyRing([(key_id, key), ...]) and reuse it",
            problems=[FieldProblem("keys", "not a KeyRing", "use KeyRing(pairs)")],
        )
    ring = keys if keys is not None else _keys.single_ring(check_key(key))
    legacy = check_key(legacy_key) if legacy_key is not None else (check_key(key) if key is not None else None)
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        _check_pixels(pixels)  # raises the precise error
    secrets = _v3.check_secrets(field_secret) if field_secret is not None else ()
    if accept is not None and (not secrets or not callable(accept)):
        raise WatermarkError(
            "accept= must be a function (key_id, payload) -> bool, and needs field_secret=.",
            hint="pass the register's field secret with its mark check, or neither",
            problems=[FieldProblem("accept", "not callable or without field_secret", "pass both or neither")],
        )
    if lookup is not None and (accept is None or not callable(lookup)):
        raise WatermarkError(
            "lookup= must be a function (field message) -> key ids, and needs accept=.",
            hint="pass the register's index of its marks' field messages with its mark check, or neither",
            problems=[FieldProblem("lookup", "not callable or without accept", "pass accept= too, or no lookup")],
        )
    h, w = pixels.shape[:2]
    if max(h, w) > MAX_SIDE:
        _check_pixels(pixels)
    if min(h, w) < 64:
        return Detection(payload=None, p_value=1.0)
    found = _search(np.ascontiguousarray(pixels), ring, legacy, secrets, accept, lookup)
    if key is not None and isinstance(found, _v2.Found):
        found = dataclasses.replace(found, key_id=None)
    return _as_detection(found)


def _search(
    rgb: np.ndarray,
    ring: KeyRing,
    legacy: bytes | None,
    secrets: tuple[bytes, ...] = (),
    accept: Callable[[str, int], bool] | None = None,
    lookup: Callable[[int], Iterable[str]] | None = None,
) -> _v2.Found | _detect.Alignment:
    """Every lattice candidate, best first, until a complete mark is found; then (with the field secret and a
    mark check) the version-3 field; otherwise the strongest evidence.

    The field at the picture's anchors is read on the unaltered candidate (the picture's own period,
    unrotated), right after its tile when the picture repeats at that lattice yet no tile message was found (a
    removed tile: the other candidates are that lattice's multiples and diagonals, not worth folding first),
    else after every candidate. The field at each candidate's sync is read at the end."""
    best: _v2.Found | _detect.Alignment | None = None
    layers = _v3.bindings(secrets)
    field = bool(secrets) and accept is not None and len(ring) > 0  # without a mark check, none is named

    def rank(r: _v2.Found | _detect.Alignment) -> tuple[int, float]:
        unbound = isinstance(r, _v2.Found) and r.unbound_payload is not None
        return (1 if unbound else 0, -r.p_value)

    n = 0
    seen: list[tuple[_detect.FoldedTile, tuple[int, int, int, float]]] = []  # with the public sync's alignment
    anchored: list[_FieldRead] | None = None
    for n, folded in enumerate(_detect.folded_tiles(rgb), start=1):
        results: list[_v2.Found | _detect.Alignment] = []
        if len(ring):
            sync = _v2._align(folded)
            seen.append((folded, sync))
            # Version 3's tile at the anchors, for a copy whose public sync was subtracted: only for a caller who
            # reads no field (with the mark check, the field at the same anchors finds that copy, and the tile's
            # bound keeps its 6 alignments).
            starts = functools.partial(_v3.tile_alignments, folded) if secrets and not field else None
            results.append(_v2.evaluate(folded, ring, n, layers, sync, starts))
        if legacy is not None:
            results.append(dataclasses.replace(_detect.align_and_decode(folded, legacy), candidates_tried=n))
        for r in results:
            if r.payload is not None:
                return r
            if best is None or rank(r) > rank(best):
                best = r
        if field and folded.unaltered and folded.lattice is not None and folded.lattice.repeats_unaltered:
            anchored = _read_anchored(folded, secrets)
            if (found := _first_attributed(anchored, ring, accept, n, lookup)) is not None:
                return found
    if field:
        found = _field_only(seen, ring, secrets, accept, n, anchored, lookup)
        if found is not None:
            return found
    return best if best is not None else _v2.NOTHING


@dataclasses.dataclass(frozen=True)
class _FieldRead:
    """A version-3 field read: on which candidate, the read, and where (the sync's alignment, or where the
    field starts in the canonical frame)."""

    folded: _detect.FoldedTile
    read: _v3.FieldRead
    where: tuple[int, int, int] | tuple[float, float]
    rho: float = 1.0  # the candidate's period over the mark's (an anchored read's scale)

    @property
    def good(self) -> bool:
        return self.read.ok and self.read.p_value < P_THRESHOLD


def _read_anchored(unaltered: _detect.FoldedTile, secrets: tuple[bytes, ...]) -> list[_FieldRead]:
    return [_FieldRead(unaltered, *got) for got in _v3.read_anchored(unaltered, secrets)]


def _first_attributed(
    reads: list[_FieldRead],
    ring: KeyRing,
    accept: Callable[[str, int], bool] | None,
    tried: int,
    lookup: Callable[[int], Iterable[str]] | None = None,
) -> _v2.Found | None:
    """Each good read offered in turn, best first (the bound counts every read, whichever is attributed)."""
    for r in sorted((r for r in reads if r.good), key=lambda r: -r.read.z):
        if (found := _attributed(r, ring, accept, tried, lookup)) is not None:
            return found
    return None


def _field_only(
    candidates: list[tuple[_detect.FoldedTile, tuple[int, int, int, float]]],
    ring: KeyRing,
    secrets: tuple[bytes, ...],
    accept: Callable[[str, int], bool] | None,
    tried: int,
    anchored: list[_FieldRead] | None,
    lookup: Callable[[int], Iterable[str]] | None = None,
) -> _v2.Found | None:
    """A version-3 mark whose tile gave no complete mark: its field read at the picture's anchors (unless
    ``anchored`` is that read, made already), and on every lattice candidate whose public sync is significant (a
    crop or resize moved the origin: the sync gives the tile's phase, the header the tile offset), attributed by
    ``accept``. The anchored read has its own share of the false-positive budget (``_v3.ANCHORED_SHARE``); which
    candidates are read at their sync is decided by the sync alone, before any field is read, so the union bound
    of the rest counts exactly the positions read."""
    unaltered = next((f for f, _ in candidates if f.unaltered), None)
    aligned = [
        (f, al)
        for f, sync in candidates
        if (al := _v3.synced(sync)) is not None and not (f.unaltered and al == _v2.top_left_alignment(f))  # read
    ]
    reads: list[_FieldRead] = []
    # An anchored read made already was not a mark that ``accept`` takes: it is not offered again.
    if anchored is None and unaltered is not None:
        reads += _read_anchored(unaltered, secrets)
    share = _v3.ANCHORED_SHARE / (_v3.ANCHORED_SHARE - 1)
    positions = math.ceil(share * _v3.TILE_OFFSETS * len(aligned) * len(secrets))  # every secret's layout too
    reads += [_FieldRead(f, _v3.read_aligned(f, al, s, positions), al) for f, al in aligned for s in secrets]
    return _first_attributed(reads, ring, accept, tried, lookup)


def _attributed(
    field: _FieldRead,
    ring: KeyRing,
    accept: Callable[[str, int], bool] | None,
    tried: int,
    lookup: Callable[[int], Iterable[str]] | None = None,
) -> _v2.Found | None:
    """The mark a good field read stands for, when exactly one key's decryption of its message is a mark."""
    if not field.good:
        return None
    read, folded, alignment = field.read, field.folded, field.where
    accepted = _v3.attribute(read.ciphertext, ring, accept, lookup)
    if len(accepted) != 1:
        return None  # no key's decryption is a mark, or (about 1 in 65,000 per key) more than one
    index, payload = accepted[0]
    a, b = folded.basis
    if len(alignment) == 2:  # a read at an anchor (or the top-left pixel): where the mark starts
        start = _v2._to_input(folded, *alignment)
        geometry: dict[str, Any] = {"offset": start, "origin": start}
    else:  # a read at the sync's alignment: the tile's geometry as version 2 reports it
        index_v, sy, sx = alignment
        _, quarter, flip = folded.variants[index_v]
        r, c = _v2._unorient(float(sy), float(sx), quarter, flip)
        geometry = {
            "offset": _v2._to_input(folded, r, c),
            "origin": None,
            "quarter_turns": quarter,
            "flipped": bool(flip),
            "rotation_deg": math.degrees(math.atan2(b, a)),
        }
    return dataclasses.replace(
        _v2.NOTHING,
        **geometry,
        payload=payload,
        key_id=ring.ids[index],
        p_value=read.p_value,
        z=read.z,
        z_binding=read.z,
        binding_p_value=read.p_value,
        crc_ok=True,
        bit_agreement=read.bit_agreement,
        period=math.hypot(a, b) / folded.scale / field.rho,
        candidates_tried=tried,
        decoded=read.ciphertext,
        algorithm=_v3.ALGORITHM,
        layer="field",
    )


def _as_detection(found: _v2.Found | _detect.Alignment) -> Detection:
    if isinstance(found, _detect.Alignment):
        return Detection(
            payload=found.payload,
            p_value=found.p_value,
            z_score=found.z,
            bit_agreement=found.bit_agreement,
            crc_ok=found.crc_ok,
            period_px=found.period,
            rotation_deg=found.rotation_deg,
            flipped=found.flipped,
            offset_px=found.offset,
            algorithm=LEGACY_ALGORITHM,
        )
    return Detection(
        payload=found.payload,
        p_value=found.p_value,
        z_score=found.z,
        bit_agreement=found.bit_agreement,
        crc_ok=found.crc_ok,
        period_px=found.period,
        rotation_deg=found.rotation_deg,
        flipped=found.flipped,
        offset_px=found.offset,
        algorithm=found.algorithm,
        layer=found.layer,
        key_id=found.key_id,
        unbound_payload=found.unbound_payload,
        binding_p_value=found.binding_p_value,
        quarter_turns=found.quarter_turns,
        origin_px=found.origin,
    )


def to_rgb(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Pillow image (any mode: grey, RGBA, LA, paletted, 16-bit, CMYK...) -> (RGB uint8 array, alpha or None).

    16-bit and float images are scaled to 8 bits; the alpha channel (also a palette's transparency) is returned
    separately so :func:`from_rgb` can put it back unchanged.
    """
    if not isinstance(image, Image.Image):
        raise WatermarkError(
            f"Expected a Pillow image, not {type(image).__name__}.",
            hint="open the file with PIL.Image.open(path)",
        )
    alpha: np.ndarray | None = None
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or (mode == "I" and arr.max(initial=0) > 255) else 255.0
        if mode == "F":
            top = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        grey = np.clip(np.rint(arr / top * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2), None
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        alpha = np.asarray(image.getchannel("A")).copy()
        image = image.convert("RGBA").convert("RGB") if mode != "RGBA" else image.convert("RGB")
    else:
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8).copy(), alpha


def from_rgb(pixels: np.ndarray, alpha: np.ndarray | None = None, *, mode: str | None = None) -> Image.Image:
    """RGB uint8 array (+ the alpha from :func:`to_rgb`) -> Pillow image; ``mode="L"`` for a grey original.

    A grey original is returned grey (the mark is a luma pattern, so nothing is lost); alpha is re-attached.
    """
    rgb = _check_pixels(pixels) if min(pixels.shape[:2]) >= MIN_SIDE else np.ascontiguousarray(pixels)
    image = Image.fromarray(rgb, "RGB")
    if mode in ("L", "LA", "I;16", "I", "F"):
        image = image.convert("L")
    if alpha is not None:
        if alpha.shape != rgb.shape[:2]:
            raise WatermarkError(
                f"The alpha channel is {alpha.shape[1]}x{alpha.shape[0]}, the image {rgb.shape[1]}x{rgb.shape[0]}.",
                hint="pass the alpha returned by to_rgb() for this same image",
            )
        image = image.convert("LA" if image.mode == "L" else "RGBA")
        image.putalpha(Image.fromarray(np.asarray(alpha, dtype=np.uint8), "L"))
    return image
