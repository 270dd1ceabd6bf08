"""The deciding cell of the text bench with more texts: 30% word deletion, Assay vs KGW (vs SynthID), one run.

    python -m bench.text.tied                                   # the committed run (1,000 texts per scheme)
    python -m bench.text.tied --samples 200 --synthid-samples 0 # a quick look

The main bench (``python -m bench.text``, 200 texts per cell) left Assay at h = 3 (the default until 2026-12) and
KGW tied after 30% deletion at 400 tokens and FPR 1e-3 (99.0% vs 99.0%), and h = 2 (the default since) at 100%
vs 99.0%, intervals overlapping. This run, with both widths, repeats that condition with the bench's own
code paths (prompts from held-out Python-docs paragraphs, chosen as bench/text/run.py chooses them, so the first
200 are the main bench's prompts; 400 new tokens at temperature 0.4; the same word deletion for every scheme,
each text then re-tokenised; each detector's own p-value), for every length (the 400-token generations cut to
50 / 100 / 200 / 400 tokens, as the main bench does), with Wilson 95% intervals and Newcombe's interval for
the difference Assay - KGW. SynthID-Text generates 30 times slower; it runs on its own, smaller count
(``--synthid-samples``, the first prompts). Writes bench/text/DELETE30.md and DELETE30.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np

from .run import LENGTHS, wilson

HERE = Path(__file__).resolve().parent
FPRS = (1e-3, 1e-6)
CONDITION = "delete 30%"
ASSAY = ("Assay (h = 2)", "Assay (h = 3)")  # the default since 2026-12, and the default before


def newcombe(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """Newcombe's 95% interval (method 10, from Wilson intervals) for the difference of two proportions."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1)
    l2, u2 = wilson(k2, n2)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--synthid-samples", type=int, default=200)
    ap.add_argument("--temperature", type=float, default=0.4)
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--report-only", action="store_true", help="rewrite DELETE30.md from DELETE30.json (no run)")
    args = ap.parse_args(argv)
    if args.report_only:
        (args.out / "DELETE30.md").write_text(_report(json.loads((args.out / "DELETE30.json").read_text())))
        return 0

    import torch

    torch.set_num_threads(1)
    from assay.textmark import TextKey

    from . import attacks, corpora, peers
    from . import model as bench_model

    t_start = time.time()
    _, model, tok = bench_model.load()
    eos = model.config.eos_token_id
    rng = np.random.default_rng(20261205)  # as run.py: the first 200 prompts are the main bench's
    held = corpora.python_docs(training=False)
    order = rng.permutation(len(held))
    prompts = [tok.encode(held[i])[:12] for i in order if len(tok.encode(held[i])) >= 12][: args.samples]
    if len(prompts) < args.samples:
        raise SystemExit(f"only {len(prompts)} held-out prompts")
    # The main bench's secret at both widths, named by width (the default changed from 3 to 2 in 2026-12).
    n = len(prompts)
    schemes = [
        (peers.assay(TextKey(bytes(range(32)), context_width=h, system_id=f"bench-h{h}"), f"Assay (h = {h})"), n)
        for h in (2, 3)
    ]
    schemes.append((peers.kgw(model.config), len(prompts)))
    if args.synthid_samples:
        schemes.append((peers.synthid(model.config.vocab_size, eos), min(len(prompts), args.synthid_samples)))

    cache = bench_model.CACHE / "tied"
    cache.mkdir(parents=True, exist_ok=True)
    generated, gen_seconds = {}, {}
    for s, n in schemes:
        path = cache / f"{s.name.replace(' ', '_')}-{n}-T{args.temperature}.npy"
        t0 = time.perf_counter()
        if path.exists():
            generated[s.name] = np.load(path)
        else:
            torch.manual_seed(7)
            rows = []
            for b in range(0, n, args.batch):
                ids = torch.tensor(np.array(prompts[b : min(n, b + args.batch)]), dtype=torch.long)
                rows.append(s.generate(model, ids, torch.ones_like(ids), max(LENGTHS), args.temperature).numpy())
            generated[s.name] = np.concatenate(rows)
            np.save(path, generated[s.name])
        gen_seconds[s.name] = time.perf_counter() - t0
        print(f"generated {s.name} ({n}): {gen_seconds[s.name]:.0f} s", flush=True)

    tpr: dict = {}
    for s, n in schemes:
        for dname, fn in s.detectors.items():
            tpr[dname] = {"n": n}
            for length in LENGTHS:
                crng = np.random.default_rng([length, 2])  # the same edits for every scheme
                lps = []
                for i in range(n):
                    text = tok.decode(generated[s.name][i, :length])
                    lps.append(fn(tok.encode(attacks.delete_words(text, 0.30, crng))))
                ks = [int(sum(lp <= math.log10(f) for lp in lps)) for f in FPRS]
                tpr[dname][str(length)] = {
                    f"{f:g}": {"k": k, "rate": k / n, "wilson": wilson(k, n)} for f, k in zip(FPRS, ks, strict=True)
                }
            print(f"detected {dname}", flush=True)
    diff: dict = {}
    for d in ASSAY:
        for length in LENGTHS:
            for f in FPRS:
                a, b = tpr[d][str(length)][f"{f:g}"], tpr["KGW"][str(length)][f"{f:g}"]
                diff[f"{d}, {length} {f:g}"] = newcombe(a["k"], tpr[d]["n"], b["k"], tpr["KGW"]["n"])
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "condition": CONDITION,
        "temperature": args.temperature,
        "tpr": tpr,
        "assay_minus_kgw": diff,
        "generation_seconds": gen_seconds,
        "load_average": os.getloadavg(),
        "seconds": time.time() - t_start,
        "platform": platform.platform(),
        "torch": torch.__version__,
    }
    (args.out / "DELETE30.json").write_text(json.dumps(out, indent=1))
    (args.out / "DELETE30.md").write_text(_report(out))
    print((args.out / "DELETE30.md").read_text())
    return 0


def _report(r: dict) -> str:
    def cell(d: str, length: int, f: float) -> str:
        c = r["tpr"][d][str(length)][f"{f:g}"]
        return f"{c['rate']:.1%} [{c['wilson'][0]:.1%}, {c['wilson'][1]:.1%}]"

    lines = [
        "# Text watermark after 30% word deletion: the deciding cell with more texts",
        "",
        f"`python -m bench.text.tied` ({r['date']}; load average at the end "
        f"{', '.join(f'{x:.1f}' for x in r['load_average'])} on a shared 2-core machine; "
        f"{r['seconds'] / 60:.0f} minutes; torch {r['torch']}). Texts per detector: "
        + ", ".join(f"{d} {v['n']:,}" for d, v in r["tpr"].items())
        + f". Temperature {r['temperature']}, the bench model, the same deletions for every scheme.",
        "",
        *([r["note"], ""] if r.get("note") else []),
        *([r["reading"], ""] if r.get("reading") else []),
        "TPR with Wilson 95% intervals:",
        "",
        "| detector | FPR | " + " | ".join(f"{L} tokens" for L in LENGTHS) + " |",
        "|---|---|" + "---|" * len(LENGTHS),
    ]
    for d in r["tpr"]:
        for f in FPRS:
            lines.append(f"| {d} | {f:g} | " + " | ".join(cell(d, L, f) for L in LENGTHS) + " |")
    lines += [
        "",
        "Assay minus KGW, Newcombe 95% interval of the difference (points):",
        "",
        "| Assay | FPR | " + " | ".join(f"{L} tokens" for L in LENGTHS) + " |",
        "|---|---|" + "---|" * len(LENGTHS),
    ]
    for d in ASSAY:
        for f in FPRS:
            cells = []
            for L in LENGTHS:
                lo, hi = r["assay_minus_kgw"][f"{d}, {L} {f:g}"]
                a = r["tpr"][d][str(L)][f"{f:g}"]["rate"] - r["tpr"]["KGW"][str(L)][f"{f:g}"]["rate"]
                cells.append(f"{100 * a:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]")
            lines.append(f"| {d} | {f:g} | " + " | ".join(cells) + " |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
