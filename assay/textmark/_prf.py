"""The keyed pseudo-random values behind the text watermark (numpy; the torch twin is in ``processors``).

For a key, a context of ``h`` token ids ``c_1..c_h`` and a candidate token ``v``, ``u(key, c, v)`` is a 64-bit
value; its top 52 bits ``m`` give ``r = (m + 1/2) / 2**52`` in (0, 1). Written by hand because it has to be
bit-identical in numpy (detection, no torch) and in torch (generation, on any device, over the whole
vocabulary at every step); no library offers one function for both. The mixer is SplitMix64's finaliser
(Steele, Lea and Flood 2014), keyed with four 64-bit words of the system's 32-byte secret:

    s_0 = k0;   s_i = mix(s_i-1 XOR (c_i * G + k1))   (i = 1..h)
    seed = mix(s_h XOR k2)
    t_v  = mix((v * G) XOR k3)                         (a per-key table over the vocabulary)
    u    = mix(seed XOR t_v)

It is not a cryptographic PRF. What the p-value needs is that, for a text chosen without the key, the values
of distinct (context, token) pairs behave as independent uniforms; what secrecy needs is that they cannot be
predicted without the key, which rests on the 256-bit secret and the mixer's avalanche (docs/text-provenance.md
states the limits: a key can be *learned* from many marked texts of one system, as for every such scheme).
"""

from __future__ import annotations

import numpy as np

__all__ = ["GOLDEN", "M1", "M2", "TWO52", "context_seeds", "key_words", "mantissas", "token_table"]

M1 = 0xBF58476D1CE4E5B9
M2 = 0x94D049BB133111EB
GOLDEN = 0x9E3779B97F4A7C15
TWO52 = float(1 << 52)
_U64 = np.uint64


def key_words(secret: bytes) -> tuple[int, int, int, int]:
    """The four 64-bit words of a 32-byte secret (little-endian)."""
    if len(secret) != 32:
        raise ValueError("a text watermark secret is 32 bytes")
    return tuple(int.from_bytes(secret[i : i + 8], "little") for i in range(0, 32, 8))  # type: ignore[return-value]


def mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on a uint64 array (wrapping arithmetic)."""
    x = np.asarray(x, dtype=_U64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> _U64(30))) * _U64(M1)
        x = (x ^ (x >> _U64(27))) * _U64(M2)
        return x ^ (x >> _U64(31))


def _words(words: tuple) -> list[np.ndarray]:
    # Each word is an int or a (K, 1) array (K keys at once: the results get a leading axis of K).
    return [np.asarray(w, dtype=_U64) for w in words]


def context_seeds(contexts: np.ndarray, words: tuple) -> np.ndarray:
    """One seed per row of ``contexts`` (shape (n, h), oldest token first)."""
    k0, k1, k2, _ = _words(words)
    ctx = np.asarray(contexts, dtype=np.int64).astype(_U64)
    s = k0 ^ np.zeros(ctx.shape[0], dtype=_U64)
    with np.errstate(over="ignore"):
        for i in range(ctx.shape[1]):
            s = mix(s ^ (ctx[:, i] * _U64(GOLDEN) + k1))
    return mix(s ^ k2)


def token_table(tokens: np.ndarray, words: tuple) -> np.ndarray:
    """``t_v`` for the given token ids."""
    with np.errstate(over="ignore"):
        return mix((np.asarray(tokens, dtype=np.int64).astype(_U64) * _U64(GOLDEN)) ^ _words(words)[3])


def mantissas(seeds: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The 52-bit integers ``m`` (as float64, exact) for pairs (seed, t_v) of equal shape."""
    return (mix(seeds ^ table) >> _U64(12)).astype(np.float64)
