"""The key-derived tile: a 32x32 grid of chips, smoothly interpolated to a 128x128 periodic tile.

Cells are split by a key-derived permutation: 774 cells carry the 258 coded payload bits (3 cells each, each
cell with its own key-derived sign, so the tile shows no structure tied to the payload) and the other 250 cells
carry a pilot of key-derived signs. The pilot finds the cyclic shift and orientation, and its correlation gives
the detector's p-value: under the null hypothesis (an image that does not depend on the key), the pilot signs are
independent fair coin flips, so the correlation is a Rademacher sum whose tail Hoeffding's inequality bounds.

The interpolation ``tile = B @ chips @ B.T`` uses the periodic Dirichlet (ideal low-pass) kernel, so the chip
basis is orthogonal (B.T @ B = 4 I) and the decoder's matched filter is simply ``B.T @ tile @ B``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import _ecc

TILE = 128  # tile side, in canonical pixels
CELLS = 32  # chips per tile side
CELL = TILE // CELLS
REPEAT = 3  # cells per coded bit
N_PAYLOAD_CELLS = _ecc.CODED_BITS * REPEAT
N_PILOT_CELLS = CELLS * CELLS - N_PAYLOAD_CELLS


def _dirichlet_basis() -> np.ndarray:
    # B[i, j]: value at canonical pixel i of the band-limited pulse centred on cell j (periodic, real).
    x = (np.arange(TILE)[:, None] + 0.5) / CELL - 0.5 - np.arange(CELLS)[None, :]
    k = np.arange(1, CELLS // 2)
    kernel = 1.0 + 2.0 * np.cos(2 * np.pi * k[None, None, :] * x[..., None] / CELLS).sum(-1)
    return (kernel / CELLS).astype(np.float64)


BASIS = _dirichlet_basis()


@dataclass(frozen=True)
class KeyPattern:
    """Everything derived from one key (cached: deriving it costs a few milliseconds)."""

    pilot_cells: np.ndarray  # flat indices of the pilot cells
    pilot_signs: np.ndarray  # +-1 per pilot cell
    payload_cells: np.ndarray  # (CODED_BITS, REPEAT) flat indices
    payload_signs: np.ndarray  # (CODED_BITS, REPEAT) +-1 scrambling signs
    pilot_tile: np.ndarray  # (TILE, TILE) rendered pilot alone, for the shift search
    pilot_tile_fft_conj: np.ndarray


@lru_cache(maxsize=64)
def key_pattern(key: bytes) -> KeyPattern:
    seed = hashlib.blake2b(key, digest_size=32, person=b"assay-wm-tile-1").digest()
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big")))
    perm = rng.permutation(CELLS * CELLS)
    payload_cells = perm[:N_PAYLOAD_CELLS].reshape(_ecc.CODED_BITS, REPEAT)
    pilot_cells = np.sort(perm[N_PAYLOAD_CELLS:])
    pilot_signs = rng.integers(0, 2, size=N_PILOT_CELLS) * 2.0 - 1.0
    payload_signs = rng.integers(0, 2, size=(_ecc.CODED_BITS, REPEAT)) * 2.0 - 1.0
    chips = np.zeros(CELLS * CELLS)
    chips[pilot_cells] = pilot_signs
    pilot_tile = render(chips.reshape(CELLS, CELLS))
    return KeyPattern(
        pilot_cells=pilot_cells,
        pilot_signs=pilot_signs,
        payload_cells=payload_cells,
        payload_signs=payload_signs,
        pilot_tile=pilot_tile,
        pilot_tile_fft_conj=np.conj(np.fft.rfft2(pilot_tile)),
    )


def render(chips: np.ndarray) -> np.ndarray:
    return BASIS @ chips @ BASIS.T


def cells_of(tile: np.ndarray) -> np.ndarray:
    """Matched filter: the adjoint of :func:`render`, flattened."""
    return (BASIS.T @ tile @ BASIS).reshape(-1)


def payload_tile(key: bytes, payload: int) -> np.ndarray:
    """The full tile (pilot + coded payload), scaled to unit RMS."""
    kp = key_pattern(key)
    coded = _ecc.encode(payload)
    chips = np.zeros(CELLS * CELLS)
    chips[kp.pilot_cells] = kp.pilot_signs
    chips[kp.payload_cells] = (1.0 - 2.0 * coded[:, None]) * kp.payload_signs
    tile = render(chips.reshape(CELLS, CELLS))
    return tile / np.sqrt(np.mean(tile**2))
