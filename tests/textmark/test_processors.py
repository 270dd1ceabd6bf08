"""Marking at generation: the torch processors for transformers and vLLM, with a tiny local model."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, auto

import numpy as np
import pytest
from scipy import stats

from assay.textmark import TextKey, TextTokenizer, _prf, detect

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from assay.textmark.processors import GumbelSampler, WatermarkLogitsProcessor, warp  # noqa: E402
from assay.textmark.vllm import AssayTextWatermark  # noqa: E402


def test_torch_and_numpy_give_the_same_values():
    key = TextKey.generate(context_width=3)
    sampler = GumbelSampler(key)
    rng = np.random.default_rng(0)
    ctx = rng.integers(0, 200_000, size=(9, 3))
    words = _prf.key_words(key.secret)
    seeds = _prf.context_seeds(ctx, words)
    assert (seeds.view(np.int64) == sampler.seeds(ctx.tolist(), torch.device("cpu")).numpy()).all()
    # A few contexts (batch 1 at generation) take the Python-int path: the same values.
    for rows in (ctx[:1], ctx[:3]):
        small = sampler.seeds(rows.tolist(), torch.device("cpu")).numpy()
        assert (small == _prf.context_seeds(rows, words).view(np.int64)).all()
    # Many keys at once (detection screens a key ring in one pass) give each key's values.
    ring = [TextKey.generate(context_width=3) for _ in range(4)]
    many = _prf.context_seeds(
        ctx, tuple(np.array([[_prf.key_words(k.secret)[i]] for k in ring], np.uint64) for i in range(4))
    )
    for j, k in enumerate(ring):
        assert (many[j] == _prf.context_seeds(ctx, _prf.key_words(k.secret))).all()
    vocab = 3000
    exps = sampler.exponentials(torch.tensor(seeds.view(np.int64)), vocab).numpy()
    m = _prf.mantissas(seeds[:, None], _prf.token_table(np.arange(vocab), words)[None, :])
    assert np.allclose(exps, -np.log((m + 0.5) / _prf.TWO52), rtol=1e-12)


def test_each_step_samples_exactly_from_the_model_distribution():
    # Over fresh contexts the keyed choice of token v has probability p_v (the exponential race): chi-square.
    sampler = GumbelSampler(TextKey.generate(context_width=2))
    p = torch.tensor([0.4, 0.25, 0.15, 0.1, 0.06, 0.04], dtype=torch.float64)
    n = 20_000
    ctx = np.arange(2 * n, dtype=np.int64).reshape(n, 2)
    exps = sampler.exponentials(sampler.seeds(ctx, torch.device("cpu")), p.numel())
    chosen = sampler.race(torch.log(p).expand(n, -1), exps)
    counts = np.bincount(chosen.numpy(), minlength=6)
    assert stats.chisquare(counts, p.numpy() * n).pvalue > 1e-3
    # The processor races unnormalised log-probabilities (a shift per row): the same winners.
    assert torch.equal(sampler.race(torch.log(p * 3.7).expand(n, -1), exps), chosen)
    # choose() takes other paths for one row and for a batch of fresh rows: the same tokens.
    logp = torch.log(p).expand(n, -1)
    assert torch.equal(sampler.choose(logp[:50], ctx[:50].tolist(), [True] * 50, None), chosen[:50])
    for i in range(5):
        assert int(sampler.choose(logp[i : i + 1], [ctx[i].tolist()], [True], None)[0]) == int(chosen[i])


def test_warp_matches_the_transformers_warpers():
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    torch.manual_seed(1)
    logits = torch.randn(4, 500) * 3
    ours = warp(logits, temperature=0.7, top_k=50, top_p=0.9)
    x = TemperatureLogitsWarper(0.7)(None, logits.clone())
    x = TopKLogitsWarper(50)(None, x)
    x = TopPLogitsWarper(0.9)(None, x)
    theirs = torch.log_softmax(x.double(), dim=-1)
    assert torch.equal(torch.isfinite(ours), torch.isfinite(theirs))
    finite = torch.isfinite(ours)
    assert torch.allclose(ours[finite], theirs[finite], atol=1e-5)


def _generate(model, tokenizer, prompt, processor=None, n=160, seed=0):
    torch.manual_seed(seed)
    inputs = tokenizer(prompt, return_tensors="pt")
    kwargs = {"logits_processor": [processor], "do_sample": False} if processor else {"do_sample": True}
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=n, min_new_tokens=n, pad_token_id=0, **kwargs)
    return out[0, inputs["input_ids"].shape[1] :].tolist()


def test_transformers_generation_is_detected_from_text(tiny, model_dir):
    model, tokenizer = tiny
    key = TextKey.generate(system_id="acme-chat")
    other = TextKey.generate(system_id="other-chat")
    proc = WatermarkLogitsProcessor(key, temperature=1.0)
    ids = _generate(model, tokenizer, "The harbour town", proc)
    assert proc.marked_steps > 0.9 * len(ids)
    text = tokenizer.decode(ids)
    tok = TextTokenizer.from_path(model_dir)
    d = detect(tok.encode(text), [other, key])
    assert d.marked and d.system_id == "acme-chat" and d.p_value < 1e-12
    # The same model without the processor, and the marked text under a different key: no mark.
    plain = _generate(model, tokenizer, "The harbour town", None)
    assert not detect(plain, [key, other]).marked
    assert not detect(tok.encode(text), other).marked


def test_a_new_generate_call_starts_afresh_and_repeated_contexts_are_not_reused():
    key = TextKey.generate(context_width=2)
    proc = WatermarkLogitsProcessor(key)
    scores = torch.zeros(1, 50)
    proc(torch.tensor([[1, 2, 3]]), scores)
    proc(torch.tensor([[1, 2, 3, 4]]), scores)
    assert (proc.marked_steps, proc.random_steps) == (2, 0)
    # The context (3, 4) comes back: that step is sampled with true randomness, not the keyed values.
    proc(torch.tensor([[1, 2, 3, 4, 3]]), scores)
    proc(torch.tensor([[1, 2, 3, 4, 3, 4]]), scores)
    assert (proc.marked_steps, proc.random_steps) == (3, 1)
    # A new prompt (length jumps back): the seen-contexts start afresh, so (3, 4) is keyed again.
    proc(torch.tensor([[3, 4]]), scores)
    assert (proc.marked_steps, proc.random_steps) == (4, 1)


def test_a_batch_is_marked_in_one_pass_exactly_as_row_by_row():
    # The batched path (seeds tracked per row as an array, one fused race for all rows, the repeated-context
    # rows redone with true randomness) gives every fresh row the token the one-row path gives it, and
    # flags the same steps as repeated.
    key = TextKey.generate(context_width=2)
    torch.manual_seed(3)
    rows = torch.tensor([[5, 6, 7], [8, 9, 10], [5, 6, 7], [1, 2, 3]])
    batch = WatermarkLogitsProcessor(key, temperature=0.9)
    singles = [WatermarkLogitsProcessor(key, temperature=0.9) for _ in range(len(rows))]
    ids = rows
    for step in range(12):
        scores = torch.randn(len(rows), 300)
        # Row 3 repeats its context (2, 3) at every step: after the first step it is never keyed again.
        nxt = batch(ids, scores).argmax(-1)
        for i, single in enumerate(singles):
            before = single.marked_steps
            one = int(single(ids[i : i + 1], scores[i : i + 1]).argmax(-1))
            if single.marked_steps > before:
                assert one == int(nxt[i]), (step, i)
        ids = torch.cat([ids, nxt[:, None]], dim=1)
        ids[3, -2:] = torch.tensor([2, 3])
    assert batch.marked_steps == sum(s.marked_steps for s in singles)
    assert batch.random_steps == sum(s.random_steps for s in singles) and batch.random_steps >= 11
    # The fused race (numpy on the CPU, torch elsewhere) is the plain one.
    sampler = GumbelSampler(key)
    logp = torch.randn(400, 300, dtype=torch.float64)
    seeds = sampler.seeds(np.arange(800).reshape(400, 2).tolist(), torch.device("cpu"))
    plain = sampler.race(logp, sampler.exponentials(seeds, 300))
    assert torch.equal(sampler.keyed_race(logp, seeds), plain)
    assert torch.equal(sampler._torch_race(logp, seeds), plain)
    assert int(sampler.keyed_race(logp[:1], int(seeds[0]))[0]) == int(plain[0])


def test_processor_output_allows_one_token_and_greedy_is_untouched():
    key = TextKey.generate()
    scores = torch.randn(3, 100)
    out = WatermarkLogitsProcessor(key, top_k=10)(torch.randint(0, 100, (3, 5)), scores)
    assert (torch.isfinite(out).sum(dim=-1) == 1).all()
    # The chosen token is always inside the top-k the processor was given.
    chosen = out.argmax(dim=-1)
    top = torch.topk(scores, 10).indices
    assert all(int(c) in top[i].tolist() for i, c in enumerate(chosen))
    same = WatermarkLogitsProcessor(key, temperature=0.0)(torch.randint(0, 100, (3, 5)), scores)
    assert same is scores
    cfg = transformers.GenerationConfig(do_sample=True, temperature=0.7, top_p=0.9)
    proc = WatermarkLogitsProcessor.from_generation_config(key, cfg)
    assert (proc.temperature, proc.top_k, proc.top_p) == (0.7, 50, 0.9)  # transformers' default top_k is 50
    greedy = WatermarkLogitsProcessor.from_generation_config(key, transformers.GenerationConfig(do_sample=False))
    assert greedy.temperature == 0.0


# --------------------------------------------------------------------------------------------------- vLLM V1


class MoveDirectionality(Enum):  # the names vLLM's enum uses
    UNIDIRECTIONAL = auto()
    SWAP = auto()


@dataclass
class Params:
    temperature: float = 1.0
    top_k: int = -1
    top_p: float = 1.0
    extra_args: dict | None = None


@dataclass
class Update:
    batch_size: int
    removed: list = field(default_factory=list)
    added: list = field(default_factory=list)
    moved: list = field(default_factory=list)


def test_vllm_processor_marks_the_requests_it_should():
    key = TextKey.generate(system_id="acme-chat")
    proc = AssayTextWatermark(None, torch.device("cpu"), False, keys=[key])
    assert proc.is_argmax_invariant() is False
    outs = [[], [], []]
    proc.update_state(
        Update(
            3,
            added=[
                (0, Params(), [5, 6, 7], outs[0]),
                (1, Params(extra_args={"assay_text_mark": False}), [5, 6, 7], outs[1]),
                (2, Params(temperature=0.0), [5, 6, 7], outs[2]),
            ],
        )
    )
    torch.manual_seed(0)
    for _ in range(150):
        logits = torch.randn(3, 2000)
        before = logits.clone()
        out = proc.apply(logits)
        assert torch.equal(out[1], before[1]) and torch.equal(out[2], before[2])  # opted out, greedy
        assert int(torch.isfinite(out[0]).sum()) == 1
        outs[0].append(int(out[0].argmax()))
        proc.update_state(None)
    assert detect(outs[0], key).marked
    # A swap moves the request's state with it; removal forgets it.
    proc.update_state(Update(3, moved=[(0, 2, MoveDirectionality.SWAP)]))
    out = proc.apply(torch.randn(3, 2000))
    assert int(torch.isfinite(out[2]).sum()) == 1 and int(torch.isfinite(out[0]).sum()) == 2000
    proc.update_state(Update(2, removed=[2]))
    assert int(torch.isfinite(proc.apply(torch.randn(3, 2000))).sum()) == 3 * 2000


def test_vllm_processor_picks_the_key_a_request_names():
    keys = [TextKey.generate(system_id="a"), TextKey.generate(system_id="b")]
    proc = AssayTextWatermark(None, "cpu", False, keys=keys)
    AssayTextWatermark.validate_params(Params(extra_args={"assay_text_mark": "b"}))
    with pytest.raises(ValueError):
        AssayTextWatermark.validate_params(Params(extra_args={"assay_text_mark": 3}))
    with pytest.raises(ValueError, match="several text keys"):
        proc.update_state(Update(1, added=[(0, Params(), [1, 2, 3], [])]))
    out: list[int] = []
    proc.update_state(Update(1, added=[(0, Params(top_p=0.95, extra_args={"assay_text_mark": "b"}), [1, 2, 3], out)]))
    for _ in range(120):
        out.append(int(proc.apply(torch.randn(1, 1000))[0].argmax()))
    d = detect(out, keys)
    assert d.marked and d.system_id == "b"


def test_vllm_processor_reads_its_key_file_from_the_environment(tmp_path, monkeypatch):
    key = TextKey.generate(system_id="acme-chat")
    path = tmp_path / "acme-chat.textkey.json"
    path.write_text(key.to_json())
    monkeypatch.setenv("ASSAY_TEXT_KEY_FILE", str(path))
    proc = AssayTextWatermark(None, "cpu", False)
    assert proc._default is not None and proc._default.key == key
    monkeypatch.delenv("ASSAY_TEXT_KEY_FILE")
    with pytest.raises(ValueError, match="ASSAY_TEXT_KEY_FILE"):
        AssayTextWatermark(None, "cpu", False)


def test_detection_never_imports_torch():
    import subprocess
    import sys

    code = (
        "import sys; from assay.textmark import TextKey, detect; "
        "detect([1, 2, 3, 4, 5], TextKey.generate()); assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
