"""The text watermark for vLLM's V1 engine, as a custom logits processor.

Written against vLLM's documented V1 interface (``vllm.v1.sample.logits_processor.LogitsProcessor``: a class
constructed once per engine with ``(vllm_config, device, is_pin_memory)``, told of batch changes through
``update_state(BatchUpdate)`` and applied to the whole batch's logits with ``apply``). vLLM needs a GPU, so it
is not run here: the tests drive this class with plain tensors and ``BatchUpdate``-shaped objects.

Serving::

    export ASSAY_TEXT_KEY_FILE=/etc/assay/acme-chat.textkey.json   # from 'assay text key export'
    vllm serve ./my-model --logits-processors assay.textmark.vllm:AssayTextWatermark
    # or: LLM(model="./my-model", logits_processors=[AssayTextWatermark])

Every sampled request is marked with the key (several keys, ``os.pathsep``-separated files, serve several
systems: a request names its system with ``SamplingParams(extra_args={"assay_text_mark": "acme-chat"})``,
``vllm_xargs`` in the OpenAI-compatible server). ``{"assay_text_mark": false}`` leaves a request unmarked;
greedy requests (temperature 0) are never marked. vLLM applies temperature, top-k and top-p *after* custom
processors, so this processor applies the request's own settings, samples, and leaves only the chosen token.
Not supported by vLLM for custom processors: speculative decoding.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import torch

from assay.textmark._keys import TextKey
from assay.textmark.processors import GumbelSampler, _generator, warp

try:  # the real base class when vLLM is installed, so vLLM accepts the class; a plain object otherwise
    from vllm.v1.sample.logits_processor import LogitsProcessor as _Base  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    _Base = object

__all__ = ["AssayTextWatermark", "KEY_FILE_ENV", "REQUEST_ARG"]

KEY_FILE_ENV = "ASSAY_TEXT_KEY_FILE"
REQUEST_ARG = "assay_text_mark"


@dataclass
class _Request:
    sampler: GumbelSampler
    prompt: list[int] | None
    output: list[int]  # vLLM's live list of the request's generated tokens (a reference, updated in place)
    temperature: float
    top_k: int
    top_p: float
    seen: set[tuple[int, ...]] = field(default_factory=set)

    def context(self, h: int) -> tuple[int, ...] | None:
        tail = self.output[-h:]
        if len(tail) < h and self.prompt:
            tail = self.prompt[-(h - len(tail)) :] + tail
        return tuple(tail) if len(tail) == h else None


def _load_keys(spec: str) -> list[TextKey]:
    keys = []
    for path in filter(None, spec.split(os.pathsep)):
        with open(path, encoding="utf-8") as fh:
            keys.append(TextKey.from_json(fh.read()))
    return keys


class AssayTextWatermark(_Base):  # type: ignore[misc,valid-type]
    """vLLM V1 logits processor: marks sampled requests with the system's text key (see the module docstring)."""

    def __init__(self, vllm_config: Any, device: torch.device, is_pin_memory: bool, *, keys: Any = None) -> None:
        if keys is None:
            spec = os.environ.get(KEY_FILE_ENV, "")
            if not spec:
                raise ValueError(f"set {KEY_FILE_ENV} to the system's text key file ('assay text key export')")
            keys = _load_keys(spec)
        keys = [keys] if isinstance(keys, TextKey) else list(keys)
        if not keys:
            raise ValueError("no text watermark key given")
        self.device = torch.device(device)
        self._samplers = {(k.system_id or k.key_id): GumbelSampler(k) for k in keys}
        self._default = next(iter(self._samplers.values())) if len(self._samplers) == 1 else None
        self._rows: dict[int, _Request] = {}
        self._generator = _generator(self.device)

    @classmethod
    def validate_params(cls, sampling_params: Any) -> None:
        arg = (getattr(sampling_params, "extra_args", None) or {}).get(REQUEST_ARG, True)
        if not isinstance(arg, bool | str):
            raise ValueError(f"{REQUEST_ARG} must be true, false or a system id")

    def is_argmax_invariant(self) -> bool:
        return False  # it picks the token: greedy decoding would be changed too (greedy rows are left alone)

    def _sampler_for(self, params: Any) -> GumbelSampler | None:
        arg = (getattr(params, "extra_args", None) or {}).get(REQUEST_ARG, True)
        if arg is False or float(getattr(params, "temperature", 1.0)) < 1e-5:
            return None
        if isinstance(arg, str):
            if arg not in self._samplers:
                raise ValueError(f"no text watermark key for system {arg!r}")
            return self._samplers[arg]
        if self._default is None:
            raise ValueError(f"several text keys are loaded: name the system in extra_args[{REQUEST_ARG!r}]")
        return self._default

    def update_state(self, batch_update: Any) -> None:
        if batch_update is None:
            return
        # vLLM's order: removed, then added, then moved.
        for index in batch_update.removed:
            self._rows.pop(index, None)
        for index, params, prompt, output in batch_update.added:
            sampler = self._sampler_for(params)
            if sampler is None:
                self._rows.pop(index, None)
                continue
            top_k = int(getattr(params, "top_k", 0) or 0)
            self._rows[index] = _Request(
                sampler=sampler,
                prompt=list(prompt) if prompt is not None else None,
                output=output,
                temperature=float(params.temperature),
                top_k=top_k if top_k > 0 else 0,
                top_p=float(getattr(params, "top_p", 1.0) or 1.0),
            )
        for a, b, direction in batch_update.moved:
            ra, rb = self._rows.pop(a, None), self._rows.pop(b, None)
            if ra is not None:
                self._rows[b] = ra
            if rb is not None and getattr(direction, "name", str(direction)).endswith("SWAP"):
                self._rows[a] = rb

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        if not self._rows:
            return logits
        groups: dict[tuple[int, float, int, float], list[int]] = {}
        for index, req in self._rows.items():
            key = (id(req.sampler), req.temperature, req.top_k, req.top_p)
            groups.setdefault(key, []).append(index)
        for indices in groups.values():
            first = self._rows[indices[0]]
            sampler, h = first.sampler, first.sampler.context_width
            rows = torch.tensor(indices, dtype=torch.int64, device=logits.device)
            logp = warp(logits[rows], temperature=first.temperature, top_k=first.top_k, top_p=first.top_p)
            contexts, fresh = [], []
            for index in indices:
                req = self._rows[index]
                ctx = req.context(h)
                ok = ctx is not None and ctx not in req.seen
                if ctx is not None:
                    req.seen.add(ctx)
                contexts.append(list(ctx) if ctx is not None else [0] * h)
                fresh.append(ok)
            chosen = sampler.choose(logp, contexts, fresh, self._generator)
            logits[rows] = -math.inf
            logits[rows, chosen] = 0.0
        return logits
