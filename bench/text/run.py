"""Assay's text watermark against KGW and SynthID-Text, side by side on the same model, prompts and lengths.

    python -m bench.text                       # the committed run (samples=200; the model trains on first run)
    python -m bench.text --samples 40          # a quick look

Needs Debian's python3.11-doc, bible-kjv, bible-kjv-text, fortunes, jargon-text and wordnet-base (the corpora
and the synonyms; nothing is downloaded) and the test extra (torch, transformers). Every scheme generates from
the same prompts with the same model and temperature; every edit gets the same random choices for every
scheme; every detector is given the same text, re-tokenised with the model's tokenizer. A detection is
counted at a false-positive rate when the detector's own p-value (from its null distribution) is at or below
it. Writes bench/text/RESULTS.md and RESULTS.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
LENGTHS = (50, 100, 200, 400)
CONDITIONS = ("clean", "delete 10%", "delete 30%", "substitute 10%", "substitute 30%", "embedded at 25%")
FPRS = (1e-3, 1e-6)


def _apply(cond: str, text: str, filler: str, rng: np.random.Generator) -> str:
    from . import attacks

    if cond == "clean":
        return text
    if cond.startswith("delete"):
        return attacks.delete_words(text, int(cond.split()[1][:-1]) / 100, rng)
    if cond.startswith("substitute"):
        return attacks.substitute_words(text, int(cond.split()[1][:-1]) / 100, rng)
    return attacks.embed(text, filler, 0.25, rng)


def _ci(x: np.ndarray) -> tuple[float, float]:
    half = 1.96 * float(np.std(x, ddof=1)) / math.sqrt(len(x))
    return float(np.mean(x)) - half, float(np.mean(x)) + half


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=200, help="generations per scheme (default 200)")
    ap.add_argument("--temperature", type=float, default=0.8, help="sampling temperature for every scheme")
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--human-limit", type=int, default=0, help="use at most this many human texts (0 = all)")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--model", type=Path, help="a local model folder to use instead of the bench's trained model")
    ap.add_argument(
        "--report-only", action="store_true", help="rewrite RESULTS.md from RESULTS.json and OVERHEAD.json (no run)"
    )
    args = ap.parse_args(argv)
    if args.report_only:
        r = json.loads((args.out / "RESULTS.json").read_text())
        ov_file = args.out / "OVERHEAD.json"
        r["overhead"] = json.loads(ov_file.read_text()) if ov_file.exists() else {}
        d30 = args.out / "DELETE30.json"
        r["delete30"] = json.loads(d30.read_text()) if d30.exists() else {}
        (args.out / "RESULTS.json").write_text(json.dumps(r, indent=1))
        (args.out / "RESULTS.md").write_text(_report(r, {}))
        return 0

    from . import corpora

    if corpora.missing() or not Path("/usr/share/wordnet/data.noun").exists():
        print(f"missing corpora: apt-get install {corpora.PACKAGES} wordnet-base (Debian packages)", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)  # one core, for every scheme alike
    from assay.textmark import TextKey, detect

    from . import model as bench_model
    from . import peers

    t_start = time.time()
    folder, model, tok = bench_model.load(args.model)
    info = json.loads((folder / "train.json").read_text()) if (folder / "train.json").exists() else {}
    info.setdefault("parameters", sum(p.numel() for p in model.parameters()))
    info.setdefault("spec", {"vocab": tok.vocab_size})
    info.setdefault("steps", 0)
    info.setdefault("tokens_seen", 0)
    info.setdefault("final_loss", float("nan"))
    eos = model.config.eos_token_id
    rng = np.random.default_rng(20261205)

    # Prompts: the first 12 tokens of held-out paragraphs of the Python docs.
    held = corpora.python_docs(training=False)
    order = rng.permutation(len(held))
    prompts = [tok.encode(held[i])[:12] for i in order if len(tok.encode(held[i])) >= 12][: args.samples]
    filler_pool = [held[i] for i in order[args.samples :]] + corpora.kjv()[:2000]

    key = TextKey(bytes(range(32)), system_id="bench")  # a fixed key (the default width, h = 2): reproducible
    schemes = [
        peers.unmarked(),
        peers.assay(key),
        # The same secret with wider contexts: h = 3 (the default until 2026-12) and h = 4, the robustness trade-off
        # side by side (each edit breaks the h + 1 pairs it is part of).
        peers.assay(TextKey(bytes(range(32)), context_width=3, system_id="bench-h3"), "Assay (h = 3)"),
        peers.assay(TextKey(bytes(range(32)), context_width=4, system_id="bench-h4"), "Assay (h = 4)"),
        peers.kgw(model.config),
        peers.synthid(model.config.vocab_size, eos),
    ]
    n_new = max(LENGTHS)
    generated: dict[str, np.ndarray] = {}
    gen_seconds: dict[str, float] = {}
    for s in schemes:
        torch.manual_seed(7)
        rows, t0 = [], time.perf_counter()
        for b in range(0, len(prompts), args.batch):
            chunk = prompts[b : b + args.batch]
            width = max(len(p) for p in chunk)
            ids = torch.tensor([[eos] * (width - len(p)) + list(p) for p in chunk], dtype=torch.long)
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk], dtype=torch.long)
            rows.append(s.generate(model, ids, mask, n_new, args.temperature).numpy())
        gen_seconds[s.name] = time.perf_counter() - t0
        generated[s.name] = np.concatenate(rows)
        print(f"generated {s.name}: {gen_seconds[s.name]:.0f} s", flush=True)

    # Quality: perplexity under the same model (temperature 1) and the entropy of the sampling distribution.
    quality = {}
    for s in schemes:
        nll, ent = [], []
        for i, p in enumerate(prompts):
            ids = torch.tensor([list(p) + generated[s.name][i].tolist()])
            with torch.no_grad():
                logits = model(ids).logits[0, len(p) - 1 : -1].double()
            lp = torch.log_softmax(logits, -1)
            nll.append(float(-lp.gather(1, ids[0, len(p) :, None]).mean()))
            lpt = torch.log_softmax(logits / args.temperature, -1)
            ent.append(float(-(lpt.exp() * lpt).sum(-1).mean()))
        quality[s.name] = {"nll": np.array(nll), "entropy": np.array(ent)}

    # Detection under every condition.
    detectors = [(s.name, d, fn) for s in schemes for d, fn in s.detectors.items()]
    results: dict[str, dict[str, dict[int, np.ndarray]]] = {d: {c: {} for c in CONDITIONS} for _, d, _ in detectors}
    det_time = {d: [0.0, 0] for _, d, _ in detectors}
    for length in LENGTHS:
        for cond in CONDITIONS:
            for scheme_name, dname, fn in detectors:
                crng = np.random.default_rng([length, CONDITIONS.index(cond)])  # same edits for every scheme
                vals = []
                for i in range(len(prompts)):
                    text = tok.decode(generated[scheme_name][i, :length])
                    filler = filler_pool[int(crng.integers(len(filler_pool)))]
                    ids = tok.encode(_apply(cond, text, filler, crng))
                    t0 = time.perf_counter()
                    vals.append(fn(ids))
                    det_time[dname][0] += time.perf_counter() - t0
                    det_time[dname][1] += ids.size
                results[dname][cond][length] = np.array(vals)
            print(f"detected at {length} tokens", flush=True)

    # False positives: human texts from Debian packages, and the model's own unmarked text.
    human = corpora.human_texts()
    human_ids = {src: [tok.encode(t)[:1024] for t in texts] for src, texts in human.items()}
    if args.human_limit:
        human_ids = {k: v[: args.human_limit] for k, v in human_ids.items()}
    fp: dict[str, dict[str, list[int]]] = {}
    for _, dname, fn in detectors:
        fp[dname] = {}
        for src, items in human_ids.items():
            lp = np.array([fn(x) for x in items])
            fp[dname][src] = [len(items), int((lp <= -3).sum()), int((lp <= -6).sum())]
        lp = np.array([fn(tok.encode(tok.decode(row))) for row in generated["unmarked"]])
        fp[dname]["unmarked model text (400 tokens)"] = [len(lp), int((lp <= -3).sum()), int((lp <= -6).sum())]
        print(f"false positives counted for {dname}", flush=True)

    # Key ring: the same texts screened against 100 keys (the bound pays log10(100) = 2).
    ring = [key] + [TextKey.generate(system_id=f"other-{i}") for i in range(99)]
    ring_tpr, t0, ntok = {}, time.perf_counter(), 0
    for length in LENGTHS:
        vals = []
        for i in range(len(prompts)):
            ids = tok.encode(tok.decode(generated["Assay"][i, :length]))
            ntok += ids.size
            d = detect(ids, ring)
            vals.append(d.log10_p if d.system_id == "bench" else 0.0)
        ring_tpr[length] = [float((np.array(vals) <= math.log10(f)).mean()) for f in FPRS]
    ring_speed = ntok / (time.perf_counter() - t0)

    # Generation overhead is its own run (python -m bench.text.overhead: two models, both peers, interleaved);
    # the report includes its last figures.
    ov_file = args.out / "OVERHEAD.json"
    overhead = json.loads(ov_file.read_text()) if ov_file.exists() else {}
    d30 = args.out / "DELETE30.json"  # the deciding cell with more texts (python -m bench.text.tied), if run

    out = {
        "samples": len(prompts),
        "temperature": args.temperature,
        "model": info,
        "load_average": os.getloadavg(),
        "seconds": time.time() - t_start,
        "generation_seconds": gen_seconds,
        "tpr": {
            d: {
                c: {str(L): [float((v <= math.log10(f)).mean()) for f in FPRS] for L, v in r.items()}
                for c, r in rc.items()
            }
            for d, rc in results.items()
        },
        "false_positives": fp,
        "quality": {
            k: {
                "ppl": math.exp(float(v["nll"].mean())),
                "nll_ci": _ci(v["nll"]),
                "entropy": float(v["entropy"].mean()),
                "nll_diff_vs_unmarked_ci": _ci(v["nll"] - quality["unmarked"]["nll"]) if k != "unmarked" else None,
            }
            for k, v in quality.items()
        },
        "detect_tokens_per_s": {d: n / t for d, (t, n) in det_time.items() if t},
        "ring100": {"tpr": ring_tpr, "tokens_per_s": ring_speed, "context_width": key.context_width},
        "overhead": overhead,
        "delete30": json.loads(d30.read_text()) if d30.exists() else {},
        "platform": platform.platform(),
        "torch": torch.__version__,
    }
    (args.out / "RESULTS.json").write_text(json.dumps(out, indent=1))
    (args.out / "RESULTS.md").write_text(_report(out, human))
    print((args.out / "RESULTS.md").read_text())
    return 0


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score 95% interval of a proportion k / n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _deciding(r: dict, dets: list[str]) -> list[str]:
    """Every cell where Assay (the default, h = 2) is not ahead of the best peer by more than 5 points, with
    Wilson 95% intervals: the cells that decide 'ahead at every length' (and h = 3, the default until 2026-12)."""
    n = r["samples"]
    peers_ = [d for d in dets if not d.startswith("Assay")]
    out = [
        "### Cells within 5 points: Wilson 95% intervals",
        "",
        "| condition | tokens | FPR | Assay | Assay (h = 3) | best peer |",
        "|---|---|---|---|---|---|",
    ]

    def cell(d: str, cond: str, L: int, j: int) -> str:
        x = r["tpr"][d][cond][str(L)][j]
        lo, hi = wilson(round(x * n), n)
        return f"{x:.1%} [{lo:.1%}, {hi:.1%}]"

    for cond in CONDITIONS:
        for L in LENGTHS:
            for j, f in enumerate(FPRS):
                ours = r["tpr"]["Assay"][cond][str(L)][j]
                best = max(peers_, key=lambda d: r["tpr"][d][cond][str(L)][j])
                if ours - r["tpr"][best][cond][str(L)][j] > 0.05 or (
                    ours == 1.0 and r["tpr"][best][cond][str(L)][j] == 1.0
                ):
                    continue
                h3 = cell("Assay (h = 3)", cond, L, j) if "Assay (h = 3)" in r["tpr"] else "—"
                out.append(
                    f"| {cond} | {L} | {f:g} | {cell('Assay', cond, L, j)} | {h3} | {best}: {cell(best, cond, L, j)} |"
                )
    return [*out, ""]


def _delete30(t: dict) -> list[str]:
    """The deciding condition rerun with more texts (bench/text/DELETE30.md), for the report."""
    out = [
        "### 30% deletion with more texts (`python -m bench.text.tied`, bench/text/DELETE30.md)",
        "",
        f"Its own run ({t['date']}, load average {', '.join(f'{x:.1f}' for x in t['load_average'])}): the same "
        "condition, prompts chosen the same way (its first 200 are these), generations of 400 tokens cut to each "
        "length; TPR with Wilson 95% intervals.",
        "",
        "| detector | texts | FPR | " + " | ".join(f"{L} tokens" for L in LENGTHS) + " |",
        "|---|---|---|" + "---|" * len(LENGTHS),
    ]
    for d, v in t["tpr"].items():
        for f in FPRS:
            cells = [v[str(L)][f"{f:g}"] for L in LENGTHS]
            out.append(
                f"| {d} | {v['n']:,} | {f:g} | "
                + " | ".join(f"{c['rate']:.1%} [{c['wilson'][0]:.1%}, {c['wilson'][1]:.1%}]" for c in cells)
                + " |"
            )
    return [*out, "", *([t["reading"], ""] if t.get("reading") else [])]


def _report(r: dict, human: dict[str, list[str]]) -> str:
    dets = list(r["tpr"])
    ring = {int(k): v for k, v in r["ring100"]["tpr"].items()}  # int keys, or str ones read back from JSON
    lines = [
        "# Text watermark: Assay vs KGW vs SynthID-Text",
        "",
        f"`python -m bench.text` ({r['samples']} generations per scheme, temperature {r['temperature']}); "
        f"load average {', '.join(f'{x:.1f}' for x in r['load_average'])} on a shared 2-core machine; "
        f"{r['seconds'] / 60:.0f} minutes; torch {r['torch']}.",
        "",
        f"Model: GPT-2 shape, {r['model']['parameters'] / 1e6:.1f} M parameters, "
        f"trained for {r['model']['steps']} steps "
        f"({r['model']['tokens_seen'] / 1e6:.1f} M tokens) on the Python 3.11 documentation (Debian python3.11-doc), "
        f"final training loss {r['model']['final_loss']:.2f}; byte-level BPE of {r['model']['spec']['vocab']} tokens. "
        f"Mean entropy of the sampling distribution per generated token (unmarked): "
        f"**{r['quality']['unmarked']['entropy']:.2f} nats**.",
        "",
        *([r["relabelled"], ""] if r.get("relabelled") else []),
        "## True-positive rate at a false-positive rate of 1e-3 / 1e-6",
        "",
        "Each detector's threshold is its own p-value (Assay: exact Gamma, adjusted for its windows by a weighted "
        "Bonferroni bound, 0.9 of the level on the whole text and 0.1 shared by the windows; KGW: exact "
        "binomial; SynthID mean: exact binomial; SynthID weighted mean: saddle-point). Edits are made to the text, "
        "which is then re-tokenised.",
        "",
    ]
    for cond in CONDITIONS:
        lines += [
            f"### {cond}",
            "",
            "| detector | " + " | ".join(f"{L} tokens" for L in LENGTHS) + " |",
            "|---|" + "---|" * len(LENGTHS),
        ]
        for d in dets:
            cells = [" / ".join(f"{x:.1%}" for x in r["tpr"][d][cond][str(L)]) for L in LENGTHS]
            name = f"**{d}**" if d.startswith("Assay") else d
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += _deciding(r, dets)
    if r.get("delete30"):
        lines += _delete30(r["delete30"])
    lines += [
        "## False positives (count at p <= 1e-3 / p <= 1e-6)",
        "",
        "| texts | n | " + " | ".join(dets) + " |",
        "|---|---|" + "---|" * len(dets),
    ]
    for src in r["false_positives"][dets[0]]:
        n = r["false_positives"][dets[0]][src][0]
        lines.append(
            f"| {src} | {n:,} | "
            + " | ".join(f"{r['false_positives'][d][src][1]} / {r['false_positives'][d][src][2]}" for d in dets)
            + " |"
        )
    total = sum(v[0] for k, v in r["false_positives"][dets[0]].items() if not k.startswith("unmarked"))
    lines += [
        "",
        f"{total:,} human-written texts: the King James Version (Debian bible-kjv-text, passages of verses), the "
        "fortune cookies (Debian fortunes), the Jargon File 4.4.7 (Debian jargon-text) and held-out paragraphs of "
        "the Python docs (Debian python3.11-doc), re-tokenised with the bench tokenizer (at most 1,024 tokens each).",
        "",
        "## Quality: the same model's perplexity of each scheme's 400-token generations",
        "",
        "| scheme | perplexity | mean NLL 95% CI | NLL difference vs unmarked, 95% CI (paired) | sampling entropy |",
        "|---|---|---|---|---|",
    ]
    for k, v in r["quality"].items():
        diff = v["nll_diff_vs_unmarked_ci"]
        d = "—" if diff is None else f"[{diff[0]:+.3f}, {diff[1]:+.3f}]"
        lines.append(
            f"| {k} | {v['ppl']:.2f} | [{v['nll_ci'][0]:.3f}, {v['nll_ci'][1]:.3f}] | {d} | {v['entropy']:.3f} |"
        )
    lines += [
        "",
        "Every scheme here marks all texts with one key. A distortion-free scheme's interval covers 0 for a fresh key "
        "per text; with one key, texts that share contexts share the key's choices, which shifts it on this small, "
        "repetitive model (SynthID a little, Assay at h = 3 more; KGW's shift is its bias): see QUALITY.md "
        "(`python -m bench.text.quality`).",
        "",
        "## Speed (one core)",
        "",
        "| | value |",
        "|---|---|",
    ]
    for d, v in r["detect_tokens_per_s"].items():
        lines.append(f"| detection, {d} | {v:,.0f} tokens/s |")
    lines.append(f"| detection, Assay with 100 keys in the ring | {r['ring100']['tokens_per_s']:,.0f} tokens/s |")
    lines += [
        "",
        "## Generation overhead: step time with each watermark / without",
        "",
        "From `python -m bench.text.overhead` (its own run: OVERHEAD.json): the median step time of `generate` "
        "with each scheme's processor over plain sampling at the same temperature, runs interleaved in one "
        "process (unmarked, Assay, KGW, SynthID, unmarked, ...), one thread.",
        "",
        "| model, batch | ms per step unmarked | Assay | KGW | SynthID | load average |",
        "|---|---|---|---|---|---|",
    ]
    for k, v in r["overhead"].items():
        ratio = v["ratio"]
        lines.append(
            f"| {k} | {v['ms_per_step_unmarked']:.1f} | {ratio['Assay']:.3f} | {ratio['KGW']:.3f} | "
            f"{ratio['SynthID']:.3f} | {', '.join(f'{x:.1f}' for x in v['load_average'])} |"
        )
    lines += [
        "",
        f"## Assay screening 100 keys at once (TPR at 1e-3 / 1e-6, clean; keys of h = "
        f"{r['ring100'].get('context_width', 3)})",
        "",
        "| " + " | ".join(f"{L} tokens" for L in LENGTHS) + " |",
        "|" + "---|" * len(LENGTHS),
        "| " + " | ".join(" / ".join(f"{x:.1%}" for x in ring[L]) for L in LENGTHS) + " |",
        "",
        "Generation seconds per scheme (same prompts, batch 25): "
        + ", ".join(f"{k} {v:.0f}" for k, v in r["generation_seconds"].items())
        + ".",
        "",
    ]
    return "\n".join(lines)
