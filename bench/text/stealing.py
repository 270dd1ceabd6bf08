"""Watermark stealing and spoofing against Assay's text mark, by context width h (and KGW for reference).

    python -m bench.text.stealing                                  # the committed run
    python -m bench.text.stealing --budgets 50 200 --spoofs 40     # a quick look

In the spirit of Jovanovic, Staab and Vechev, "Watermark Stealing in Large Language Models" (ICML 2024),
adapted to keyed Gumbel-max sampling. The attacker queries one marked system N times (prompts: 12-token
openings of Python-docs paragraphs, as bench/text prompts; 200 new tokens each, temperature 0.4) and has the
same model unmarked (its own sampling); it never has the key. What it learns:

- *Full contexts.* In marked text, the token after a context (the h tokens before it) that is fresh in its text
  is the keyed race's winner: it has a high pseudo-random value r for that context, and the same context
  brings the same values in every text. The attacker keeps every (context, next token) pair of the first
  occurrence of each context in each text (repeated contexts are sampled unmarked: the scheme is public).
- *Partial contexts* (the paper's back-off): for the last h - 1 tokens of a context, how often each token
  followed them in marked text, against how often the model predicts it there (its top-20 probabilities at each
  occurrence); a token seen at least twice and 1.5 times more often than predicted is taken as favoured.
  With this scheme's pseudo-random function the seed mixes all h tokens, so a partial context carries no key
  information of its own: the variant measures whether the shared statistics leak anything anyway.

Spoofing: the attacker writes 200-token texts from fresh prompts with its own unmarked sampling (temperature
0.4), and at each step whose context it has learned picks the learned token when the model gives it at least
``--tau`` probability (the highest such one); otherwise it steers: among tokens of at least ``--tau``
probability, it samples one that leads into a learned context, and else samples the model freely. Three
attackers: *play* (learned tokens only, no steering), *play+steer*, and *play+steer, novel*, which never plays
or steers to a token that completes an 8-gram of its marked texts (a spoof that is new text, not marked text
replayed; the share of each spoof's tokens inside such 8-grams is reported as "copied"). A spoof
counts as a success when Assay's detector (windows and all, as ``assay check`` runs it) gives p <= 1e-3 or
<= 1e-6 (the register's threshold). Reported with Wilson 95% intervals, the learned-pair hit rate (the share of
the spoof's scored contexts whose pair was learned), and the spoof's perplexity under the model (temperature
1) next to plain unmarked sampling from the same prompts.

Scrubbing (the reverse): marked texts from fresh prompts; the attacker replaces the token of every position
whose pair it learned (the model's most likely other token), and, as a control, the same number of tokens at
random positions; the detection rate after each.

KGW (reference, context 1): the attacker estimates each previous token's green list from marked counts over
its own unmarked counts (the paper's ratio, with its back-off to the unconditional ratio), then samples with
+2 on the logits of tokens whose estimated ratio is above 1 (the strength and green share of the config).

Writes bench/text/STEALING.md and STEALING.json. The marked generations are cached in bench/text/.cache/.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PROMPT_TOKENS = 12
FPRS = (1e-3, 1e-6)
TOPK = 20
GRAM = 8  # a spoof token inside a marked 8-gram counts as copied


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    from .run import wilson as w

    return w(k, n, z)


def _prompts(tok, count: int, seed: int) -> list[list[int]]:
    """12-token openings of Python-docs paragraphs (both splits: the attacker prompts what it likes)."""
    from . import corpora

    paras = corpora.python_docs(training=True) + corpora.python_docs(training=False)
    order = np.random.default_rng(seed).permutation(len(paras))
    out, seen = [], set()
    for i in order:
        ids = tok.encode(paras[i])[:PROMPT_TOKENS].tolist()
        if len(ids) == PROMPT_TOKENS and tuple(ids) not in seen:
            seen.add(tuple(ids))
            out.append(ids)
        if len(out) == count:
            break
    if len(out) < count:
        raise SystemExit(f"only {len(out)} distinct prompts; ask for fewer texts")
    return out


def _generate(scheme, model, prompts, n_new, temperature, batch, log) -> np.ndarray:
    import torch

    torch.manual_seed(7)
    rows = []
    for b in range(0, len(prompts), batch):
        ids = torch.tensor(prompts[b : b + batch], dtype=torch.long)
        rows.append(scheme.generate(model, ids, torch.ones_like(ids), n_new, temperature).numpy())
        if (b // batch) % 10 == 9:
            log(f"    {b + len(rows[-1])} / {len(prompts)}")
    return np.concatenate(rows)


def _cached(name: str, make) -> np.ndarray:
    from . import model as bench_model

    path = bench_model.CACHE / "stealing" / f"{name}.npy"
    if path.exists():
        return np.load(path)
    arr = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, arr)
    return arr


class Learned:
    """What the attacker learned from N marked texts of a system with context width h."""

    def __init__(self, h: int, prompts: list[list[int]], texts: np.ndarray) -> None:
        self.h = h
        self.full: dict[tuple[int, ...], Counter] = defaultdict(Counter)
        for p, row in zip(prompts, texts, strict=True):
            seq = list(p) + row.tolist()
            used: set[tuple[int, ...]] = set()
            for i in range(len(p), len(seq)):
                c = tuple(seq[i - h : i])
                if c not in used:  # a repeated context is sampled unmarked
                    used.add(c)
                    self.full[c][seq[i]] += 1
        # For steering: the last tokens v that complete a learned context from its first h - 1 tokens.
        self.into: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for c in self.full:
            self.into[c[:-1]].append(c[-1])
        self.favoured: dict[tuple[int, ...], list[int]] = {}

    def learn_partial(self, model, prompts, texts, temperature: float) -> None:
        """The paper's back-off to partial contexts (the last h - 1 tokens): tokens seen at least twice and
        1.5 times more often than the model predicts at those occurrences."""
        import torch

        seen: dict[tuple[int, ...], Counter] = defaultdict(Counter)
        expected: dict[tuple[int, ...], Counter] = defaultdict(Counter)
        k = self.h - 1
        for b in range(0, len(prompts), 50):
            ids = torch.tensor(
                [list(p) + r.tolist() for p, r in zip(prompts[b : b + 50], texts[b : b + 50], strict=True)]
            )
            with torch.no_grad():
                probs = torch.softmax(model(ids).logits.double() / temperature, -1)
            top_p, top_i = torch.topk(probs, TOPK, dim=-1)
            top_p, top_i, seqs = top_p.numpy(), top_i.numpy(), ids.numpy()
            for r in range(len(seqs)):
                seq = seqs[r].tolist()
                for i in range(PROMPT_TOKENS, len(seq)):
                    s = tuple(seq[i - k : i])
                    seen[s][seq[i]] += 1
                    exp = expected[s]
                    for t, q in zip(top_i[r, i - 1].tolist(), top_p[r, i - 1].tolist(), strict=True):
                        exp[t] += q
        for s, cnt in seen.items():
            fav = [t for t, n in cnt.items() if n >= 2 and n >= 1.5 * expected[s].get(t, 0.0)]
            if fav:
                self.favoured[s] = fav


def _spoof(
    model,
    prompts,
    n_new,
    temperature,
    learned: Learned | None,
    tau: float,
    partial: bool,
    steer: bool,
    seed: int,
    avoid: set[bytes] | None = None,
):
    """Texts of the attacker's own sampling, steered to learned pairs. Returns (tokens (S, n_new), hits per
    text) where a hit is a step that played a learned full-context pair. With ``avoid`` (the marked texts'
    8-grams) the attacker never plays or steers to a token that completes a marked 8-gram: novel text only."""

    def fresh(seq: list[int], t: int) -> bool:
        return avoid is None or np.array(seq[1 - GRAM :] + [t], dtype=np.int64).tobytes() not in avoid

    import torch

    rng = np.random.default_rng(seed)
    seqs = [list(p) for p in prompts]
    used: list[set[tuple[int, ...]]] = [set() for _ in prompts]
    hits = np.zeros(len(prompts), dtype=int)
    ids = torch.tensor(prompts, dtype=torch.long)
    past = None
    out = np.zeros((len(prompts), n_new), dtype=np.int64)
    for step in range(n_new):
        with torch.no_grad():
            res = model(input_ids=ids, past_key_values=past, use_cache=True)
        past = res.past_key_values
        probs = torch.softmax(res.logits[:, -1].double() / temperature, -1).numpy()
        chosen = []
        for r, seq in enumerate(seqs):
            p = probs[r]
            tok = -1
            if learned is not None:
                h = learned.h
                c = tuple(seq[-h:])
                if c not in used[r]:
                    used[r].add(c)
                    cands = learned.full.get(c)
                    cands = [t for t in cands or () if fresh(seq, t)]
                    if cands:
                        best = max(cands, key=lambda t: p[t])
                        if p[best] >= tau:
                            tok = best
                            hits[r] += 1
                    if tok < 0 and partial:
                        fav = [t for t in learned.favoured.get(c[1:], ()) if fresh(seq, t)]
                        if fav:
                            best = max(fav, key=lambda t: p[t])
                            if p[best] >= tau:
                                tok = best
                if tok < 0 and steer:
                    nxt = [
                        v
                        for v in learned.into.get(c[1:], ())
                        if p[v] >= tau and (c[1:] + (v,)) not in used[r] and fresh(seq, v)
                    ]
                    if nxt:
                        w = p[nxt] / p[nxt].sum()
                        tok = int(nxt[int(rng.choice(len(nxt), p=w))])
            if tok < 0:
                tok = int(rng.choice(p.size, p=p / p.sum()))
            seq.append(tok)
            out[r, step] = tok
            chosen.append(tok)
        ids = torch.tensor(chosen, dtype=torch.long)[:, None]
    return out, hits


def _grams(prompts, texts, n: int = GRAM) -> set[bytes]:
    """Every token n-gram of the attacker's marked texts (prompt included)."""
    out: set[bytes] = set()
    for p, row in zip(prompts, texts, strict=True):
        seq = np.asarray(list(p) + row.tolist(), dtype=np.int64)
        out.update(w.tobytes() for w in np.lib.stride_tricks.sliding_window_view(seq, n))
    return out


def _copied(texts: np.ndarray, grams: set[bytes], n: int = GRAM) -> float:
    """The share of the texts' tokens that lie inside an n-gram found in the attacker's marked texts: how much
    of a spoof is verbatim marked text (plain sampling's share is the model's own repetitiveness)."""
    covered = total = 0
    for row in texts:
        seq = np.asarray(row, dtype=np.int64)
        inside = np.zeros(seq.size, dtype=bool)
        for i, w in enumerate(np.lib.stride_tricks.sliding_window_view(seq, n)):
            if w.tobytes() in grams:
                inside[i : i + n] = True
        covered += int(inside.sum())
        total += seq.size
    return covered / max(1, total)


def _perplexity(model, prompts, texts) -> float:
    import torch

    nll = []
    for b in range(0, len(prompts), 50):
        ids = torch.tensor([list(p) + r.tolist() for p, r in zip(prompts[b : b + 50], texts[b : b + 50], strict=True)])
        with torch.no_grad():
            lp = torch.log_softmax(model(ids).logits[:, PROMPT_TOKENS - 1 : -1].double(), -1)
        nll.extend((-lp.gather(2, ids[:, PROMPT_TOKENS:, None])[..., 0].mean(1)).tolist())
    return math.exp(float(np.mean(nll)))


def _rates(log10_ps: list[float]) -> dict:
    n = len(log10_ps)
    out = {"n": n, "median_log10_p": float(np.median(log10_ps))}
    for f in FPRS:
        k = int(sum(lp <= math.log10(f) for lp in log10_ps))
        out[f"{f:g}"] = {"k": k, "rate": k / n, "wilson": wilson(k, n)}
    return out


def _hit_share(learned: Learned, texts: np.ndarray, tok) -> float:
    """The share of scored contexts (first occurrences, as the detector counts them) whose pair was learned,
    over the re-tokenised texts."""
    h, hit, total = learned.h, 0, 0
    for row in texts:
        ids = tok.encode(tok.decode(row)).tolist()
        seen: set[tuple[int, ...]] = set()
        for i in range(h, len(ids)):
            c = tuple(ids[i - h : i])
            if c in seen:
                continue
            seen.add(c)
            total += 1
            hit += ids[i] in learned.full.get(c, ())
    return hit / max(1, total)


def _scrub(model, texts: np.ndarray, prompts, learned: Learned, rng: np.random.Generator, fraction: float):
    """Replace the token at learned-pair positions (targeted; at most ``fraction`` of the tokens, chosen at
    random among them) or at as many random positions (control) with the model's most likely other token.
    Returns (targeted texts, control texts, edits per text)."""
    import torch

    h = learned.h
    targeted, control, edits = texts.copy(), texts.copy(), []
    for r, row in enumerate(texts):
        seq = list(prompts[r]) + row.tolist()
        pos, used = [], set()
        for i in range(PROMPT_TOKENS, len(seq)):
            c = tuple(seq[i - h : i])
            if c not in used:
                used.add(c)
                if seq[i] in learned.full.get(c, ()):
                    pos.append(i - PROMPT_TOKENS)
        budget = max(1, round(fraction * len(row)))
        if len(pos) > budget:
            pos = sorted(rng.choice(pos, size=budget, replace=False).tolist())
        rand = sorted(rng.choice(len(row), size=len(pos), replace=False).tolist()) if pos else []
        with torch.no_grad():
            logits = model(torch.tensor([seq])).logits[0, PROMPT_TOKENS - 1 : -1]
        second = torch.topk(logits, 2, dim=-1).indices.numpy()
        for arr, where in ((targeted, pos), (control, rand)):
            for j in where:
                arr[r, j] = second[j, 1] if second[j, 0] == row[j] else second[j, 0]
        edits.append(len(pos))
    return targeted, control, edits


def _kgw_reference(model, tok, prompts_q, prompts_s, n_new, temperature, batch, budget, spoofs, log) -> dict:
    """KGW (context 1, green share 0.25, bias 2): learn green lists per previous token from marked vs the
    attacker's unmarked counts, spoof with +2 on the tokens estimated green; detected by KGW's own detector."""
    import torch

    from . import peers

    scheme = peers.kgw(model.config)
    base = peers.unmarked()
    marked = _cached(f"kgw-{budget}", lambda: _generate(scheme, model, prompts_q, n_new, temperature, batch, log))
    plain = _cached(f"unmarked-{budget}", lambda: _generate(base, model, prompts_q, n_new, temperature, batch, log))
    vocab = model.config.vocab_size

    def counts(texts, prompts):
        pair: dict[int, Counter] = defaultdict(Counter)
        uni: Counter = Counter()
        for p, row in zip(prompts, texts, strict=True):
            seq = list(p) + row.tolist()
            for i in range(len(p), len(seq)):
                pair[seq[i - 1]][seq[i]] += 1
                uni[seq[i]] += 1
        return pair, uni

    pm, um = counts(marked, prompts_q)
    pb, ub = counts(plain, prompts_q)
    nm, nb = sum(um.values()), sum(ub.values())
    uni_ratio = np.ones(vocab)
    for t in set(um) | set(ub):
        uni_ratio[t] = ((um[t] + 1) / (nm + vocab)) / ((ub[t] + 1) / (nb + vocab))
    bias_rows: dict[int, np.ndarray] = {}

    def bias_for(prev: int) -> np.ndarray:
        if prev not in bias_rows:
            ratio = uni_ratio.copy()
            cm, cb = pm.get(prev, Counter()), pb.get(prev, Counter())
            tm, tb = sum(cm.values()), sum(cb.values())
            for t in set(cm) | set(cb):
                if cm[t] + cb[t] >= 2:
                    ratio[t] = ((cm[t] + 0.5) / (tm + 1)) / ((cb[t] + 0.5) / (tb + 1))
            bias_rows[prev] = np.where(ratio > 1.0, 2.0, 0.0)
        return bias_rows[prev]

    rng = np.random.default_rng(11)
    ids = torch.tensor(prompts_s, dtype=torch.long)
    seqs = [list(p) for p in prompts_s]
    past, out = None, np.zeros((len(prompts_s), n_new), dtype=np.int64)
    for step in range(n_new):
        with torch.no_grad():
            res = model(input_ids=ids, past_key_values=past, use_cache=True)
        past = res.past_key_values
        logits = res.logits[:, -1].double().numpy() / temperature
        chosen = []
        for r, seq in enumerate(seqs):
            z = logits[r] + bias_for(seq[-1]) / temperature
            p = np.exp(z - z.max())
            t = int(rng.choice(vocab, p=p / p.sum()))
            seq.append(t)
            out[r, step] = t
            chosen.append(t)
        ids = torch.tensor(chosen, dtype=torch.long)[:, None]
    det = scheme.detectors["KGW"]
    lps = [det(tok.encode(tok.decode(row))) for row in out]
    return {"budget": budget, "spoofs": _rates(lps), "perplexity": _perplexity(model, prompts_s, out)}


ATTACKS = ("play", "play+steer", "play+steer, novel")


def _cell(rates: dict, f: float) -> str:
    c = rates[f"{f:g}"]
    return f"{c['rate']:.0%} [{c['wilson'][0]:.0%}, {c['wilson'][1]:.0%}]"


def _report(r: dict) -> str:
    st = r["settings"]
    widths = list(r["widths"])
    budgets = sorted({int(n) for w in r["widths"].values() for n in w["budgets"]})
    lines = [
        "# Watermark stealing and spoofing: Assay's text mark by context width h",
        "",
        f"`python -m bench.text.stealing` ({r['date']}; load average "
        f"{', '.join(f'{x:.1f}' for x in r['load_average'])} on a shared 2-core machine; "
        f"{r['seconds'] / 60:.0f} minutes; torch {r['torch']}). The bench model (bench/text/model.py, final training "
        f"loss {r.get('model_loss', float('nan')):.2f}), the bench's fixed key secret at each width; the attacker gets "
        f"N marked texts of {st['tokens']} tokens (12-token prompts from the Python docs, temperature "
        f"{st['temperature']}) and the model itself, never the key; {st['spoofs']} spoofs of {st['tokens']} tokens "
        f"per cell, from prompts it did not query; tau = {st['tau']} (the least probability of a token it plays). "
        "How the attacks work: the module docstring of bench/text/stealing.py.",
        "",
        *([r["reading"], ""] if r.get("reading") else []),
        "## Spoof success at p <= 1e-6 (the register's threshold), Wilson 95% intervals",
        "",
        "| attacker | N | " + " | ".join(f"h = {h}" for h in widths) + " |",
        "|---|---|" + "---|" * len(widths),
    ]
    for a in ATTACKS:
        for n in budgets:
            cells = []
            for h in widths:
                b = r["widths"][h]["budgets"].get(str(n))
                cells.append(_cell(b[a]["spoofs"], 1e-6) if b and a in b else "—")
            lines.append(f"| {a} | {n:,} | " + " | ".join(cells) + " |")
    lines.append(
        "| plain sampling (control) | — | "
        + " | ".join(_cell(r["widths"][h]["plain_spoof_control"], 1e-6) for h in widths)
        + " |"
    )
    for h in widths:
        w = r["widths"][h]
        lines += [
            "",
            f"## h = {h}",
            "",
            "| N | contexts learned | attacker | p <= 1e-3 | p <= 1e-6 | median log10 p | learned-pair hit rate | "
            "copied (in a marked 8-gram) | perplexity |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for n, b in sorted(w["budgets"].items(), key=lambda kv: int(kv[0])):
            lines.append(
                f"| {int(n):,} | {b['contexts_learned']:,} | plain sampling | "
                f"{_cell(w['plain_spoof_control'], 1e-3)} | {_cell(w['plain_spoof_control'], 1e-6)} | "
                f"{w['plain_spoof_control']['median_log10_p']:.1f} | {b['plain_hit_share']:.0%} | "
                f"{b['plain_copied']:.1%} | {r['plain_perplexity']:.1f} |"
            )
            for a in ATTACKS:
                if a in b:
                    x = b[a]
                    lines.append(
                        f"| {int(n):,} | | {a} | {_cell(x['spoofs'], 1e-3)} | {_cell(x['spoofs'], 1e-6)} | "
                        f"{x['spoofs']['median_log10_p']:.1f} | {x['hit_share']:.0%} | {x['copied']:.1%} | "
                        f"{x['perplexity']:.1f} |"
                    )
        if "with_partial" in w:
            x = w["with_partial"]
            lines.append(
                f"| {x['budget']:,} | + {x['partial_contexts']:,} partial | play + partial contexts | "
                f"{_cell(x['spoofs'], 1e-3)} | {_cell(x['spoofs'], 1e-6)} | {x['spoofs']['median_log10_p']:.1f} | "
                f"{x['hit_share']:.0%} | — | {x['perplexity']:.1f} |"
            )
    if any("scrub" in w for w in r["widths"].values()):
        lines += [
            "",
            "## Scrubbing: edit the learned pairs of a marked text (detection rate after the edits)",
            "",
            "| h | N | texts | token edits per text | unedited | learned pairs edited | as many random tokens edited |",
            "|---|---|---|---|---|---|---|",
        ]
        for h in widths:
            x = r["widths"][h].get("scrub")
            if x:
                lines.append(
                    f"| {h} | {x['budget']:,} | {x['texts']} | {x['edits_per_text']:.1f} | "
                    + " | ".join(
                        f"{_cell(x[k], 1e-3)} / {_cell(x[k], 1e-6)} (median {x[k]['median_log10_p']:.1f})"
                        for k in ("marked", "targeted", "random_same_count")
                    )
                    + " |"
                )
        lines += ["", "Cells: detected at p <= 1e-3 / p <= 1e-6, Wilson 95% intervals, and the median log10 p."]
    if "kgw" in r:
        k = r["kgw"]
        lines += [
            "",
            "## Reference: KGW (context 1, green share 0.25, bias 2), its own detector",
            "",
            f"N = {k['budget']:,} marked texts plus as many of the attacker's own unmarked ones: spoofs detected at "
            f"p <= 1e-3 {_cell(k['spoofs'], 1e-3)}, at p <= 1e-6 {_cell(k['spoofs'], 1e-6)} (median log10 p "
            f"{k['spoofs']['median_log10_p']:.1f}); spoof perplexity {k['perplexity']:.1f} "
            f"(plain sampling {r['plain_perplexity']:.1f}).",
        ]
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--budgets", type=int, nargs="+", default=[100, 300, 1000], help="marked texts the attacker gets")
    ap.add_argument("--max-budget", type=json.loads, default={}, help='per width, e.g. {"4": 300}')
    ap.add_argument("--spoofs", type=int, default=100, help="spoof texts per (width, budget)")
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--temperature", type=float, default=0.4)
    ap.add_argument("--tau", type=float, default=0.02, help="least probability of a token the attacker plays")
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--kgw-budget", type=int, default=0, help="also the KGW reference at this budget (0: skip)")
    ap.add_argument("--no-scrub", action="store_true")
    ap.add_argument("--scrub-fraction", type=float, default=0.1, help="most tokens a scrub edits (share)")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--report-only", action="store_true", help="rewrite STEALING.md from STEALING.json (no run)")
    args = ap.parse_args(argv)
    if args.report_only:
        (args.out / "STEALING.md").write_text(_report(json.loads((args.out / "STEALING.json").read_text())))
        return 0

    import torch

    torch.set_num_threads(1)
    from assay.textmark import TextKey, detect

    from . import model as bench_model
    from . import peers

    t_start = time.time()
    log = lambda m: print(m, flush=True)  # noqa: E731
    folder, model, tok = bench_model.load(log=log)
    n_q = max(args.budgets)
    prompts = _prompts(tok, n_q + 2 * args.spoofs, seed=20261205)
    prompts_q, prompts_s, prompts_x = prompts[:n_q], prompts[n_q : n_q + args.spoofs], prompts[n_q + args.spoofs :]
    T, L = args.temperature, args.tokens

    # The attacker's own unmarked sampling from the spoof prompts: the baseline (and a false-positive control).
    plain, _ = _spoof(model, prompts_s, L, T, None, args.tau, False, False, seed=3)
    out: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "plain_perplexity": _perplexity(model, prompts_s, plain),
        "model_loss": json.loads((folder / "train.json").read_text()).get("final_loss", float("nan")),
        "widths": {},
    }
    for h in args.widths:
        key = TextKey(bytes(range(32)), context_width=h, system_id=f"bench-h{h}")  # the bench's keys
        det = lambda ids, key=key: detect(ids, key).log10_p  # noqa: E731
        top = min(n_q, int(args.max_budget.get(str(h), n_q)))
        scheme = peers.assay(key, f"Assay (h = {h})")
        t0 = time.time()
        marked = _cached(
            f"assay-h{h}-{top}-{L}-T{T}",
            lambda scheme=scheme, top=top: _generate(scheme, model, prompts_q[:top], L, T, args.batch, log),
        )
        log(f"h = {h}: {top} marked texts ({time.time() - t0:.0f} s)")
        res: dict = {
            "plain_spoof_control": _rates([det(tok.encode(tok.decode(r))) for r in plain]),
            "budgets": {},
        }
        learned = None
        for n in [b for b in args.budgets if b <= top]:
            learned = Learned(h, prompts_q[:n], marked[:n])
            grams = _grams(prompts_q[:n], marked[:n])
            res["budgets"][str(n)] = {
                "contexts_learned": len(learned.full),
                "plain_hit_share": _hit_share(learned, plain, tok),
                "plain_copied": _copied(plain, grams),
            }
            for variant, steer, avoid in (
                ("play", False, None),
                ("play+steer", True, None),
                ("play+steer, novel", True, grams),
            ):
                t0 = time.time()
                sp, hits = _spoof(model, prompts_s, L, T, learned, args.tau, False, steer, seed=5, avoid=avoid)
                lps = [det(tok.encode(tok.decode(r))) for r in sp]
                res["budgets"][str(n)][variant] = {
                    "spoofs": _rates(lps),
                    "hit_share": _hit_share(learned, sp, tok),
                    "played_per_text": float(hits.mean()),
                    "copied": _copied(sp, grams),
                    "perplexity": _perplexity(model, prompts_s, sp),
                    "seconds": time.time() - t0,
                }
            log(f"  N = {n}: {json.dumps(res['budgets'][str(n)])}")
        if learned is not None:
            n = max(b for b in args.budgets if b <= top)
            learned.learn_partial(model, prompts_q[:n], marked[:n], T)
            sp, hits = _spoof(model, prompts_s, L, T, learned, args.tau, True, False, seed=5)
            lps = [det(tok.encode(tok.decode(r))) for r in sp]
            res["with_partial"] = {
                "budget": n,
                "variant": "play + partial contexts",
                "partial_contexts": len(learned.favoured),
                "spoofs": _rates(lps),
                "hit_share": _hit_share(learned, sp, tok),
                "perplexity": _perplexity(model, prompts_s, sp),
            }
            log(f"  N = {n} with partial contexts: {json.dumps(res['with_partial'])}")
            if not args.no_scrub:
                fresh = _cached(
                    f"assay-h{h}-scrub-{len(prompts_x)}-{L}-T{T}",
                    lambda scheme=scheme: _generate(scheme, model, prompts_x, L, T, args.batch, log),
                )
                tgt, ctl, edits = _scrub(
                    model, fresh, prompts_x, learned, np.random.default_rng(h), args.scrub_fraction
                )
                res["scrub"] = {
                    "budget": n,
                    "texts": len(fresh),
                    "edits_per_text": float(np.mean(edits)),
                    "marked": _rates([det(tok.encode(tok.decode(r))) for r in fresh]),
                    "targeted": _rates([det(tok.encode(tok.decode(r))) for r in tgt]),
                    "random_same_count": _rates([det(tok.encode(tok.decode(r))) for r in ctl]),
                }
                log(f"  scrub: {json.dumps(res['scrub'])}")
        out["widths"][str(h)] = res
        (args.out / "STEALING.json").write_text(json.dumps(out, indent=1))
    if args.kgw_budget:
        out["kgw"] = _kgw_reference(
            model, tok, prompts_q[: args.kgw_budget], prompts_s, L, T, args.batch, args.kgw_budget, args.spoofs, log
        )
        log(f"KGW: {json.dumps(out['kgw'])}")
    out["load_average"] = os.getloadavg()
    out["seconds"] = time.time() - t_start
    out["platform"] = platform.platform()
    out["torch"] = torch.__version__
    (args.out / "STEALING.json").write_text(json.dumps(out, indent=1))
    (args.out / "STEALING.md").write_text(_report(out))
    print((args.out / "STEALING.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
