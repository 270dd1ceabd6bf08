"""The watermarks compared, each with its own generation route and its own detector's null distribution.

- **Assay**: ``assay.textmark.WatermarkLogitsProcessor`` (keyed Gumbel-max), detected with ``assay.textmark.detect``
  (exact Gamma p-value, windows and all, as ``assay check`` runs it).
- **KGW**: ``transformers``' ``WatermarkingConfig`` at its defaults (greenlist ratio 0.25, bias 2.0, lefthash,
  context width 1), detected with ``transformers``' ``WatermarkDetector`` (``ignore_repeated_ngrams=True``, so
  that its null holds); p-value: the exact binomial tail of its green count (its own z-test's normal
  approximation is looser in the 1e-6 tail).
- **SynthID-Text**: ``transformers``' ``SynthIDTextWatermarkingConfig`` as in the SynthID paper and MarkLLM's
  config (30 tournament layers, n-gram length 5, context history 1024, non-distortionary), g-values from its
  logits processor with its context-repetition mask; detectors: the mean score (its exact null:
  Binomial(30 n, 1/2)) and the weighted mean (weights 10..1 over the layers; its null, a weighted sum of
  Binomial(n, 1/2), by a Lugannani-Rice saddle-point tail). The trained Bayesian detector is not included.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

from assay.textmark import TextKey, detect
from assay.textmark.processors import WatermarkLogitsProcessor

LN10 = math.log(10)
SYNTHID_KEYS = [654, 400, 836, 123, 340, 443, 597, 160, 57, 29, 590, 639, 13, 715, 468, 990, 966, 226, 324, 585, 118,
                504, 402, 721, 782, 1000, 215, 71, 808, 345]  # fmt: skip


@dataclass
class Scheme:
    name: str
    # (model, input_ids, attention_mask, new_tokens, temperature) -> generated ids (batch, new_tokens)
    generate: Callable[..., torch.Tensor]
    # name of detector -> (token ids -> log10 p-value)
    detectors: dict[str, Callable[[np.ndarray], float]]


def _sample(model, ids, mask, n, **extra):
    with torch.no_grad():
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=n,
            min_new_tokens=n,
            pad_token_id=model.config.eos_token_id,
            **extra,
        )
    return out[:, ids.shape[1] :]


def unmarked() -> Scheme:
    def gen(model, ids, mask, n, temperature):
        return _sample(model, ids, mask, n, do_sample=True, temperature=temperature, top_k=0)

    return Scheme("unmarked", gen, {})


def assay(key: TextKey, name: str = "Assay") -> Scheme:
    def gen(model, ids, mask, n, temperature):
        proc = WatermarkLogitsProcessor(key, temperature=temperature)
        return _sample(model, ids, mask, n, do_sample=False, logits_processor=[proc])

    return Scheme(name, gen, {name: lambda t: detect(t, key).log10_p})


def kgw(model_config) -> Scheme:
    from transformers import WatermarkDetector, WatermarkingConfig

    cfg = WatermarkingConfig(greenlist_ratio=0.25, bias=2.0, seeding_scheme="lefthash", context_width=1)
    detector = WatermarkDetector(model_config, "cpu", cfg, ignore_repeated_ngrams=True)

    def gen(model, ids, mask, n, temperature):
        return _sample(model, ids, mask, n, do_sample=True, temperature=temperature, top_k=0, watermarking_config=cfg)

    def det(tokens: np.ndarray) -> float:
        if tokens.size < 2:
            return 0.0
        out = detector(torch.tensor(tokens[None, :], dtype=torch.long), return_dict=True)
        n, green = int(out.num_tokens_scored[0]), int(out.num_green_tokens[0])
        return float(stats.binom.logsf(green - 1, n, 0.25)) / LN10 if n else 0.0

    return Scheme("KGW", gen, {"KGW": det})


def synthid(vocab_size: int, eos: int) -> Scheme:
    from transformers import SynthIDTextWatermarkingConfig

    cfg = SynthIDTextWatermarkingConfig(ngram_len=5, keys=SYNTHID_KEYS, context_history_size=1024)
    proc = cfg.construct_processor(vocab_size, "cpu")
    depth = len(SYNTHID_KEYS)
    weights = (290 - 9 * np.arange(depth)).astype(np.float64)  # 29 x linspace(10, 1, 30): integers, same ratios

    def gen(model, ids, mask, n, temperature):
        return _sample(model, ids, mask, n, do_sample=True, temperature=temperature, top_k=0, watermarking_config=cfg)

    cache: dict[bytes, np.ndarray] = {}

    def g_values(tokens: np.ndarray) -> np.ndarray:
        # Both detectors read the same g-values: computed once per text (the slow part of SynthID's detection).
        k = tokens.tobytes()
        if k not in cache:
            if len(cache) > 4:
                cache.clear()
            cache[k] = _g_values(tokens)
        return cache[k]

    def _g_values(tokens: np.ndarray) -> np.ndarray:
        if tokens.size < 5:
            return np.zeros((0, depth))
        ids = torch.tensor(tokens[None, :], dtype=torch.long)
        g = proc.compute_g_values(ids)[0].numpy()
        keep = proc.compute_context_repetition_mask(ids)[0].numpy().astype(bool)
        keep &= proc.compute_eos_token_mask(ids, eos)[0, 4:].numpy().astype(bool)
        return g[keep]

    def mean(tokens: np.ndarray) -> float:
        g = g_values(tokens)
        if not g.size:
            return 0.0
        return float(stats.binom.logsf(int(g.sum()) - 1, g.size, 0.5)) / LN10

    def weighted(tokens: np.ndarray) -> float:
        g = g_values(tokens)
        if not g.size:
            return 0.0
        return _weighted_log10_sf(float((g * weights).sum()), g.shape[0], weights)

    return Scheme("SynthID", gen, {"SynthID (mean)": mean, "SynthID (weighted mean)": weighted})


def _weighted_log10_sf(s: float, n: int, w: np.ndarray) -> float:
    """log10 P(sum_l w_l C_l >= s), C_l ~ Binomial(n, 1/2) independent: Lugannani-Rice saddle point."""
    s = s - 0.5  # continuity correction on the integer lattice
    mean = n * w.sum() / 2
    if s <= mean:
        return math.log10(max(1e-300, float(stats.norm.sf((s - mean) / math.sqrt(n * (w**2).sum() / 4)))))
    top = n * w.sum()
    if s >= top:
        return n * len(w) * math.log10(0.5)

    def k(t):
        return n * float(np.sum(np.logaddexp(0, t * w) - math.log(2)))

    def k1(t):
        return n * float(np.sum(w / (1 + np.exp(-t * w))))

    def k2(t):
        sig = 1 / (1 + np.exp(-t * w))
        return n * float(np.sum(w**2 * sig * (1 - sig)))

    lo, hi = 0.0, 1.0
    while k1(hi) < s:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if k1(mid) < s else (lo, mid)
    t = (lo + hi) / 2
    r = math.sqrt(max(1e-300, 2 * (t * s - k(t))))
    u = t * math.sqrt(k2(t))
    log_phi = -0.5 * r * r - 0.5 * math.log(2 * math.pi)
    mills = math.exp(float(stats.norm.logsf(r)) - log_phi)
    corr = mills + 1 / u - 1 / r
    return (log_phi + math.log(max(corr, 1e-300))) / LN10
