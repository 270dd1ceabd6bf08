"""The detector's design set: a small, separate set of generations to choose detection statistics on, so that
the committed bench (``python -m bench.text``) reports figures on generations the design never saw.

    python -m bench.text.design [--samples 80]          # the last run: bench/text/DESIGN.md

The prompts are held-out Python-docs paragraphs the bench never prompts with (the bench takes the first
``--samples`` of its own permutation; this set takes paragraphs from the other end of a different one), and
the edits use other random seeds. Prints, for each candidate statistic, the TPR at 1e-3 / 1e-6 per condition
and length, next to KGW's on the same prompts. Every candidate's p-value is a valid bound under the null (an
exact tail, combined by a union bound), so choosing among them here costs nothing in false positives; it is
kept out of the reported figures only so that the comparison with the peers is not tuned on its own data.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

LENGTHS = (50, 100, 200, 400)
CONDITIONS = ("clean", "delete 30%", "substitute 30%", "embedded at 25%")


def _parts(tokens, key):
    from assay.textmark import _detect

    tokens = np.asarray(tokens, dtype=np.int64)
    h = key.context_width
    mask = _detect._first_contexts(tokens, h)
    r_terms = _detect._scores(tokens, [key])[0] if mask.size else np.zeros(0)
    # -log(1 - r) = a  =>  r = 1 - exp(-a);  -log r = -log1p(-exp(-a))
    return mask, r_terms


def _gamma_sf(n, x):
    from scipy import stats

    return float(stats.gamma.logsf(x, n)) if n else 0.0


def _gamma_cdf(n, x):
    from scipy import stats

    return float(stats.gamma.logcdf(x, n)) if n else 0.0


def _variant(whole_share: float, use_log: bool, use_ars: bool = True, log_windows: bool = False):
    from assay.textmark import _detect

    def fn(tokens, key):
        mask, a = _parts(tokens, key)
        n = int(mask.sum())
        if not n:
            return 0.0
        ars = np.where(mask, a, 0.0)
        lg = np.where(mask, -np.log1p(-np.exp(-a)), 0.0)
        tests = []
        if use_ars:
            tests.append(_gamma_sf(n, float(ars.sum())))
        if use_log:
            tests.append(_gamma_cdf(n, float(lg.sum())))
        wins = _detect._windows(mask.size)
        share = whole_share if wins else 1.0
        best = min(tests) + math.log(len(tests) / share)
        if wins:
            cn = np.concatenate([[0], np.cumsum(mask)])
            for s0, e0 in wins:
                wn = int(cn[e0] - cn[s0])
                if log_windows:
                    lp = _gamma_cdf(wn, float(lg[s0:e0].sum()))
                else:
                    lp = _gamma_sf(wn, float(ars[s0:e0].sum()))
                best = min(best, lp + math.log(len(wins) / (1 - whole_share)))
        return min(0.0, best) / math.log(10)

    return fn


VARIANTS = {
    "split.9": _variant(0.9, False),
    "log.9": _variant(0.9, True, use_ars=False),
    "both.9": _variant(0.9, True),
    "log.9lw": _variant(0.9, True, use_ars=False, log_windows=True),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=80)
    ap.add_argument("--temperature", type=float, default=0.4)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--widths", default="3")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from assay.textmark import TextKey

    from . import corpora, peers
    from . import model as bench_model
    from .run import _apply

    folder, model, tok = bench_model.load()
    held = corpora.python_docs(training=False)
    bench_order = np.random.default_rng(20261205).permutation(len(held))
    bench_prompts = set(bench_order[:200].tolist())
    order = [i for i in np.random.default_rng(777).permutation(len(held)) if i not in bench_prompts]
    prompts = [p for p in (tok.encode(held[i])[:12] for i in order) if len(p) == 12][: args.samples]
    filler_pool = [held[i] for i in order[-400:]]

    secret = bytes(range(100, 132))  # not the bench's key
    schemes = [peers.kgw(model.config)]
    for h in (int(x) for x in args.widths.split(",")):
        schemes.append(peers.assay(TextKey(secret, context_width=h), f"Assay h={h}"))
    generated = {}
    for s in schemes:
        torch.manual_seed(11)
        rows, t0 = [], time.perf_counter()
        for b in range(0, len(prompts), args.batch):
            chunk = prompts[b : b + args.batch]
            ids = torch.tensor(chunk, dtype=torch.long)
            mask = torch.ones_like(ids)
            rows.append(s.generate(model, ids, mask, max(LENGTHS), args.temperature).numpy())
        generated[s.name] = np.concatenate(rows)
        print(f"generated {s.name}: {time.perf_counter() - t0:.0f} s", flush=True)

    from assay.textmark import detect

    for length in LENGTHS:
        for cond in CONDITIONS:
            line = [f"{length:>3} {cond:<16}"]
            for s in schemes:
                crng = np.random.default_rng([length, CONDITIONS.index(cond), 99])
                edited = []
                for i in range(len(prompts)):
                    text = tok.decode(generated[s.name][i, :length])
                    filler = filler_pool[int(crng.integers(len(filler_pool)))]
                    edited.append(tok.encode(_apply(cond, text, filler, crng)))
                if s.name == "KGW":
                    stats = {"KGW": [s.detectors["KGW"](t) for t in edited]}
                else:
                    key = TextKey(secret, context_width=int(s.name[-1]))
                    stats = {s.name: [detect(t, key).log10_p for t in edited]}
                    for vname, fn in VARIANTS.items():
                        stats[vname] = [fn(t, key) for t in edited]
                for name, v in stats.items():
                    a = np.array(v)
                    line.append(f"{name} {np.mean(a <= -3):6.1%} /{np.mean(a <= -6):6.1%}")
            print(" | ".join(line), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
