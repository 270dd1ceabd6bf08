"""The visibility budget: a marked picture keeps an SSIM of at least ``SSIM_GOAL`` to its original.

The embedder spends a fixed energy (``_embed.TARGET_PSNR_DB``) shaped by the contrast-masking map. On most
pictures that gives an SSIM of 0.983-0.997, but on a smooth or near-black one (a retina photograph's black
surround, the moon, a cell, a clock face, a colour wheel whose channels are flat) the same energy costs more:
SSIM's structure term weighs the mark's local variance against the picture's plus a constant, its luminance
term the mark's local mean against the picture's squared. There the whole mark is made weaker (the PSNR rises
above the target) until the SSIM is back at the goal.

Weaker everywhere, not moved: moving the energy off the costly flat areas onto texture (amplitude divided by
1 + s * SSIM cost, s = 1-10) reached the goal as well, but the detector's z fell more: over every attack on the
27 pictures of the two watermark benchmarks that need the budget, median 0.90 of the z before against 0.96 for a
plain gain, the lowest z 20.6 against 22.7 (23.4 before; every attack recovered either way). Flat areas are where
the mark is read best.

The SSIM is estimated on a sample of about 6,000 of its 7 x 7 windows (``_Windows``; the formula, constants and
unbiased variances of scikit-image's ``structural_similarity`` on the RGB channels, the marked pixels rounded and
clipped as ``_embed.apply_delta`` makes them). Every sliding window would cost about 300 ms per 2 MP; the sample
costs a few ms (20-30 ms at 24-67 MP) and lands within 0.001 of it on photos (up to 0.0025 below it on synthetic
line patterns, the safe side). No library computes SSIM on a sample of windows, hence this file.

What it costs: on a uniform black frame half of any mark is clipped away and the rest moves SSIM's luminance
term a lot; the budget then marks it at about 54 dB, and JPEG 50 removes that mark (a dark or grey uniform frame
keeps every attack tried at 46 dB). A floor on the gain would not save it (at 51 dB: SSIM 0.962, still lost).
"""

from __future__ import annotations

import numpy as np

SSIM_GOAL = 0.98
MARGIN = 0.002  # the sample's estimate must clear the goal by this much (its error is under 0.001)
WIN = 7  # scikit-image's default window
SAMPLES = 6000  # windows sampled
_C1 = (0.01 * 255.0) ** 2
_C2 = (0.03 * 255.0) ** 2


def gain(rgb: np.ndarray, delta: np.ndarray) -> float:
    """The factor (at most 1) by which ``delta`` must be scaled so that ``rgb`` marked with it keeps the SSIM goal.

    The SSIM's loss grows as a power of the gain (about 1.6: the energy, less what rounding already costs);
    each step solves for the goal on the power measured between the last two estimates (2 to start), and every
    estimate is computed, not assumed. Two or three steps land within 0.001 above the goal."""
    win = _Windows(rgb)
    d = win.gather(delta)
    limit = 1.0 - (SSIM_GOAL + MARGIN)
    g, loss = 1.0, 1.0 - win.ssim(d)
    power = 2.0
    steps = 0
    while loss > limit:
        # At least 0.5% weaker a step, 10% after four: it ends (at a gain where every change rounds away, the
        # SSIM is 1), in a few steps even where the loss does not fall as a power would.
        steps += 1
        step = min(0.995 if steps <= 4 else 0.9, (limit / loss) ** (1.0 / power))
        g_next = g * step
        loss_next = 1.0 - win.ssim(d * np.float32(g_next))
        if loss_next < loss:
            power = float(np.clip(np.log(loss_next / loss) / np.log(step), 1.0, 3.0))
        g, loss = g_next, loss_next
    return g


class _Windows:
    """A sample of about ``SAMPLES`` of a picture's 7 x 7 windows, one at a random place in each ``stride`` x
    ``stride`` cell (a 67 MP picture costs what a 2 MP one does; on a small picture the windows overlap), so that
    the mean of their SSIM is within 0.001 of the mean over every window. The places are jittered over the whole
    cell so that no grid lines up with the picture or the mark (a fixed phase would see only one phase of the
    mark's chips, or of a JPEG's 8 x 8 blocks); the generator's seed is fixed, so the same picture is always
    marked the same way."""

    def __init__(self, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        stride = max(1, round(float(np.sqrt(h * w / SAMPLES))))
        rng = np.random.default_rng(0)
        starts = []
        for n in (h, w):
            cells = np.arange(0, n - WIN + 1, stride)
            starts.append(np.minimum(cells + rng.integers(0, stride, size=len(cells)), n - WIN))
        self.rows = (starts[0][:, None] + np.arange(WIN)).ravel()
        self.cols = (starts[1][:, None] + np.arange(WIN)).ravel()
        # (3, windows, WIN * WIN): the sums run along the last, contiguous axis.
        self.x = np.stack([self.gather(rgb[..., c]) for c in range(3)]).astype(np.float32)
        n = WIN * WIN
        self.mx = self.x.mean(axis=2)
        self.vx = (np.square(self.x).sum(axis=2) - n * self.mx * self.mx) / (n - 1)

    def gather(self, image: np.ndarray) -> np.ndarray:
        """(windows, WIN * WIN) values of a one-channel ``image`` at the sampled windows."""
        nr, nc = len(self.rows) // WIN, len(self.cols) // WIN
        v = image[self.rows][:, self.cols].reshape(nr, WIN, nc, WIN).swapaxes(1, 2)
        return np.ascontiguousarray(v.reshape(nr * nc, WIN * WIN))

    def ssim(self, delta: np.ndarray) -> float:
        """Mean SSIM over the windows of the picture marked with ``delta`` (at the windows, as ``gather``)."""
        n = WIN * WIN
        y = self.x + delta
        np.rint(y, out=y)
        np.clip(y, 0.0, 255.0, out=y)
        my = y.mean(axis=2)
        cross = np.einsum("cwp,cwp->cw", self.x, y)
        vy = (np.einsum("cwp,cwp->cw", y, y) - n * my * my) / (n - 1)
        cov = (cross - n * self.mx * my) / (n - 1)
        mx = self.mx
        s = (2 * mx * my + _C1) * (2 * cov + _C2) / ((mx * mx + my * my + _C1) * (self.vx + vy + _C2))
        return float(np.mean(s))
