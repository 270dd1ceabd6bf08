"""The watermark's checks of its caller's input, shared by the public functions and the key ring.

Here rather than in ``assay/watermark/__init__.py`` so the key ring (``_keys``) can use them without importing
the package it is part of: one message for every entry point, and no import cycle.
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldProblem, InvalidInput

__all__ = ["KEY_BYTES", "WatermarkError", "check_key"]

KEY_BYTES = 32


class WatermarkError(InvalidInput):
    """Bad input to the watermark: wrong key size, payload out of range, unsupported or too small image."""

    code = "watermark_invalid_input"


def check_key(key: Any) -> bytes:
    """``key`` as bytes, if it is a watermark key (exactly KEY_BYTES bytes); else a WatermarkError saying so."""
    if not isinstance(key, bytes | bytearray | memoryview):
        raise WatermarkError(
            f"The watermark key must be bytes, not {type(key).__name__}.",
            hint=f"pass {KEY_BYTES} random bytes, e.g. os.urandom({KEY_BYTES})",
            problems=[FieldProblem("key", "not bytes", f"use {KEY_BYTES} bytes")],
        )
    key = bytes(key)
    if len(key) != KEY_BYTES:
        raise WatermarkError(
            f"The watermark key must be exactly {KEY_BYTES} bytes, not {len(key)}.",
            hint=f"generate one with os.urandom({KEY_BYTES}) and keep it secret",
            problems=[FieldProblem("key", f"{len(key)} bytes", f"use {KEY_BYTES} bytes")],
        )
    return key
