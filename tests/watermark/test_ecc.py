"""The payload's error correction: CRC-16 inside a rate-1/3, K=7 convolutional code, soft Viterbi."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.watermark import _ecc


@settings(max_examples=60, deadline=None)
@given(payload=st.integers(0, (1 << 64) - 1), seed=st.integers(0, 2**32 - 1))
def test_decodes_through_errors_and_noise(payload: int, seed: int) -> None:
    coded = _ecc.encode(payload)
    assert coded.shape == (_ecc.CODED_BITS,)
    rng = np.random.default_rng(seed)
    soft = (1.0 - 2.0 * coded) + rng.normal(0, 0.5, coded.shape)
    flip = rng.choice(coded.size, size=8, replace=False)  # plus 8 hard errors
    soft[flip] *= -1
    decoded, ok, recoded = _ecc.decode(soft)
    assert ok and decoded == payload
    assert np.array_equal(recoded, coded)


def test_noise_alone_rarely_passes_the_crc() -> None:
    rng = np.random.default_rng(1)
    passes = sum(_ecc.decode(rng.normal(size=_ecc.CODED_BITS))[1] for _ in range(400))
    assert passes <= 2  # about 400 / 65536 expected


def test_erasures_are_tolerated() -> None:
    coded = _ecc.encode(0xFEEDFACECAFEBEEF)
    soft = 1.0 - 2.0 * coded.astype(float)
    soft[::3] = 0.0  # a third of the coded bits carry nothing
    decoded, ok, _ = _ecc.decode(soft)
    assert ok and decoded == 0xFEEDFACECAFEBEEF
