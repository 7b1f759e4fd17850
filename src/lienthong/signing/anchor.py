# mypy: allow-untyped-calls
"""Finding where a piece of text is printed on a PDF page (định vị theo văn bản mẫu).

The signer's signature goes between the position line and the full name; when the caller
does not give a rectangle, we find the full name on the page and put the signature above
it. This is a small text locator over pyHanko's content-stream tokeniser: it follows the
graphics and text state (``cm``, ``q``/``Q``, ``Tf``, ``Tm``, ``Td``, ``TJ``…), decodes
strings through the font's ``ToUnicode`` map (or Latin-1 for simple fonts without one) and
measures them with the font's widths. It does not look inside form XObjects, and text drawn
as outlines or images cannot be found: give a rectangle then.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.content_stream_parser import parse_content_stream
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader

from lienthong.domain.errors import SigningError
from lienthong.signing.appearance import Rect

__all__ = ["Glyph", "find_text", "page_glyphs"]

Matrix = tuple[float, float, float, float, float, float]
_IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def _mul(m: Matrix, n: Matrix) -> Matrix:
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (
        a * a2 + b * c2, a * b2 + b * d2,
        c * a2 + d * c2, c * b2 + d * d2,
        e * a2 + f * c2 + e2, e * b2 + f * d2 + f2,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Glyph:
    """One shown character: its text, where it starts and ends on the baseline, its size."""

    text: str
    x0: float
    x1: float
    y: float
    size: float


class _Font:
    """What the locator needs of a font: code length, Unicode mapping, widths."""

    def __init__(self, font: generic.DictionaryObject) -> None:
        self.composite = font.get("/Subtype") == "/Type0"
        self.to_unicode = _parse_to_unicode(font.get("/ToUnicode"))
        self.widths: dict[int, float] = {}
        self.default_width = 500.0
        if self.composite:
            descendant = font["/DescendantFonts"][0].get_object()
            self.default_width = float(descendant.get("/DW", 1000))
            entries = list(descendant.get("/W", []))
            index = 0
            while index + 1 < len(entries):
                first = int(entries[index])
                nxt = entries[index + 1]
                if isinstance(nxt, generic.ArrayObject | list):
                    for offset, width in enumerate(nxt):
                        self.widths[first + offset] = float(width)
                    index += 2
                else:
                    for code in range(first, int(nxt) + 1):
                        self.widths[code] = float(entries[index + 2])
                    index += 3
        else:
            first_char = int(font.get("/FirstChar", 0))
            for offset, width in enumerate(font.get("/Widths", [])):
                self.widths[first_char + offset] = float(width)

    def codes(self, data: bytes) -> list[int]:
        if self.composite:
            return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data) - 1, 2)]
        return list(data)

    def unicode(self, code: int) -> str:
        found = self.to_unicode.get(code)
        if found is not None:
            return found
        return "" if self.composite else bytes([code]).decode("latin-1")


_HEX = re.compile(rb"<([0-9A-Fa-f]+)>")


def _parse_to_unicode(ref: Any) -> dict[int, str]:
    if ref is None:
        return {}
    try:
        data = ref.get_object().data
    except (PdfReadError, AttributeError):
        return {}
    mapping: dict[int, str] = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", data, re.S):
        values = _HEX.findall(block)
        for src, dst in zip(values[::2], values[1::2], strict=False):
            mapping[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be", "replace")
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", data, re.S):
        for line in block.splitlines():
            values = _HEX.findall(line)
            if len(values) < 3:
                continue
            low, high = int(values[0], 16), int(values[1], 16)
            if b"[" in line:
                for offset, dst in enumerate(values[2:]):
                    mapping[low + offset] = bytes.fromhex(dst.decode()).decode(
                        "utf-16-be", "replace"
                    )
            else:
                start = bytes.fromhex(values[2].decode())
                base = int.from_bytes(start, "big")
                for offset in range(high - low + 1):
                    value = (base + offset).to_bytes(len(start), "big")
                    mapping[low + offset] = value.decode("utf-16-be", "replace")
    return mapping


def page_glyphs(reader: PdfFileReader, page_index: int) -> list[Glyph]:  # noqa: PLR0912, PLR0915 -- one dispatch over the text operators reads best flat
    """Every character shown by the page's own content streams, in user space."""
    count = int(reader.root["/Pages"]["/Count"])
    if not 0 <= page_index < count:
        raise SigningError("signing.bad_page", f"page {page_index + 1} of {count}")
    try:
        page_ref, resources = reader.find_page_for_modification(page_index)
    except (IndexError, PdfReadError, KeyError):
        raise SigningError("signing.bad_page", f"page {page_index + 1}") from None
    page_dict = page_ref.get_object()
    raw = page_dict.get("/Contents")
    streams: list[generic.StreamObject] = []
    if isinstance(raw, generic.ArrayObject):
        streams = [item.get_object() for item in raw]
    elif raw is not None:
        streams = [raw.get_object()]
    resources = resources.get_object() if resources is not None else generic.DictionaryObject()
    fonts_dict = resources.get("/Font", generic.DictionaryObject())
    fonts: dict[str, _Font] = {}
    glyphs: list[Glyph] = []
    ctm = _IDENTITY
    stack: list[Matrix] = []
    tm = tlm = _IDENTITY
    font: _Font | None = None
    size = leading = char_spacing = word_spacing = rise = 0.0
    scale = 1.0

    def show(data: bytes) -> None:
        nonlocal tm
        if font is None:
            return
        for code in font.codes(data):
            advance = font.widths.get(code, font.default_width) / 1000 * size
            trm = _mul((size * scale, 0, 0, size, 0, rise), _mul(tm, ctm))
            start_x, y = trm[4], trm[5]
            spacing = char_spacing + (word_spacing if not font.composite and code == 32 else 0)
            tx = (advance + spacing) * scale
            tm = _mul((1, 0, 0, 1, tx, 0), tm)
            end = _mul((1, 0, 0, 1, 0, 0), _mul(tm, ctm))
            effective = abs(trm[3]) or size
            glyphs.append(Glyph(font.unicode(code), start_x, end[4], y, effective))

    try:
        operators = list(parse_content_stream(streams))
    except (PdfReadError, AssertionError, ValueError):
        return glyphs
    for op in operators:
        name, args = op.op, op.args
        try:
            if name == "q":
                stack.append(ctm)
            elif name == "Q" and stack:
                ctm = stack.pop()
            elif name == "cm":
                ctm = _mul(tuple(float(a) for a in args), ctm)  # type: ignore[arg-type]
            elif name == "BT":
                tm = tlm = _IDENTITY
            elif name == "Tf":
                key = str(args[0])
                if key not in fonts and key in fonts_dict:
                    fonts[key] = _Font(fonts_dict[key].get_object())
                font = fonts.get(key)
                size = float(args[1])
            elif name == "Tm":
                tm = tlm = tuple(float(a) for a in args)  # type: ignore[assignment]
            elif name in ("Td", "TD"):
                if name == "TD":
                    leading = -float(args[1])
                tm = tlm = _mul((1, 0, 0, 1, float(args[0]), float(args[1])), tlm)
            elif name == "T*":
                tm = tlm = _mul((1, 0, 0, 1, 0, -leading), tlm)
            elif name == "TL":
                leading = float(args[0])
            elif name == "Tc":
                char_spacing = float(args[0])
            elif name == "Tw":
                word_spacing = float(args[0])
            elif name == "Tz":
                scale = float(args[0]) / 100
            elif name == "Ts":
                rise = float(args[0])
            elif name == "Tj":
                show(bytes(args[0].original_bytes))
            elif name in ("'", '"'):
                if name == '"':
                    word_spacing, char_spacing = float(args[0]), float(args[1])
                tm = tlm = _mul((1, 0, 0, 1, 0, -leading), tlm)
                show(bytes(args[-1].original_bytes))
            elif name == "TJ":
                for item in args[0]:
                    if isinstance(item, generic.TextStringObject | generic.ByteStringObject):
                        show(bytes(item.original_bytes))
                    else:
                        tm = _mul((1, 0, 0, 1, -float(item) / 1000 * size * scale, 0), tm)
        except (IndexError, TypeError, ValueError, KeyError, AttributeError):
            continue  # a malformed operator: skip it, as viewers do
    return glyphs


def _normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def find_text(
    reader: PdfFileReader, text: str, *, page_index: int | None = None
) -> tuple[int, Rect]:
    """The page and box of the last place ``text`` is printed (case and spacing ignored).

    Pages are searched from the last one (the signer block ends a document) unless
    ``page_index`` is given; ``signing.anchor_not_found`` if it is nowhere.
    """
    wanted = _normalise(text)
    if not wanted:
        raise SigningError("signing.anchor_not_found", "empty anchor text")
    count = int(reader.root["/Pages"]["/Count"])
    pages = [page_index] if page_index is not None else list(range(count - 1, -1, -1))
    for index in pages:
        found = _find_on_page(page_glyphs(reader, index), wanted)
        if found is not None:
            return index, found
    where = f"page {page_index + 1}" if page_index is not None else "any page"
    raise SigningError("signing.anchor_not_found", f"{text!r} not on {where}")


def _find_on_page(glyphs: list[Glyph], wanted: str) -> Rect | None:
    lines: list[list[Glyph]] = []
    for glyph in sorted(glyphs, key=lambda g: (-round(g.y, 0), g.x0)):
        if lines and abs(lines[-1][0].y - glyph.y) <= max(1.0, glyph.size * 0.3):
            lines[-1].append(glyph)
        else:
            lines.append([glyph])
    best: Rect | None = None
    for line in lines:
        line.sort(key=lambda g: g.x0)
        chars: list[str] = []
        owners: list[Glyph] = []
        previous: Glyph | None = None
        for glyph in line:
            if previous is not None and glyph.x0 - previous.x1 > glyph.size * 0.2:
                chars.append(" ")
                owners.append(glyph)
            for char in unicodedata.normalize("NFC", glyph.text).casefold():
                chars.append(" " if char.isspace() else char)
                owners.append(glyph)
            previous = glyph
        # collapse runs of spaces, keeping the owner of the first
        joined: list[str] = []
        joined_owners: list[Glyph] = []
        for char, owner in zip(chars, owners, strict=True):
            if char == " " and (not joined or joined[-1] == " "):
                continue
            joined.append(char)
            joined_owners.append(owner)
        haystack = "".join(joined)
        position = haystack.rfind(wanted)
        if position < 0:
            continue
        hit = joined_owners[position : position + len(wanted)]
        size = max(g.size for g in hit)
        baseline = hit[0].y
        best = Rect(
            min(g.x0 for g in hit), baseline - 0.22 * size, max(g.x1 for g in hit),
            baseline + 0.75 * size,
        )  # fmt: skip
    return best
