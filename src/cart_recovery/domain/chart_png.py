"""The month chart (``chart.Chart``) painted as a PNG, for mail clients that show no inline SVG
(Gmail, Outlook). Pure: Pillow draws into memory and the bytes are returned.

Pillow installs from wheels with its own FreeType, so this needs no system library; its font is
the one Pillow carries (``ImageFont.load_default``). Importing Pillow costs about 20 ms, paid
by the functions that import the reports (docs/performance.md).
"""

from __future__ import annotations

import io
from functools import cache

from PIL import Image, ImageDraw, ImageFont

from cart_recovery.domain.chart import COLOURS, FONT, Chart

SCALE = 3.0  # pixels per unit: 1200px wide, shown 600px wide (sharp on high-density screens)
ANCHORS = {"start": "ls", "middle": "ms", "end": "rs"}  # left / middle / right, on the baseline


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size)


def png(drawing: Chart, *, scale: float = SCALE) -> bytes:
    """The drawing on white, ``scale`` pixels to a unit, as PNG bytes."""
    size = (round(drawing.width * scale), round(drawing.height * scale))
    image = Image.new("RGB", size, "#ffffff")
    pen = ImageDraw.Draw(image)
    line = max(1, round(scale))
    for r in drawing.rules:
        pen.line(
            [(r.x1 * scale, r.y1 * scale), (r.x2 * scale, r.y2 * scale)],
            fill=COLOURS[r.kind],
            width=line,
        )
    for b in drawing.bars:
        x0, y0 = round(b.x * scale), round(b.y * scale)
        x1, y1 = round((b.x + b.w) * scale), round((b.y + b.h) * scale)
        if x1 > x0 and y1 > y0:
            pen.rectangle([x0, y0, x1 - 1, y1 - 1], fill=COLOURS[b.kind])
    font = _font(round(FONT * scale))
    for t in drawing.texts:
        pen.text(
            (t.x * scale, t.y * scale),
            t.text,
            fill=COLOURS[t.kind],
            font=font,
            anchor=ANCHORS[t.anchor],
        )
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
