"""Text provenance: a distortion-free watermark for language models, keyed per registered system.

Marking happens while the model samples (``WatermarkLogitsProcessor`` for ``transformers``,
``assay.textmark.vllm.AssayTextWatermark`` for vLLM); detection needs only the text, the system's tokenizer
and its key, never the model::

    >>> from assay.textmark import TextKey, detect
    >>> key = TextKey.generate(system_id="acme-chat")
    >>> result = detect([464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13], [key])
    >>> result.marked, result.p_value <= 1.0
    (False, True)

The scheme (Gumbel-max sampling keyed on the preceding tokens, scored with Aaronson's sum of -log(1 - r)
over the positions of distinct contexts, whose null distribution is exactly Gamma(n, 1)) and its limits are
described in docs/text-provenance.md. This package imports numpy and ``assay.errors`` only; torch is imported
by the processors alone (on first use of ``WatermarkLogitsProcessor``), ``tokenizers`` by ``TextTokenizer``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.textmark._detect import DEFAULT_THRESHOLD, TextDetection, Window, detect
from assay.textmark._keys import ALGORITHM, DEFAULT_CONTEXT_WIDTH, TextKey
from assay.textmark._tokenizer import TextTokenizer

if TYPE_CHECKING:
    from assay.textmark.processors import WatermarkLogitsProcessor

__all__ = [
    "ALGORITHM",
    "DEFAULT_CONTEXT_WIDTH",
    "DEFAULT_THRESHOLD",
    "TextDetection",
    "TextKey",
    "TextTokenizer",
    "WatermarkLogitsProcessor",
    "Window",
    "detect",
    "detect_text",
]


def detect_text(text: str, keys: Any, tokenizer: TextTokenizer, **options: Any) -> TextDetection:
    """Tokenise ``text`` with the keys' tokenizer and :func:`detect`."""
    return detect(tokenizer.encode(text), keys, **options)


def __getattr__(name: str) -> Any:
    # torch is a heavy, optional import: only generation needs it, detection never does.
    if name == "WatermarkLogitsProcessor":
        from assay.textmark.processors import WatermarkLogitsProcessor

        return WatermarkLogitsProcessor
    raise AttributeError(f"module 'assay.textmark' has no attribute {name!r}")
