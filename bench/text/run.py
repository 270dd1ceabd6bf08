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
    args = ap.parse_args(argv)

    from . import corpora

    if corpora.missing() or not Path("/usr/share/wordnet/data.noun").exists():
        print(f"missing corpora: apt-get install {corpora.PACKAGES} wordnet-base (Debian packages)", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)  # one core, for every scheme alike
    from assay.textmark import TextKey, TextTokenizer, detect
    from assay.textmark.processors import load_local_model

    from . import model as bench_model
    from . import peers

    t_start = time.time()
    folder = args.model or bench_model.ensure_model(log=print)
    model, _ = load_local_model(folder)
    tok = TextTokenizer.from_path(folder)
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

    key = TextKey(bytes(range(32)), system_id="bench")  # a fixed key: the run is reproducible
    schemes = [
        peers.unmarked(),
        peers.assay(key),
        # The same secret with a wider context (h = 4): the quality / robustness trade-off, side by side.
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

    overhead = _overhead(model, prompts, key, args.temperature)
    big = _overhead_big(key, args.temperature)

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
        "ring100": {"tpr": ring_tpr, "tokens_per_s": ring_speed},
        "overhead": overhead,
        "overhead_gpt2_small_shape": big,
        "platform": platform.platform(),
        "torch": torch.__version__,
    }
    (args.out / "RESULTS.json").write_text(json.dumps(out, indent=1))
    (args.out / "RESULTS.md").write_text(_report(out, human))
    print((args.out / "RESULTS.md").read_text())
    return 0


class _Steps:
    """A last logits processor that notes the time of every step: per-step durations, whose median is robust to
    the preemptions of a shared machine (a whole run's time is not)."""

    def __init__(self) -> None:
        self.t: list[float] = []

    def __call__(self, input_ids, scores):
        self.t.append(time.perf_counter())
        return scores


def _step_times(model, ids, n, processor, temperature) -> list[float]:
    import torch

    steps = _Steps()
    kw = (
        {"logits_processor": [processor(), steps], "do_sample": False}
        if processor
        else {"logits_processor": [steps], "do_sample": True, "temperature": temperature, "top_k": 0}
    )
    with torch.no_grad():
        model.generate(input_ids=ids, max_new_tokens=n, min_new_tokens=n, pad_token_id=0, **kw)
    return list(np.diff(steps.t))


def _ratio(model, ids, n, key, temperature, runs) -> tuple[float, float]:
    """Median step time with the watermark over without (interleaved runs), and the unmarked median in ms."""
    from assay.textmark.processors import WatermarkLogitsProcessor

    plain: list[float] = []
    marked: list[float] = []
    mark = lambda: WatermarkLogitsProcessor(key, temperature=temperature)  # noqa: E731
    for _ in range(runs):
        plain += _step_times(model, ids, n, None, temperature)
        marked += _step_times(model, ids, n, mark, temperature)
    return float(np.median(marked) / np.median(plain)), float(np.median(plain)) * 1000


def _overhead(model, prompts, key, temperature) -> dict[str, float]:
    """Generation step time with the watermark over without (medians of interleaved runs: the machine is
    shared), the bench model, batch 1 and 25."""
    import torch

    out = {}
    for batch in (1, 25):
        ids = torch.tensor([list(p) for p in prompts[:batch] if len(p) == 12][:batch])
        out[f"batch {ids.shape[0]}"] = _ratio(model, ids, 100, key, temperature, 5)[0]
    return out


def _overhead_big(key, temperature) -> dict[str, float]:
    """The same on a random-initialised GPT-2-small-shaped model (124M parameters, 50,257-token vocabulary)."""
    import torch
    import transformers

    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval()
    ids = torch.randint(0, 50257, (1, 16))
    ratio, ms = _ratio(model, ids, 32, key, temperature, 3)
    return {"batch 1": ratio, "ms_per_token_plain": ms}


def _report(r: dict, human: dict[str, list[str]]) -> str:
    dets = list(r["tpr"])
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
        "## True-positive rate at a false-positive rate of 1e-3 / 1e-6",
        "",
        "Each detector's threshold is its own p-value (Assay: exact Gamma, adjusted for its windows; KGW: exact "
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
        "repetitive model (SynthID a little, Assay more; KGW's shift is its bias): see QUALITY.md "
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
    for k, v in r["overhead"].items():
        lines.append(f"| generation step time with / without the Assay processor, bench model, {k} | {v:.3f} |")
    big = r["overhead_gpt2_small_shape"]
    lines.append(
        "| the same, GPT-2-small-shaped model (124 M, 50,257 tokens), batch 1 "
        f"({big['ms_per_token_plain']:.0f} ms/token) "
        f"| {big['batch 1']:.3f} |"
    )
    lines += [
        "",
        "## Assay screening 100 keys at once (TPR at 1e-3 / 1e-6, clean)",
        "",
        "| " + " | ".join(f"{L} tokens" for L in LENGTHS) + " |",
        "|" + "---|" * len(LENGTHS),
        "| " + " | ".join(" / ".join(f"{x:.1%}" for x in r["ring100"]["tpr"][L]) for L in LENGTHS) + " |",
        "",
        "Generation seconds per scheme (same prompts, batch 25): "
        + ", ".join(f"{k} {v:.0f}" for k, v in r["generation_seconds"].items())
        + ".",
        "",
    ]
    return "\n".join(lines)
