"""Tokenizers for detection: a system's ``tokenizer.json`` (Hugging Face ``tokenizers`` format).

Detection turns text back into the token ids the model produced, so it must use the very tokenizer the
system generates with: the register keeps each system's ``tokenizer.json`` (from the provider's model folder,
or the file the provider ships) and names it by its SHA-256. ``tokenizers`` is imported only here, and only
when a tokenizer is loaded; it needs no torch.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import numpy as np

from assay.errors import InvalidInput, NotFound, TooLarge

__all__ = ["MAX_TOKENIZER_BYTES", "TextTokenizer"]

MAX_TOKENIZER_BYTES = 64 * 1024 * 1024
_cache: dict[str, TextTokenizer] = {}
_lock = threading.Lock()


class TextTokenizer:
    """A loaded ``tokenizer.json`` and its SHA-256. Encoding adds no special tokens (BOS/EOS)."""

    def __init__(self, tokenizer: Any, sha256: str) -> None:
        self._tok = tokenizer
        self.sha256 = sha256

    @classmethod
    def from_bytes(cls, data: bytes, *, name: str = "tokenizer.json") -> TextTokenizer:
        if len(data) > MAX_TOKENIZER_BYTES:
            raise TooLarge(
                f"{name} is {len(data):,} bytes, over the limit of {MAX_TOKENIZER_BYTES:,}",
                hint="give the model's tokenizer.json, not a model file",
            )
        sha = hashlib.sha256(data).hexdigest()
        with _lock:
            hit = _cache.get(sha)
        if hit is not None:
            return hit
        from tokenizers import Tokenizer

        try:
            tok = Tokenizer.from_str(data.decode("utf-8"))
        except (UnicodeDecodeError, Exception) as exc:  # the Rust side raises a plain Exception
            raise InvalidInput(
                f"{name} is not a Hugging Face tokenizer.json ({str(exc)[:200]})",
                hint="give the tokenizer.json from the model folder "
                "(AutoTokenizer.from_pretrained(folder).save_pretrained(out) writes one)",
            ) from None
        made = cls(tok, sha)
        with _lock:
            _cache[sha] = made
        return made

    @classmethod
    def from_path(cls, path: str | Path) -> TextTokenizer:
        """A ``tokenizer.json`` file, or a local model folder that holds one."""
        p = Path(path)
        if p.is_dir():
            p = p / "tokenizer.json"
            if not p.is_file():
                raise NotFound(
                    f"the model folder {str(path)!r} has no tokenizer.json",
                    hint="save a fast tokenizer into it: AutoTokenizer.from_pretrained(folder).save_pretrained(folder)",
                )
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"there is no file {str(p)!r}", hint="give a tokenizer.json or a model folder") from None
        except OSError as exc:
            raise InvalidInput(f"cannot read {str(p)!r}: {exc.strerror}", hint="check the permissions") from None
        return cls.from_bytes(data, name=str(p))

    @property
    def vocab_size(self) -> int:
        return int(self._tok.get_vocab_size(with_added_tokens=True))

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self._tok.encode(text, add_special_tokens=False).ids, dtype=np.int64)

    def encode_with_offsets(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Token ids and each token's (start, end) character offsets in ``text``."""
        enc = self._tok.encode(text, add_special_tokens=False)
        return np.asarray(enc.ids, dtype=np.int64), [tuple(o) for o in enc.offsets]

    def decode(self, ids: Any) -> str:
        return str(self._tok.decode([int(i) for i in ids], skip_special_tokens=True))
