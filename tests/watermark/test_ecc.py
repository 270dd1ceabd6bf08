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


def _reference_encode(payload: int) -> np.ndarray:
    """The shift register stepped bit by bit: 64 payload bits, the CRC-16, six zeros."""
    message = [(payload >> (63 - i)) & 1 for i in range(64)]
    message += [(_ecc._crc(payload) >> (15 - i)) & 1 for i in range(16)] + [0] * 6
    state, out = 0, []
    for b in message:
        reg = (state << 1) | b
        out += [bin(reg & g).count("1") & 1 for g in (0o133, 0o171, 0o165)]
        state = reg & 63
    return np.array(out)


@settings(max_examples=200, deadline=None)
@given(payload=st.integers(0, (1 << 64) - 1))
def test_encode_is_the_shift_register(payload: int) -> None:
    assert np.array_equal(_ecc.encode(payload), _reference_encode(payload))


def _reference_viterbi(soft: np.ndarray) -> list[int]:
    """The maximum-likelihood terminated path, written as plainly as possible (a dict of path metrics per state,
    the survivor kept on ties as the decoder keeps it: the predecessor whose oldest bit is 0): the message bits."""
    steps = _ecc.MESSAGE_BITS + 6
    y = soft.reshape(steps, 3)
    metric = {0: (0.0, [])}
    for i in range(steps):
        nxt: dict[int, tuple[float, list[int]]] = {}
        for state in sorted(metric):  # predecessor j (oldest bit 0) before j + 32
            m, bits = metric[state]
            for b in (0, 1):
                reg = (state << 1) | b
                out = _ecc._OUT[reg]
                cand = m + float(np.dot(y[i], 1.0 - 2.0 * out))
                new = reg & 63
                if new not in nxt or cand > nxt[new][0]:
                    nxt[new] = (cand, [*bits, b])
        metric = nxt
    return metric[0][1]


def test_the_batched_trellis_finds_the_maximum_likelihood_path_ties_included() -> None:
    # decode_many against a plain per-state Viterbi, on noise, on noisy codewords and on small integers (every
    # step full of ties, where which survivor is kept decides the result).
    rng = np.random.default_rng(11)
    rows = [rng.normal(size=_ecc.CODED_BITS) for _ in range(6)]
    rows += [
        (1.0 - 2.0 * _ecc.encode(int(rng.integers(0, 2**63)))) + rng.normal(0, 1.2, _ecc.CODED_BITS) for _ in range(6)
    ]
    rows += [rng.integers(-1, 2, _ecc.CODED_BITS).astype(float) for _ in range(6)]
    for row, (payload, ok, coded) in zip(rows, _ecc.decode_many(np.stack(rows)), strict=True):
        bits = _reference_viterbi(row)
        assert payload == int("".join(map(str, bits[: _ecc.PAYLOAD_BITS])), 2)
        crc = int("".join(map(str, bits[_ecc.PAYLOAD_BITS : _ecc.MESSAGE_BITS])), 2)
        assert ok == (crc == _ecc._crc(payload) and not any(bits[_ecc.MESSAGE_BITS :]))
        assert np.array_equal(coded, _ecc.encode(payload))
