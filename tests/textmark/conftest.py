"""Tiny real models for the text watermark tests, built here (no hub, no download).

The tokenizer is a byte-level BPE trained with ``tokenizers`` on ``data/corpus.txt`` (shipped with the tests);
the model is a random-initialised GPT-2 saved to a folder and loaded back with the real
``AutoModelForCausalLM.from_pretrained`` path a provider uses.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "data" / "corpus.txt"


def train_tokenizer(vocab_size: int = 400):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([CORPUS.read_text()], trainer=trainer)
    return tok


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A local model folder (config, weights, tokenizer.json) like any provider's."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    # One thread: on a loaded 2-core machine torch's default pool makes a tiny model ten times slower.
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    tok = train_tokenizer()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=tok.get_vocab_size(),
        n_positions=512,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=0,
        eos_token_id=0,
    )
    model = transformers.GPT2LMHeadModel(config)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny(model_dir):
    """(model, tokenizer) loaded from the folder with the loader providers use."""
    from assay.textmark.processors import load_local_model

    return load_local_model(model_dir)
