"""The optional visible label: a small "AI-generated" badge in a corner of a marked image.

In the spirit of the EU's common icon for AI-generated content and China's explicit labels (GB 45438-2025):
readable at a glance, high contrast, not covering much of the picture (about 4% of the shorter side high).
It is drawn before the invisible watermark is embedded, so the watermark covers the labelled image.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["LABEL_TEXT", "add_visible_label"]

LABEL_TEXT = "AI-generated"


def add_visible_label(pixels: np.ndarray, *, text: str = LABEL_TEXT) -> np.ndarray:
    """Return a copy of ``pixels`` (RGB uint8) with the badge in the bottom-right corner."""
    img = Image.fromarray(pixels, "RGB")
    w, h = img.size
    side = min(w, h)
    font_px = max(11, round(side * 0.032))
    font = ImageFont.load_default(size=font_px)
    draw = ImageDraw.Draw(img, "RGBA")
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad_x, pad_y = round(font_px * 0.6), round(font_px * 0.35)
    box_w, box_h = right - left + 2 * pad_x, bottom - top + 2 * pad_y
    margin = max(4, round(side * 0.015))
    x1, y1 = w - margin, h - margin
    x0, y0 = max(0, x1 - box_w), max(0, y1 - box_h)
    draw.rounded_rectangle(
        (x0, y0, x1, y1),
        radius=round(box_h / 2.5),
        fill=(20, 20, 20, 215),
        outline=(255, 255, 255, 230),
        width=max(1, font_px // 10),
    )
    draw.text((x0 + pad_x - left, y0 + pad_y - top), text, font=font, fill=(255, 255, 255, 255))
    return np.asarray(img, dtype=np.uint8).copy()
