"""Probe for version 3 (issue 9): what reading a non-repeating message layer with 1,000 keys costs, and what a
cheap layout gives away. ``python -m bench.watermark.adversarial.v3_costs`` (a few minutes on one core; prints
a summary, which REMOVAL.md reports).

1. Reading the layer of ``nonrepeating_probe`` (per key: which torus chip carries which coded bit, and its sign,
   both secret) for every key of a 1,000-key ring, two ways: one sparse product (scipy CSR, float32) and a
   gather through each key's permutation stored as uint16. Timed on one core, CPU time.
2. A layout that makes the read cheap: the chip -> coded-bit grouping public (the same for every key), only the
   signs secret, so the ring's signs pack into bits and every key is screened with XOR + popcount on the signs of
   the chip sums (8 MB for 1,000 keys). Timed the same way.
3. What that cheap layout gives away: N marked 512 x 512 images of one system, aligned (one size, one origin),
   their chip sums per public group, and the top singular vector of each group's N x chips matrix: the share of
   the key's secret signs recovered (up to one sign per group), for N = 10, 50, 200.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
from scipy import sparse

from assay.watermark import _ecc, _keys

from . import attacks as adv
from . import nonrepeating_probe as nr
from .run import KEY_V2, _payload

N = _keys.BIND_TORUS
K = 1000
GROUP = (N * N) // _ecc.CODED_BITS  # 254 chips per coded bit
_pub = np.random.Generator(np.random.PCG64(7)).permutation(N * N)[: GROUP * _ecc.CODED_BITS]
PUBLIC_GROUPS = _pub.reshape(_ecc.CODED_BITS, GROUP)  # chip indices of each coded bit, same for every key


def _keys_for(k: int) -> list[bytes]:
    return [hashlib.sha256(f"cost probe key {i}".encode()).digest() for i in range(k)]


def _cpu(f, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        f()
        best = min(best, time.process_time() - t)
    return best * 1e3


def secret_layout_costs(torus: np.ndarray, keys: list[bytes]) -> dict:
    rows, cols, data, perms, signs = [], [], [], [], []
    for k, key in enumerate(keys):
        bit, sign = nr._layout(key)
        rows.append(k * _ecc.CODED_BITS + bit)
        cols.append(np.arange(N * N))
        data.append(sign)
        order = np.argsort(bit, kind="stable")
        perms.append(order.astype(np.uint16))
        signs.append(sign[order].astype(np.int8))
    m = sparse.csr_matrix(
        (np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(len(keys) * _ecc.CODED_BITS, N * N)
    )
    perm = np.stack(perms)
    sgn = np.stack(signs)
    y = torus.astype(np.float32).ravel()
    counts = np.bincount(nr._layout(keys[0])[0], minlength=_ecc.CODED_BITS)  # the same counts for every key
    bounds = np.concatenate([[0], np.cumsum(counts)[:-1]])

    def csr() -> np.ndarray:
        soft = (m @ y).reshape(len(keys), _ecc.CODED_BITS)
        return np.einsum("ij,ij->i", soft, soft)

    def gather() -> np.ndarray:
        out = np.empty(len(keys))
        for k in range(len(keys)):
            soft = np.add.reduceat(y[perm[k]] * sgn[k], bounds)
            out[k] = soft @ soft
        return out

    return {
        "csr_ms": _cpu(csr),
        "csr_mb": (m.data.nbytes + m.indices.nbytes + m.indptr.nbytes) / 1e6,
        "gather_ms": _cpu(gather, 2),
        "gather_mb": (perm.nbytes + sgn.nbytes) / 1e6,
    }


def packed_costs(torus: np.ndarray, keys: list[bytes]) -> dict:
    packed = np.stack(
        [
            np.packbits(
                np.random.Generator(np.random.PCG64(int.from_bytes(k[:8], "big"))).random(PUBLIC_GROUPS.shape) < 0.5,
                axis=-1,
            )
            for k in keys
        ]
    )
    y = torus.ravel()[PUBLIC_GROUPS]
    mask = y != 0

    def screen() -> np.ndarray:
        x = np.bitwise_xor(packed, np.packbits(y < 0, axis=-1))
        np.bitwise_and(x, np.packbits(mask, axis=-1), out=x)
        soft = mask.sum(axis=-1) - 2 * np.bitwise_count(x).sum(axis=-1, dtype=np.int32)
        return np.einsum("ij,ij->i", soft, soft)

    return {"packed_ms": _cpu(screen), "packed_mb": packed.nbytes / 1e6}


def public_field(key: bytes, ciphertext: int) -> tuple[np.ndarray, np.ndarray]:
    sign = np.random.Generator(np.random.PCG64(int.from_bytes(hashlib.sha256(key).digest()[:8], "big")))
    signs = sign.integers(0, 2, size=PUBLIC_GROUPS.shape).astype(np.float32) * 2 - 1
    coded = 1.0 - 2.0 * _ecc.encode(ciphertext)
    field = np.zeros(N * N, np.float32)
    field[PUBLIC_GROUPS.ravel()] = (signs * coded[:, None]).ravel()
    return field.reshape(N, N), signs


def covariance_attack(counts: tuple[int, ...] = (10, 50, 200)) -> list[dict]:
    """Learn the public-grouping layer's secret signs from N aligned marked images of one system."""
    orig = nr.message_field
    out = []
    sums = []
    truth = None
    try:
        nr.message_field = lambda key, ct: public_field(key, ct)[0]  # type: ignore[assignment]
        for i, px in enumerate(adv.generated_images(max(counts), seed=31)):
            marked = nr.embed_probe(px, KEY_V2, _payload(50_000 + i))
            _, torus = nr._torus(marked)
            sums.append(torus.ravel()[PUBLIC_GROUPS])
        truth = public_field(KEY_V2, 0)[1]
    finally:
        nr.message_field = orig
    data = np.stack(sums)  # (N, 258, 254)
    inside = data[0] != 0  # chips inside a 512 x 512 image
    for n in counts:
        agree = []
        for j in range(_ecc.CODED_BITS):
            cols = inside[j]
            x = data[:n, j, cols]
            x = x - x.mean(axis=0)
            v = np.linalg.svd(x, full_matrices=False)[2][0]
            hit = np.mean(np.sign(v) == truth[j, cols])
            agree.append(max(hit, 1 - hit))
        out.append({"n": n, "signs_recovered": float(np.mean(agree)), "chips_per_group": int(inside.sum() / 258)})
    return out


def _chip_sums(marked: np.ndarray) -> np.ndarray:
    return nr._torus(marked)[1].ravel()


def removal_with_learned_signs(n_learn: int = 200, n_test: int = 10) -> dict:
    """Public grouping: learn each group's signs from ``n_learn`` aligned images, then remove the layer from
    ``n_test`` other images by projecting each group's chip sums on the learned signs and subtracting the
    rendered estimate (gain fitted on the high-pass, as ``attacks.subtract`` does). Reports the layer's z with
    the true key and ciphertext before and after (the reading gate with 1,000 keys is about 11.4)."""
    from assay.watermark import _embed, _v2

    orig = nr.message_field
    try:
        nr.message_field = lambda key, ct: public_field(key, ct)[0]  # type: ignore[assignment]
        imgs = list(adv.generated_images(n_learn + n_test, seed=41))
        marked = [nr.embed_probe(px, KEY_V2, _payload(60_000 + i)) for i, px in enumerate(imgs)]
    finally:
        nr.message_field = orig
    data = np.stack([_chip_sums(m)[PUBLIC_GROUPS] for m in marked[:n_learn]])
    inside = data[0] != 0
    learned = np.zeros(PUBLIC_GROUPS.shape, np.float32)
    for j in range(_ecc.CODED_BITS):
        x = data[:, j, inside[j]]
        learned[j, inside[j]] = np.sign(np.linalg.svd(x - x.mean(axis=0), full_matrices=False)[2][0])
    before, after = [], []
    for i, m in enumerate(marked[n_learn:]):
        ct = _keys.encrypt(KEY_V2, _payload(60_000 + n_learn + i))
        truth = public_field(KEY_V2, ct)[0].ravel()
        y = _chip_sums(m)
        before.append(float(truth @ y) / float(np.linalg.norm(y)))
        g = y[PUBLIC_GROUPS]
        a = (g * learned).sum(axis=1) / np.maximum((learned != 0).sum(axis=1), 1)
        est = np.zeros(N * N, np.float32)
        est[PUBLIC_GROUPS.ravel()] = (learned * a[:, None]).ravel()
        h, w = m.shape[:2]
        period = _embed.tile_period(h, w)
        from PIL import Image

        delta = _v2.binding_image(est.reshape(N, N), h, w, period) * _embed.masking(
            Image.fromarray(m).convert("L"), period
        )
        r = adv.high_pass(adv.luma(m))
        e = adv.high_pass(delta)
        gain = float((r * e).sum()) / max(float((e * e).sum()), 1e-12)
        out = adv._add(m, -gain * delta)
        y2 = _chip_sums(out)
        after.append((float(truth @ y2) / float(np.linalg.norm(y2)), adv.psnr(m, out)))
    return {
        "z_before_median": float(np.median(before)),
        "z_after_median": float(np.median([a for a, _ in after])),
        "z_after_max": float(np.max([a for a, _ in after])),
        "psnr_median": float(np.median([q for _, q in after])),
    }


def secret_layout_pca(n: int = 1000) -> dict:
    """Secret layout (per key: grouping and signs): the top principal subspace (as many directions as coded
    bits) of N aligned marked images' chip sums, each image's own fold removed first, against the layer's true
    subspace. Reports the share of the true directions' energy inside the learned subspace, and chance."""
    bit, sign = nr._layout(KEY_V2)
    rows = []
    inside = None
    for i, px in enumerate(adv.generated_images(n, seed=43)):
        y = _chip_sums(nr.embed_probe(px, KEY_V2, _payload(70_000 + i))).reshape(N, N)
        if inside is None:
            inside = np.flatnonzero(y.ravel() != 0)
            side = int(round(np.sqrt(inside.size)))
        sub = y.ravel()[inside].reshape(side, side)
        t = sub.reshape(side // 32, 32, side // 32, 32)
        sub = (t - t.mean(axis=(0, 2), keepdims=True)).reshape(-1)  # the image's own fold removed
        rows.append(sub.astype(np.float32))
    assert inside is not None
    x = np.stack(rows)
    x -= x.mean(axis=0)
    v = np.linalg.svd(x, full_matrices=False)[2][: _ecc.CODED_BITS]
    b, s = bit[inside], sign[inside]
    shares = []
    for j in range(_ecc.CODED_BITS):
        g = np.where(b == j, s, 0.0)
        g /= np.linalg.norm(g) + 1e-12
        shares.append(float(np.sum((v @ g) ** 2)))
    return {
        "n": n,
        "chips": int(inside.size),
        "true_energy_in_learned": float(np.mean(shares)),
        "chance": _ecc.CODED_BITS / inside.size,
    }


def main() -> int:
    keys = _keys_for(K)
    px = next(iter(adv.generated_images(1, seed=5, side=1414)))
    _, torus = nr._torus(nr.embed_probe(px, KEY_V2, _payload(1)))
    print(f"in-image chips at 1414 x 1414: {int((torus != 0).sum())} of {N * N}")
    from assay.watermark import detect

    ring = adv.system_ring(KEY_V2)
    print(
        f"peer, today's detect() of this unmarked image with 1,000 keys: {_cpu(lambda: detect(px, keys=ring)):.1f} ms"
    )
    print("secret layout, 1,000 keys:", secret_layout_costs(torus, keys))
    print("public grouping, packed signs, 1,000 keys:", packed_costs(torus, keys))
    print("covariance attack on the public grouping:", covariance_attack())
    print("removal with the learned signs (public grouping, N = 200):", removal_with_learned_signs())
    print("covariance attack on the secret layout:", secret_layout_pca())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
