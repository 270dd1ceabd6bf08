"""The bench's language model: a small GPT-2 trained for a few CPU minutes on the Python documentation.

A random-initialised model samples almost uniformly (very high entropy) and flatters every watermark, so the
bench trains one briefly on real text: a byte-level BPE tokenizer and a 2-layer GPT-2, both on the training
split of the Python 3.11 documentation (Debian's python3.11-doc). The result is cached in
``bench/text/.cache/`` (git-ignored) as an ordinary local model folder, loaded back with
``AutoModelForCausalLM.from_pretrained`` like any provider's model.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from . import corpora

CACHE = Path(__file__).resolve().parent / ".cache"
# A step budget, not a time budget: the same cached model on any machine (about 5 CPU-minutes on one core).
SPEC = {
    "vocab": 4096,
    "n_embd": 128,
    "n_layer": 2,
    "n_head": 2,
    "seq": 128,
    "batch": 16,
    "lr": 3e-3,
    "steps": 600,
    "seed": 1,
}


def folder() -> Path:
    return CACHE / ("model-" + "-".join(f"{k}{v}" for k, v in SPEC.items()))


def train_tokenizer(texts: list[str], vocab: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def load(path: Path | None = None, log=print) -> tuple[Path, Any, Any]:
    """(folder, model, tokenizer) for a bench: the cached model (trained first when absent, or the one at
    ``path``), loaded the way a provider loads one, with torch on one thread (every scheme alike)."""
    import torch

    from assay.textmark import TextTokenizer
    from assay.textmark.processors import load_local_model

    torch.set_num_threads(1)
    where = path or ensure_model(log=log)
    model: Any = load_local_model(where)[0]  # a transformers model (typed as object by the loader)
    return where, model, TextTokenizer.from_path(where)


def ensure_model(log=print) -> Path:
    """The cached model folder, trained first when absent."""
    out = folder()
    if (out / "config.json").exists() and (out / "train.json").exists():
        return out
    import torch
    import transformers

    texts = corpora.python_docs(training=True)
    tok = train_tokenizer(texts, SPEC["vocab"])
    eos = tok.token_to_id("<|endoftext|>")
    ids: list[int] = []
    for t in texts:
        ids.extend(tok.encode(t).ids)
        ids.append(eos)
    data = torch.tensor(ids, dtype=torch.long)
    torch.manual_seed(SPEC["seed"])
    config = transformers.GPT2Config(
        vocab_size=tok.get_vocab_size(),
        n_positions=512,
        n_embd=SPEC["n_embd"],
        n_layer=SPEC["n_layer"],
        n_head=SPEC["n_head"],
        bos_token_id=eos,
        eos_token_id=eos,
    )
    model = transformers.GPT2LMHeadModel(config)
    opt = torch.optim.AdamW(model.parameters(), lr=SPEC["lr"], weight_decay=0.01)
    seq, batch = SPEC["seq"], SPEC["batch"]
    start, step, losses = time.monotonic(), 0, []
    model.train()
    while step < SPEC["steps"]:
        elapsed = time.monotonic() - start
        frac = step / SPEC["steps"]
        for g in opt.param_groups:  # warm-up then cosine decay over the time budget
            g["lr"] = SPEC["lr"] * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * frac))
        idx = torch.randint(0, data.numel() - seq - 1, (batch,))
        x = torch.stack([data[i : i + seq] for i in idx])
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if step % 100 == 0:
            log(f"  training step {step}: loss {sum(losses[-100:]) / 100:.3f} ({elapsed:.0f} s)")
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")
    fast.save_pretrained(out)
    model.save_pretrained(out)
    info = {
        "spec": SPEC,
        "steps": step,
        "train_tokens": len(ids),
        "tokens_seen": step * seq * batch,
        "final_loss": sum(losses[-100:]) / max(1, len(losses[-100:])),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    (out / "train.json").write_text(json.dumps(info, indent=2))
    return out


if __name__ == "__main__":
    import torch

    torch.set_num_threads(2)
    print(ensure_model())
