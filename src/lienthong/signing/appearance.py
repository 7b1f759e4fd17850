# mypy: allow-untyped-calls
"""The visible appearance of signatures (hình thức chữ ký số), Decree 30/2020 Appendix I.

Pure layout first (where each box goes, in PDF points), then one pyHanko stamp style that
paints a prepared :class:`Appearance`: an image (the signer's blue signature or the red seal)
and lines of text in an embedded TrueType font. Images are decoded and compressed once
(:class:`StampImage`); fonts are subset once per character set
(:class:`~lienthong.signing.fonts.StampFont`); a signature only writes ready-made bytes.

Where things go [ours, from the decree's wording]:

- signer: the image fitted in a box between the position line and the full name, found from
  the name on the page or given;
- organisation: the seal at its real size (from the PNG's resolution), its right edge on the
  line one third into the signer's box, centred on it vertically, so that it covers the left
  third of the signer's image; the organisation name and the ISO 8601 signing time under it;
- attachments and copies: no image, lines of 10 pt text at the top right of page 1, 4 mm from
  the top edge and 10 mm from the right edge (inside the decree's 20 mm top margin).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.content import ResourceType
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import BasePdfFileWriter, init_xobject_dictionary
from pyhanko.stamp.base import BaseStamp, BaseStampStyle

from lienthong.domain.errors import SigningError
from lienthong.domain.vntime import VIETNAM_TZ
from lienthong.signing.fonts import StampFont

__all__ = [
    "CORNER_FONT_SIZE",
    "DEFAULT_DPI",
    "Appearance",
    "AppearanceStyle",
    "Rect",
    "StampImage",
    "TextLine",
    "corner_appearance",
    "iso_vietnam",
    "mm",
    "seal_appearance",
    "signer_appearance",
    "signer_rect_above",
    "text_field_appearance",
]

#: Assumed resolution of an image that does not say its own (scans are usually 300 dpi).
DEFAULT_DPI = 300.0
#: Decree 30: attachment and copy signatures in 10 pt.
CORNER_FONT_SIZE = 10.0
SEAL_TEXT_SIZE = 7.0
BLACK = (0.0, 0.0, 0.0)


def mm(value: float) -> float:
    """Millimetres to PDF points."""
    return value * 72 / 25.4


def iso_vietnam(moment: datetime) -> str:
    """``2026-11-26T14:30:05+07:00``: ISO 8601, Vietnam time, to the second (Decree 30)."""
    if moment.tzinfo is None:
        raise SigningError("signing.failed", "the signing time must carry a time zone")
    return moment.astimezone(VIETNAM_TZ).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class Rect:
    """A rectangle in PDF user space (points, origin bottom left)."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        """x1 - x0."""
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        """y1 - y0."""
        return self.y1 - self.y0

    def as_tuple(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1)."""
        return (self.x0, self.y0, self.x1, self.y1)

    def overlap(self, other: Rect) -> float:
        """Area shared with ``other`` (0 if they do not meet)."""
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        return w * h if w > 0 and h > 0 else 0.0

    def snapped(self) -> Rect:
        """The same box moved to whole points with a whole-point size (appearance boxes are
        integers in pyHanko, so a fractional size would stretch the image slightly)."""
        x0, y0 = round(self.x0), round(self.y0)
        return Rect(x0, y0, x0 + round(self.width), y0 + round(self.height))


class StampImage:
    """A PNG with transparency, decoded and compressed once, embeddable any number of times."""

    def __init__(self, png: bytes, *, what: str = "image") -> None:
        try:
            image = Image.open(io.BytesIO(png))
            image.load()
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise SigningError("signing.bad_image", f"{what}: {exc}") from None
        has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
        if not has_alpha:
            raise SigningError("signing.bad_image", f"{what}: no transparent background")
        rgba = image.convert("RGBA")
        self.what = what
        self.width_px, self.height_px = rgba.size
        dpi = image.info.get("dpi")
        self.dpi = float(dpi[0]) if dpi and dpi[0] and dpi[0] > 1 else DEFAULT_DPI
        self._rgb = zlib.compress(rgba.convert("RGB").tobytes(), 6)
        self._alpha = zlib.compress(rgba.getchannel("A").tobytes(), 6)

    @classmethod
    def from_file(cls, path: Path, *, what: str = "image") -> StampImage:
        """Read a PNG file (``signing.bad_image`` if it cannot be read)."""
        try:
            return cls(path.read_bytes(), what=what)
        except OSError as exc:
            raise SigningError("signing.bad_image", f"{path}: {exc.strerror}") from None

    @property
    def real_size(self) -> tuple[float, float]:
        """Width and height in points at the image's own resolution (its real size)."""
        return (self.width_px / self.dpi * 72, self.height_px / self.dpi * 72)

    def embed(self, writer: BasePdfFileWriter) -> generic.IndirectObject:
        """Write the image XObject and its soft mask; return the image's reference."""

        def image_dict(colour_space: str) -> dict[generic.NameObject, generic.PdfObject]:
            return {
                pdf_name("/Type"): pdf_name("/XObject"),
                pdf_name("/Subtype"): pdf_name("/Image"),
                pdf_name("/Width"): generic.NumberObject(self.width_px),
                pdf_name("/Height"): generic.NumberObject(self.height_px),
                pdf_name("/BitsPerComponent"): generic.NumberObject(8),
                pdf_name("/ColorSpace"): pdf_name(colour_space),
                pdf_name("/Filter"): pdf_name("/FlateDecode"),
            }

        mask = writer.add_object(
            generic.StreamObject(image_dict("/DeviceGray"), encoded_data=self._alpha)
        )
        colour = image_dict("/DeviceRGB")
        colour[pdf_name("/SMask")] = mask
        return writer.add_object(generic.StreamObject(colour, encoded_data=self._rgb))


@dataclass(frozen=True, slots=True)
class TextLine:
    """A line of text at a baseline position inside an appearance box."""

    text: str
    x: float
    y: float
    size: float


@dataclass(frozen=True, slots=True)
class Appearance:
    """What a signature widget shows, in the widget's own coordinates."""

    rect: Rect  #: where the widget sits on the page
    image: StampImage | None = None
    image_box: Rect | None = None  #: inside the widget
    lines: tuple[TextLine, ...] = ()
    font: StampFont | None = None
    colour: tuple[float, float, float] = BLACK

    @property
    def text(self) -> str:
        """All lines, one per line (for reports and tests)."""
        return "\n".join(line.text for line in self.lines)


def _fit(image: StampImage, box: Rect) -> Rect:
    """The largest box of the image's aspect ratio centred in ``box`` (relative coordinates)."""
    ratio = image.width_px / image.height_px
    width, height = box.width, box.width / ratio
    if height > box.height:
        height, width = box.height, box.height * ratio
    x = (box.width - width) / 2
    y = (box.height - height) / 2
    return Rect(x, y, x + width, y + height)


def signer_rect_above(
    anchor: Rect, image: StampImage, *, height: float = 62.0, gap: float = 4.0
) -> Rect:
    """The signer's box above a text anchor (the full name): ``height`` tall, as wide as the
    image's aspect ratio allows, centred on the anchor, ``gap`` points above it."""
    width = height * image.width_px / image.height_px
    centre = (anchor.x0 + anchor.x1) / 2
    bottom = anchor.y1 + gap
    return Rect(centre - width / 2, bottom, centre + width / 2, bottom + height).snapped()


def signer_appearance(image: StampImage, rect: Rect) -> Appearance:
    """The signer's signature: the image fitted in ``rect``, nothing else."""
    rect = rect.snapped()
    local = Rect(0, 0, rect.width, rect.height)
    return Appearance(rect=rect, image=image, image_box=_fit(image, local))


def seal_appearance(
    signer_rect: Rect,
    seal: StampImage,
    organisation: str,
    signing_time: datetime,
    font: StampFont,
    *,
    text_size: float = SEAL_TEXT_SIZE,
) -> Appearance:
    """The organisation's signature: the seal at real size over the left third of the
    signer's box, the organisation name and the signing time (ISO 8601) under it."""
    seal_w, seal_h = seal.real_size
    right = signer_rect.x0 + signer_rect.width / 3
    centre_y = (signer_rect.y0 + signer_rect.y1) / 2
    seal_rect = Rect(right - seal_w, centre_y - seal_h / 2, right, centre_y + seal_h / 2)
    text_width = seal_w * 1.3
    leading = text_size * 1.2
    texts = [*font.wrap(organisation, text_size, text_width), iso_vietnam(signing_time)]
    text_height = leading * len(texts) + 2
    centre_x = (seal_rect.x0 + seal_rect.x1) / 2
    box_width = max(seal_w, max(font.width(t, text_size) for t in texts) + 2)
    rect = Rect(
        centre_x - box_width / 2, seal_rect.y0 - text_height, centre_x + box_width / 2, seal_rect.y1
    ).snapped()
    image_box = Rect(
        seal_rect.x0 - rect.x0, seal_rect.y0 - rect.y0, seal_rect.x1 - rect.x0,
        seal_rect.y1 - rect.y0,
    )  # fmt: skip
    lines = []
    for index, text in enumerate(texts):
        baseline = text_height - leading * (index + 1) + font.descent / 1000 * -text_size
        x = (rect.width - font.width(text, text_size)) / 2
        lines.append(TextLine(text, x, baseline, text_size))
    return Appearance(rect=rect, image=seal, image_box=image_box, lines=tuple(lines), font=font)


def corner_appearance(
    page_box: Rect,
    texts: Sequence[str],
    font: StampFont,
    *,
    size: float = CORNER_FONT_SIZE,
    top: float = mm(4),
    right: float = mm(10),
    max_width: float = mm(80),
) -> Appearance:
    """Lines of text in a box at the top right of a page (attachments, electronic copies)."""
    lines_text: list[str] = []
    for text in texts:
        lines_text += font.wrap(text, size, max_width) or [""]
    leading = size * 1.15
    width = max(font.width(t, size) for t in lines_text) + 4
    height = leading * len(lines_text) + 3
    rect = Rect(
        page_box.x1 - right - width,
        page_box.y1 - top - height,
        page_box.x1 - right,
        page_box.y1 - top,
    ).snapped()
    lines = tuple(
        TextLine(t, 2, rect.height - leading * (i + 1) + 2.5, size)
        for i, t in enumerate(lines_text)
    )
    return Appearance(rect=rect, lines=lines, font=font)


# --------------------------------------------------------------------------- rendering
def _render(appearance: Appearance, writer: BasePdfFileWriter) -> tuple[bytes, dict[str, object]]:
    """The content stream and the resources (name → object) that paint ``appearance``."""
    parts = [b"q"]
    xobjects: dict[str, object] = {}
    fonts: dict[str, object] = {}
    if appearance.image is not None and appearance.image_box is not None:
        box = appearance.image_box
        xobjects["/Im1"] = appearance.image.embed(writer)
        parts.append(b"q %.3f 0 0 %.3f %.3f %.3f cm /Im1 Do Q" % (box.width, box.height, box.x0,
                                                                  box.y0))  # fmt: skip
    if appearance.lines and appearance.font is not None:
        font = appearance.font
        fonts["/F1"] = font.embed(writer, [line.text for line in appearance.lines])
        parts.append(b"BT %.3f %.3f %.3f rg" % appearance.colour)
        parts.extend(
            b"/F1 %.2f Tf 1 0 0 1 %.3f %.3f Tm <%s> Tj"
            % (line.size, line.x, line.y, font.encode(line.text).hex().encode("ascii"))
            for line in appearance.lines
        )
        parts.append(b"ET")
    parts.append(b"Q")
    return b"\n".join(parts), {"xobjects": xobjects, "fonts": fonts}


@dataclass(frozen=True)
class AppearanceStyle(BaseStampStyle):
    """A pyHanko stamp style that paints one prepared :class:`Appearance` (no border)."""

    border_width: int = 0
    appearance: Appearance | None = field(default=None)

    def create_stamp(
        self, writer: BasePdfFileWriter, box: layout.BoxConstraints, text_params: dict[str, str]
    ) -> _AppearanceStamp:
        """The stamp for one widget (``text_params`` are not used: the text is ready)."""
        return _AppearanceStamp(writer, self, box)


class _AppearanceStamp(BaseStamp):
    def render(self) -> bytes:
        style = self.style
        assert isinstance(style, AppearanceStyle)
        assert style.appearance is not None
        assert self.writer is not None
        content, resources = _render(style.appearance, self.writer)
        for name, ref in resources["xobjects"].items():  # type: ignore[attr-defined]
            self.set_resource(ResourceType.XOBJECT, pdf_name(name), ref)
        for name, ref in resources["fonts"].items():  # type: ignore[attr-defined]
            self.set_resource(ResourceType.FONT, pdf_name(name), ref)
        return content


def text_field_appearance(  # noqa: PLR0917 -- geometry of one field
    writer: BasePdfFileWriter,
    font: StampFont,
    text: str,
    width: float,
    height: float,
    size: float,
    *,
    align: str = "left",
) -> generic.IndirectObject:
    """A form XObject showing ``text`` in a text field of ``width`` x ``height`` points (the
    normal appearance of the number and date fields, at drafting and when filled in)."""
    text_width = font.width(text, size)
    x = {"left": 0.0, "center": (width - text_width) / 2, "right": width - text_width}[align]
    y = (height - size * (font.ascent - font.descent) / 1000) / 2 - font.descent / 1000 * size
    content = b"/Tx BMC q BT 0 g /F1 %.2f Tf 1 0 0 1 %.3f %.3f Tm <%s> Tj ET Q EMC" % (
        size, x, y, font.encode(text).hex().encode("ascii"),
    )  # fmt: skip
    resources = generic.DictionaryObject(
        {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font.embed(writer, [text])})}
    )
    stream = init_xobject_dictionary(content, width, height, resources)
    return writer.add_object(stream)
