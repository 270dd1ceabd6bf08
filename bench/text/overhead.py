"""Generation overhead of each watermark's logits processor, side by side in one process.

    python -m bench.text.overhead [--runs 3]          # writes bench/text/OVERHEAD.json (RESULTS.md cites it)

For each model (the bench's 1 M-parameter model and a random-initialised GPT-2-small-shaped one, 124 M
parameters and 50,257 tokens) and batch size (1 and 25), the median time of one generation step with each
watermark over the median without one (plain sampling at the same temperature). The runs are interleaved
(unmarked, Assay, KGW, SynthID, unmarked, ...) and the medians of per-step times are compared, so that the
preemptions of a shared machine fall on every scheme alike. Peers: ``transformers``' ``WatermarkingConfig``
(KGW, its defaults) and ``SynthIDTextWatermarkingConfig`` (30 layers, n-gram 5), through ``generate``'s own
``watermarking_config`` route.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


class _Steps:
    """A last logits processor that notes the time of every step: per-step durations, whose median is robust to
    the preemptions of a shared machine (a whole run's time is not)."""

    def __init__(self) -> None:
        self.t: list[float] = []

    def __call__(self, input_ids, scores):
        self.t.append(time.perf_counter())
        return scores


def _kwargs(scheme: str, key, temperature: float, vocab: int) -> dict:
    from transformers import SynthIDTextWatermarkingConfig, WatermarkingConfig

    from assay.textmark.processors import WatermarkLogitsProcessor

    from .peers import SYNTHID_KEYS

    sample = {"do_sample": True, "temperature": temperature, "top_k": 0}
    if scheme == "unmarked":
        return {**sample, "logits_processor": []}
    if scheme == "Assay":
        return {"do_sample": False, "logits_processor": [WatermarkLogitsProcessor(key, temperature=temperature)]}
    if scheme == "KGW":
        cfg = WatermarkingConfig(greenlist_ratio=0.25, bias=2.0, seeding_scheme="lefthash", context_width=1)
        return {**sample, "logits_processor": [], "watermarking_config": cfg}
    cfg = SynthIDTextWatermarkingConfig(ngram_len=5, keys=SYNTHID_KEYS, context_history_size=1024)
    return {**sample, "logits_processor": [], "watermarking_config": cfg}


SCHEMES = ("unmarked", "Assay", "KGW", "SynthID")


def measure(model, ids, n: int, key, temperature: float, runs: int) -> dict[str, float]:
    """Median step time per scheme (seconds), runs interleaved."""
    import torch

    times: dict[str, list[float]] = {s: [] for s in SCHEMES}
    for _ in range(runs):
        for s in SCHEMES:
            kw = _kwargs(s, key, temperature, model.config.vocab_size)
            steps = _Steps()
            kw["logits_processor"] = [*kw["logits_processor"], steps]
            with torch.no_grad():
                model.generate(input_ids=ids, max_new_tokens=n, min_new_tokens=n, pad_token_id=0, **kw)
            times[s] += list(np.diff(steps.t))
    return {s: float(np.median(v)) for s, v in times.items()}


def run(model, prompts, key, temperature: float, *, runs: int = 3, big_runs: int = 2) -> dict:
    """Ratios to unmarked per model and batch, with the unmarked step time in ms and the load average."""
    import torch
    import transformers

    out: dict[str, dict] = {}
    for batch in (1, 25):
        ids = torch.tensor([list(p) for p in prompts if len(p) == 12][:batch])
        med = measure(model, ids, 64, key, temperature, runs)
        out[f"bench model, batch {batch}"] = _ratios(med)
        print(f"bench model, batch {batch}", out[f"bench model, batch {batch}"], flush=True)
    torch.manual_seed(0)
    big = transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval()
    for batch in (1, 25):
        ids = torch.randint(0, 50257, (batch, 16))
        med = measure(big, ids, 12 if batch > 1 else 32, key, temperature, big_runs)
        out[f"GPT-2-small shape, batch {batch}"] = _ratios(med)
        print(f"GPT-2-small shape, batch {batch}", out[f"GPT-2-small shape, batch {batch}"], flush=True)
    return out


def _ratios(med: dict[str, float]) -> dict:
    base = med["unmarked"]
    return {
        "ms_per_step_unmarked": base * 1000,
        "ratio": {s: med[s] / base for s in SCHEMES if s != "unmarked"},
        "load_average": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--big-runs", type=int, default=2)
    ap.add_argument("--temperature", type=float, default=0.4)
    ap.add_argument("--small-only", action="store_true")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from assay.textmark import TextKey

    from . import corpora
    from . import model as bench_model

    folder, model, tok = bench_model.load()
    held = corpora.python_docs(training=False)
    prompts = [p for p in (tok.encode(t)[:12] for t in held[:200]) if len(p) == 12][:25]
    key = TextKey(bytes(range(32)))
    if args.small_only:
        for batch in (1, 25):
            ids = torch.tensor(prompts[:batch])
            print(f"batch {batch}", _ratios(measure(model, ids, 64, key, args.temperature, args.runs)), flush=True)
        return 0
    out = run(model, prompts, key, args.temperature, runs=args.runs, big_runs=args.big_runs)
    (Path(__file__).resolve().parent / "OVERHEAD.json").write_text(json.dumps(out, indent=1))
    for k, v in out.items():
        print(k, v, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
