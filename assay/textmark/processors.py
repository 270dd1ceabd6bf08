"""Marking at generation: the watermark as a logits processor (torch; imported only by those who generate).

Hugging Face ``transformers``::

    from assay.textmark import TextKey, WatermarkLogitsProcessor
    key = TextKey.from_json(open("acme-chat.textkey.json").read())
    mark = WatermarkLogitsProcessor(key, temperature=0.8, top_p=0.95)
    out = model.generate(**inputs, logits_processor=[mark], do_sample=False, max_new_tokens=200)

The processor *samples*: it applies the temperature, top-k and top-p it is given (or those of a generation config:
``WatermarkLogitsProcessor.from_generation_config(key, model.generation_config)``), draws the next token with
the keyed Gumbel-max rule (an exact sample from that distribution) and returns logits that allow only that
token. ``transformers`` runs user processors before its own temperature/top-k/top-p warpers, so give the
sampling settings to the processor and generate with ``do_sample=False`` (with ``do_sample=True`` the result
is the same: every warper keeps the one allowed token).

vLLM (V1 engine): see :class:`assay.textmark.vllm.AssayTextWatermark`, built on :class:`GumbelSampler` below.

Why the output is distortion-free: at each step the rule picks ``argmin_v E_v / p_v`` with ``E_v = -log r_v``;
when the ``r_v`` are independent uniforms the ``E_v`` are independent Exp(1) and the minimum falls on ``v``
with probability exactly ``p_v`` (an exponential race). The ``r_v`` are fresh as long as the context was not
used before in the same generation; when a context repeats, the step is sampled with true randomness instead,
so no pseudo-random value is ever reused within one text. Across texts the same context gives the same values:
the same prompt and the same opening tokens give the same continuation (see docs/text-provenance.md).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import torch

from assay.textmark import _prf
from assay.textmark._keys import TextKey

__all__ = ["GumbelSampler", "WatermarkLogitsProcessor", "load_local_model", "warp"]


def _signed(x: int) -> int:
    return x - (1 << 64) if x >= (1 << 63) else x


_M1, _M2, _GOLDEN = _signed(_prf.M1), _signed(_prf.M2), _signed(_prf.GOLDEN)


def _srl(x: torch.Tensor, s: int) -> torch.Tensor:
    # torch shifts int64 arithmetically; masking the sign-extended bits makes it a logical shift.
    return (x >> s) & ((1 << (64 - s)) - 1)


def _mix(x: torch.Tensor) -> torch.Tensor:
    # The same SplitMix64 finaliser as _prf.mix, on int64 with wrapping multiplication.
    x = (x ^ _srl(x, 30)) * _M1
    x = (x ^ _srl(x, 27)) * _M2
    return x ^ _srl(x, 31)


def _mix_(x: torch.Tensor) -> torch.Tensor:
    # _mix in place on a tensor the caller owns: the processor runs at every step over the whole vocabulary,
    # and at batch 1 on a small model allocation, not arithmetic, is most of its cost.
    for shift, mult in ((30, _M1), (27, _M2)):
        x.bitwise_xor_(_srl(x, shift)).mul_(mult)
    return x.bitwise_xor_(_srl(x, 31))


_MASK64 = (1 << 64) - 1


def _py_mix(x: int) -> int:
    # The same finaliser on a Python int (for a handful of contexts, cheaper than any array call).
    x = ((x ^ (x >> 30)) * _prf.M1) & _MASK64
    x = ((x ^ (x >> 27)) * _prf.M2) & _MASK64
    return x ^ (x >> 31)


def warp(
    logits: torch.Tensor, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, normalise: bool = True
) -> torch.Tensor:
    """Log-probabilities (float64) after temperature, top-k and top-p, rows of ``logits`` independently.
    ``normalise=False`` may skip the normalisation (log-probabilities up to a constant per row: enough for the
    race, whose winner does not change when a row is shifted)."""
    x = logits.to(torch.float64)
    if temperature != 1.0:
        x = x / temperature
    if not normalise and not top_k and top_p >= 1.0:
        return x
    if top_k and 0 < top_k < x.shape[-1]:
        kth = torch.topk(x, top_k, dim=-1).values[..., -1:]
        x = x.masked_fill(x < kth, -math.inf)
    if top_p < 1.0:
        sorted_x, idx = torch.sort(x, dim=-1, descending=True)
        probs = torch.softmax(sorted_x, dim=-1)
        # Drop a token when the tokens ranked above it already cover top_p (the first one always stays).
        drop = (torch.cumsum(probs, dim=-1) - probs) >= top_p
        x = x.masked_fill(torch.zeros_like(drop).scatter(-1, idx, drop), -math.inf)
    return torch.log_softmax(x, dim=-1)


class GumbelSampler:
    """The keyed sampling rule for one key, on any torch device (tables are built per vocabulary size)."""

    def __init__(self, key: TextKey) -> None:
        self.key = key
        self.context_width = key.context_width
        self._uwords = _prf.key_words(key.secret)
        self._words = tuple(_signed(w) for w in self._uwords)
        self._tables: dict[tuple[int, str], torch.Tensor] = {}
        self._np_tables: dict[int, np.ndarray] = {}
        self._work: tuple = ()  # work buffers of the last shape raced (torch tensors or numpy arrays)
        self._work_key: tuple[int, int, str] | None = None

    def _table(self, vocab: int, device: torch.device) -> torch.Tensor:
        k = (vocab, str(device))
        t = self._tables.get(k)
        if t is None:
            v = torch.arange(vocab, dtype=torch.int64, device=device)
            t = self._tables[k] = _mix((v * _GOLDEN) ^ self._words[3])
        return t

    def seeds(self, contexts: Sequence[Sequence[int]], device: torch.device) -> torch.Tensor:
        """One seed per context (oldest token first), as int64 on ``device``. Computed with numpy on the host:
        for a batch of contexts a handful of numpy calls beat dozens of tiny device kernels."""
        if len(contexts) <= 8:
            return torch.tensor([_signed(self._py_seed(c)) for c in contexts], dtype=torch.int64, device=device)
        s = _prf.context_seeds(np.asarray(contexts, dtype=np.int64).reshape(len(contexts), -1), self._uwords)
        return torch.from_numpy(s.view(np.int64)).to(device)

    def _py_seed(self, context: Sequence[int]) -> int:
        k0, k1, k2, _ = self._uwords
        s = k0
        for c in context:
            s = _py_mix(s ^ ((int(c) * _prf.GOLDEN + k1) & _MASK64))
        return _py_mix(s ^ k2)

    def exponentials(self, seeds: torch.Tensor, vocab: int) -> torch.Tensor:
        """``E_v = -log r_v`` (B, vocab) float64 for the rows' seeds."""
        return self._exps_from(seeds[:, None] ^ self._table(vocab, seeds.device)[None, :])

    @staticmethod
    def _exps_from(x: torch.Tensor) -> torch.Tensor:
        # x = seed XOR t_v, a tensor of our own (mixed in place).
        m = _srl(_mix_(x), 12).to(torch.float64)
        # 1 - r = (2**52 - m - 1/2) / 2**52, exact; E = -log(r) = -log1p(-(1 - r)), accurate when r is near 1.
        q = m.neg_().add_(_prf.TWO52 - 0.5).mul_(1.0 / _prf.TWO52)
        return torch.log1p(q.neg_()).neg_()

    @staticmethod
    def race(logp: torch.Tensor, exps: torch.Tensor) -> torch.Tensor:
        """``argmin_v E_v / p_v``: token v wins with probability p_v when the E_v are i.i.d. Exp(1)."""
        return torch.argmin(torch.log(exps).sub_(logp), dim=-1)

    def keyed_race(self, logp: torch.Tensor, seeds: torch.Tensor | int) -> torch.Tensor:
        """The keyed choice of every row of ``logp`` (B, V) for its seed (a (B,) int64 tensor, or one int for
        one row): ``race(logp, exponentials(seeds))`` in the same arithmetic, fused into a dozen in-place passes
        over work buffers kept between steps (it covers the whole vocabulary at every step, and allocating those
        arrays cost as much as the arithmetic on a small model). On the CPU the passes run in numpy: its uint64
        shifts are logical (torch's int64 ones need a mask each) and its per-call cost is a third of torch's,
        which is most of the time at batch 1 (half the processor's time on the bench model)."""
        if logp.device.type == "cpu":
            return torch.from_numpy(self._numpy_race(logp.detach().numpy(), seeds))
        return self._torch_race(logp, seeds)

    def _numpy_race(self, logp: np.ndarray, seeds: torch.Tensor | int) -> np.ndarray:
        rows, vocab = logp.shape
        k = (rows, vocab, "numpy")
        if self._work_key != k:
            self._work = tuple(np.empty((rows, vocab), dtype=d) for d in (np.uint64, np.uint64, np.float64))
            self._work_key = k
        x, t, f = self._work
        table = self._np_tables.get(vocab)
        if table is None:
            table = self._np_tables[vocab] = _prf.token_table(np.arange(vocab), self._uwords)
        if isinstance(seeds, int):
            np.bitwise_xor(table[None, :], np.uint64(seeds & _MASK64), out=x)
        else:
            np.bitwise_xor(table[None, :], seeds.numpy().view(np.uint64)[:, None], out=x)
        for shift, mult in ((30, _prf.M1), (27, _prf.M2), (31, 0)):  # _prf.mix, in place
            np.right_shift(x, np.uint64(shift), out=t)
            np.bitwise_xor(x, t, out=x)
            if mult:
                np.multiply(x, np.uint64(mult), out=x)
        np.right_shift(x, np.uint64(12), out=x)  # m, the top 52 bits
        # -(1 - r) = (m + 1/2 - 2**52) / 2**52 (exact); log1p of it is -E; log(E) - log p_v is raced.
        np.copyto(f, x, casting="unsafe")
        f -= _prf.TWO52 - 0.5
        f *= 1.0 / _prf.TWO52
        np.log1p(f, out=f)
        np.negative(f, out=f)
        np.log(f, out=f)
        f -= logp
        return f.argmin(axis=1)

    def _torch_race(self, logp: torch.Tensor, seeds: torch.Tensor | int) -> torch.Tensor:
        # The same passes in torch, for tensors on a GPU (or any device but the CPU).
        rows, vocab = logp.shape
        x, t, f = self._workspace(rows, vocab, logp.device)
        table = self._table(vocab, logp.device)
        if isinstance(seeds, int):
            torch.bitwise_xor(table[None, :], seeds, out=x)
        else:
            torch.bitwise_xor(table[None, :], seeds[:, None], out=x)
        for shift, mult in ((30, _M1), (27, _M2), (31, 0)):
            torch.bitwise_right_shift(x, shift, out=t).bitwise_and_((1 << (64 - shift)) - 1)
            x.bitwise_xor_(t)
            if mult:
                x.mul_(mult)
        torch.bitwise_right_shift(x, 12, out=t).bitwise_and_((1 << 52) - 1)  # m, the top 52 bits
        f.copy_(t).sub_(_prf.TWO52 - 0.5).mul_(1.0 / _prf.TWO52).log1p_().neg_().log_().sub_(logp)
        return torch.argmin(f, dim=-1)

    def _workspace(self, rows: int, vocab: int, device: torch.device) -> tuple[torch.Tensor, ...]:
        k = (rows, vocab, str(device))
        if self._work_key != k:
            self._work = tuple(
                torch.empty((rows, vocab), dtype=d, device=device) for d in (torch.int64, torch.int64, torch.float64)
            )
            self._work_key = k
        return self._work

    def choose(
        self,
        logp: torch.Tensor,
        contexts: Sequence[Sequence[int]] | torch.Tensor,
        fresh: Sequence[bool],
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """The next token of each row: keyed where ``fresh`` (context not used before), truly random elsewhere.
        ``contexts`` may also be the rows' seeds already computed (an int64 tensor of shape (B,))."""
        if len(fresh) == 1 and fresh[0] and not isinstance(contexts, torch.Tensor):
            # Batch 1: the seed as a Python int, xor-ed straight into the table (no tensor built for it).
            return self.keyed_race(logp, _signed(self._py_seed(contexts[0])))
        if not any(fresh):
            return self._random_race(logp, generator)
        seeds = contexts.to(logp.device) if isinstance(contexts, torch.Tensor) else self.seeds(contexts, logp.device)
        # Every row is raced with its key (one vectorised pass; a repeated context's row is then redone with
        # true randomness: cheaper than splitting the batch, and the same tokens).
        tokens = self.keyed_race(logp, seeds)
        if not all(fresh):
            others = torch.tensor([i for i, f in enumerate(fresh) if not f], dtype=torch.int64, device=logp.device)
            tokens[others] = self._random_race(logp.index_select(0, others), generator)
        return tokens

    def _random_race(self, logp: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        exps = torch.empty_like(logp).exponential_(generator=generator).clamp_(min=1e-300)
        return self.race(logp, exps)


def _only(scores: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    out = torch.full_like(scores, -math.inf)
    out.scatter_(-1, tokens[:, None].to(torch.int64), 0.0)
    return out


def _generator(device: torch.device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(int.from_bytes(os.urandom(8), "little") >> 1)
    return g


class WatermarkLogitsProcessor:
    """A ``transformers`` logits processor that samples with the watermark (see the module docstring).

    One instance serves one ``generate`` call at a time; it notices a new call (a new batch or a prompt of a
    different length) and starts afresh. Greedy decoding (``temperature=0``) is left unmarked: a watermark
    needs a choice to hide in. Beam search and assisted generation are not supported.
    """

    def __init__(
        self,
        key: TextKey,
        *,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        if temperature < 0 or not 0.0 < top_p <= 1.0 or top_k < 0:
            raise ValueError("temperature >= 0, 0 < top_p <= 1 and top_k >= 0 are required")
        self.sampler = GumbelSampler(key)
        self.temperature, self.top_k, self.top_p = float(temperature), int(top_k), float(top_p)
        self._generator = generator
        self._batch = -1
        self._length = -1
        self._seen: list[set[tuple[int, ...]]] = []  # batch 1: the contexts used
        self._seeds_used = np.zeros((0, 0), dtype=np.int64)  # larger batches: the seeds used, per row
        self.marked_steps = 0  # keyed steps so far (for tests and metrics)
        self.random_steps = 0  # steps sampled with true randomness (repeated or too-short contexts)

    @classmethod
    def from_generation_config(cls, key: TextKey, config: object, **overrides: object) -> WatermarkLogitsProcessor:
        """Take temperature, top-k and top-p from a ``GenerationConfig`` (e.g. ``model.generation_config``; note
        that transformers' default ``top_k`` is 50). Greedy configs (``do_sample=False``) give temperature 0."""
        sample = bool(getattr(config, "do_sample", False))

        def get(name: str, default: float) -> float:  # unset means generate()'s default, as transformers applies it
            value = getattr(config, name, None)
            return default if value is None else value

        settings: dict[str, object] = {
            "temperature": float(get("temperature", 1.0)) if sample else 0.0,
            "top_k": int(get("top_k", 50)),
            "top_p": float(get("top_p", 1.0)),
        }
        settings.update(overrides)
        return cls(key, **settings)  # type: ignore[arg-type]

    def _start_if_new(self, batch: int, length: int) -> None:
        if batch != self._batch or length != self._length + 1:
            self._seen = [set() for _ in range(batch)]
            self._seeds_used = np.zeros((batch, 0), dtype=np.int64)
            self._batch = batch
        self._length = length

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:  # transformers: Long, Float
        if self.temperature == 0.0:
            return scores
        batch, length = input_ids.shape
        self._start_if_new(batch, length)
        h = self.sampler.context_width
        if self._generator is None:
            self._generator = _generator(scores.device)
        logp = warp(scores, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p, normalise=False)
        contexts: Sequence[Sequence[int]] | torch.Tensor
        if length < h:
            contexts, fresh = [[0] * h] * batch, [False] * batch
        elif batch == 1:
            contexts = input_ids[:, -h:].tolist()
            fresh = _fresh(contexts, self._seen)
        else:
            # The whole batch at once: one seed per row (numpy on the host), and a context counts as used when
            # its seed is among the row's earlier seeds (distinct contexts have distinct seeds but with
            # chance 2**-64; such a collision would only leave one step unmarked).
            seeds = _prf.context_seeds(input_ids[:, -h:].cpu().numpy(), self.sampler._uwords).view(np.int64)
            seen = (self._seeds_used == seeds[:, None]).any(axis=1)
            self._seeds_used = np.concatenate([self._seeds_used, seeds[:, None]], axis=1)
            fresh = (~seen).tolist()
            contexts = torch.from_numpy(seeds)
        n_fresh = sum(fresh)
        self.marked_steps += n_fresh
        self.random_steps += batch - n_fresh
        return _only(scores, self.sampler.choose(logp, contexts, fresh, self._generator))


def _fresh(contexts: Sequence[Sequence[int]], seen: list[set[tuple[int, ...]]]) -> list[bool]:
    out = []
    for row, ctx in enumerate(contexts):
        t = tuple(ctx)
        out.append(t not in seen[row])
        seen[row].add(t)
    return out


def load_local_model(folder: str | os.PathLike[str]) -> tuple[object, object]:
    """Load ``(model, tokenizer)`` from a local model folder (``config.json``, weights, ``tokenizer.json``),
    never from the network: ``AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)``. The same
    folder's ``tokenizer.json`` is what the register needs for detection ('assay text register')."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    model.eval()
    return model, tokenizer
