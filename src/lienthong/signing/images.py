"""Demo signature and seal images (ảnh chữ ký, ảnh con dấu), drawn with Pillow.

Decree 30/2020 Appendix I wants the signer's image blue and the seal red, both PNG with a
transparent background, the seal at its real size. Agencies scan theirs; tests, demos and
benchmarks draw them here so that no picture of a real seal ever enters the repository.
Every image is deterministic for its inputs and carries its resolution (pHYs), from which
the signing code takes the real size.
"""

from __future__ import annotations

import io
import math
import random
import unicodedata

from PIL import Image, ImageDraw, ImageFont

from lienthong.signing.fonts import find_font

__all__ = ["SEAL_RED", "SIGNATURE_BLUE", "seal_png", "signature_png"]

SIGNATURE_BLUE = (0, 45, 160)
SEAL_RED = (218, 20, 30)
_MM_PER_INCH = 25.4


def signature_png(full_name: str, *, dpi: int = 300, width_mm: float = 48.0) -> bytes:
    """A handwritten-looking blue signature of ``full_name`` on a transparent background."""
    width = round(width_mm / _MM_PER_INCH * dpi)
    height = round(width * 0.42)
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    rng = random.Random(full_name)  # noqa: S311 -- a drawing, not a secret
    # The family name's initial and the given name in italics, then a flourish under them.
    parts = full_name.split()
    text = f"{parts[0][0]}. {parts[-1]}" if len(parts) > 1 else full_name
    font = ImageFont.truetype(str(find_font("LiberationSerif-Italic.ttf")), round(height * 0.55))
    stroke = max(2, round(dpi / 150))
    text_box = draw.textbbox((0, 0), text, font=font)
    x = (width - (text_box[2] - text_box[0])) // 2 - text_box[0]
    y = round(height * 0.05) - text_box[1]
    draw.text((x, y), text, font=font, fill=(*SIGNATURE_BLUE, 255), stroke_width=stroke // 2)
    drawn = draw.textbbox((x, y), text, font=font)
    points = []
    baseline = drawn[3] + round(height * 0.12)
    for step in range(41):
        t = step / 40
        px = width * (0.08 + 0.84 * t)
        py = (
            baseline
            + math.sin(t * math.pi * 2.3 + rng.random()) * height * 0.06
            - t * height * 0.12
        )
        points.append((px, py))
    draw.line(points, fill=(*SIGNATURE_BLUE, 255), width=stroke * 2, joint="curve")
    return _png(image, dpi)


def seal_png(
    agency_name: str,
    *,
    bottom_text: str = "",
    diameter_mm: float = 36.0,
    dpi: int = 300,
) -> bytes:
    """A round red seal: ``agency_name`` in capitals around the top, ``bottom_text`` along the
    bottom, a star in the middle, two rings; ``diameter_mm`` is its real size."""
    size = round(diameter_mm / _MM_PER_INCH * dpi)
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    red = (*SEAL_RED, 255)
    centre = size / 2
    outer = size / 2 - 2
    ring = max(3, round(size * 0.018))
    draw.ellipse((centre - outer, centre - outer, centre + outer, centre + outer), outline=red,
                 width=ring)  # fmt: skip
    inner = outer * 0.66
    draw.ellipse((centre - inner, centre - inner, centre + inner, centre + inner), outline=red,
                 width=max(2, ring // 2))  # fmt: skip
    _star(draw, centre, centre, inner * 0.55, red)
    font = ImageFont.truetype(str(find_font("LiberationSerif-Bold.ttf")), round(size * 0.075))
    radius = (outer + inner) / 2
    top = unicodedata.normalize("NFC", agency_name.upper())
    _arc_text(image, top, centre, radius, font, red, start=-200, end=20)
    if bottom_text:
        bottom = unicodedata.normalize("NFC", bottom_text.upper())
        _arc_text(image, bottom, centre, radius, font, red, start=150, end=30, bottom=True)
    return _png(image, dpi)


def _star(draw: ImageDraw.ImageDraw, x: float, y: float, r: float, fill: tuple[int, ...]) -> None:
    points = []
    for k in range(10):
        angle = -math.pi / 2 + k * math.pi / 5
        radius = r if k % 2 == 0 else r * 0.38
        points.append((x + radius * math.cos(angle), y + radius * math.sin(angle)))
    draw.polygon(points, fill=fill)


def _arc_text(  # noqa: PLR0917 -- private drawing helper
    image: Image.Image,
    text: str,
    centre: float,
    radius: float,
    font: ImageFont.FreeTypeFont,
    fill: tuple[int, ...],
    *,
    start: float,
    end: float,
    bottom: bool = False,
) -> None:
    # Each letter is drawn upright on its own tile, rotated to the tangent and pasted at its
    # angle; the letters share the arc from ``start`` to ``end`` degrees (0 = east, clockwise).
    count = len(text)
    if count == 0:
        return
    span = end - start
    for index, char in enumerate(text):
        angle = start + span * (index + 0.5) / count
        tile_size = round(font.size * 1.6)
        tile = Image.new("RGBA", (tile_size, tile_size), (0, 0, 0, 0))
        ImageDraw.Draw(tile).text(
            (tile_size / 2, tile_size / 2), char, font=font, fill=fill, anchor="mm"
        )
        rotation = -(angle + 90) if not bottom else -(angle - 90)
        tile = tile.rotate(rotation, resample=Image.Resampling.BICUBIC)
        rad = math.radians(angle)
        x = centre + radius * math.cos(rad) - tile_size / 2
        y = centre + radius * math.sin(rad) - tile_size / 2
        image.alpha_composite(tile, (round(x), round(y)))


def _png(image: Image.Image, dpi: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", dpi=(dpi, dpi), optimize=False)
    return buffer.getvalue()
