# mypy: allow-untyped-calls
"""Fonts for signature appearances and generated documents (phông chữ).

Decree 30/2020 asks for Times New Roman; Liberation Serif (Debian ``fonts-liberation2``) has
the same metrics and covers every Vietnamese letter, precomposed (``ệ``, ``ỗ``, ``ữ``…).

:class:`StampFont` embeds a TrueType font in a PDF as a Type 0 / CIDFontType2 font with
Identity-H encoding, so a character code is the glyph id and no shaping engine is needed
for Vietnamese (text is normalised to NFC first). The font file is parsed once per process,
and each subset (keyed by the set of characters it must show) is cut and compressed once:
signing the hundredth document with the same organisation name costs no font work at all.
"""

from __future__ import annotations

import functools
import io
import os
import threading
import unicodedata
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fontTools import subset, ttLib  # type: ignore[import-untyped]
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import BasePdfFileWriter

from lienthong.domain.errors import SigningError

__all__ = ["FONT_DIRECTORIES", "StampFont", "find_font", "stamp_font"]

#: Where fonts are looked up, first match wins; ``LIENTHONG_FONT_DIR`` goes first when set.
FONT_DIRECTORIES = (
    Path("/usr/share/fonts/truetype/liberation2"),
    Path("/usr/share/fonts/truetype/liberation"),
    Path("/usr/share/fonts/liberation"),
    Path("/usr/local/share/fonts"),
)

#: Characters every stamp subset carries, so that only the organisation name decides the
#: subset: digits and the punctuation of ISO 8601 times and document numbers.
ALWAYS = frozenset("0123456789:-+/T .,()")


def find_font(name: str = "LiberationSerif-Regular.ttf") -> Path:
    """The path of a font file by name; ``signing.font_not_found`` if it is nowhere."""
    directories = list(FONT_DIRECTORIES)
    extra = os.environ.get("LIENTHONG_FONT_DIR")
    if extra:
        directories.insert(0, Path(extra))
    for directory in directories:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    searched = ", ".join(str(d) for d in directories)
    raise SigningError(
        "signing.font_not_found", f"{name} not in {searched} (apt-get install fonts-liberation2)"
    )


@dataclass(frozen=True, slots=True)
class _Subset:
    """A cut font program, compressed, with what the PDF font dictionaries need."""

    tag: str
    font_file: bytes  # zlib-compressed TrueType
    length1: int
    widths: generic.ArrayObject
    to_unicode: bytes  # zlib-compressed CMap


class StampFont:
    """A TrueType font, parsed once, embedded as subsets cut once per character set."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._data = path.read_bytes()
            font = ttLib.TTFont(io.BytesIO(self._data), lazy=False)
        except (OSError, ttLib.TTLibError) as exc:
            raise SigningError("signing.font_not_found", f"{path}: {exc}") from None
        self._cmap: dict[int, str] = font.getBestCmap()
        order = font.getGlyphOrder()
        self._gid = {name: gid for gid, name in enumerate(order)}
        self._advance = {name: metrics[0] for name, metrics in font["hmtx"].metrics.items()}
        self.units_per_em: int = font["head"].unitsPerEm
        head, os2, post = font["head"], font["OS/2"], font["post"]
        self._scale = 1000 / self.units_per_em
        self.ascent = os2.sTypoAscender * self._scale
        self.descent = os2.sTypoDescender * self._scale
        self._bbox = [head.xMin, head.yMin, head.xMax, head.yMax]
        self._cap_height = getattr(os2, "sCapHeight", os2.sTypoAscender) or os2.sTypoAscender
        self._italic_angle = post.italicAngle
        self.ps_name: str = font["name"].getDebugName(6) or path.stem
        self._subsets: dict[frozenset[str], _Subset] = {}
        self._lock = threading.Lock()

    # -- measuring and encoding ---------------------------------------------------------------
    def _glyph(self, char: str) -> str:
        name = self._cmap.get(ord(char))
        if name is None:
            raise SigningError(
                "signing.missing_glyph", f"U+{ord(char):04X} {char!r} not in {self.path.name}"
            )
        return name

    def width(self, text: str, size: float) -> float:
        """Advance width of ``text`` at ``size`` points, in points."""
        text = unicodedata.normalize("NFC", text)
        units: int = sum(self._advance[self._glyph(c)] for c in text)
        return float(units * size / self.units_per_em)

    def encode(self, text: str) -> bytes:
        """The string operand for ``Tj``: two-byte glyph ids (Identity-H)."""
        text = unicodedata.normalize("NFC", text)
        return b"".join(self._gid[self._glyph(c)].to_bytes(2, "big") for c in text)

    def wrap(self, text: str, size: float, max_width: float) -> list[str]:
        """Break ``text`` into lines no wider than ``max_width`` (at spaces; words stay whole)."""
        lines: list[str] = []
        current = ""
        for word in text.split():
            candidate = f"{current} {word}" if current else word
            if current and self.width(candidate, size) > max_width:
                lines.append(current)
                current = word
            else:
                current = candidate
        if current:
            lines.append(current)
        return lines

    # -- embedding -----------------------------------------------------------------------------
    def _subset(self, chars: frozenset[str]) -> _Subset:
        with self._lock:
            cached = self._subsets.get(chars)
            if cached is not None:
                return cached
        names = sorted({self._glyph(c) for c in chars} | {".notdef"}, key=self._gid.__getitem__)
        gids = [self._gid[n] for n in names]
        options = subset.Options()
        options.retain_gids = True  # Identity-H: the codes in the content stream are glyph ids
        options.notdef_outline = True
        options.name_IDs = ["*"]
        options.layout_features = []
        options.drop_tables += ["GPOS", "GSUB", "GDEF", "kern", "DSIG", "FFTM"]
        font = ttLib.TTFont(io.BytesIO(self._data))
        subsetter = subset.Subsetter(options)
        subsetter.populate(gids=gids)
        subsetter.subset(font)
        buffer = io.BytesIO()
        font.save(buffer)
        program = buffer.getvalue()
        widths = generic.ArrayObject()
        for name in names:
            widths.append(generic.NumberObject(self._gid[name]))
            widths.append(
                generic.ArrayObject(
                    [generic.NumberObject(round(self._advance[name] * self._scale))]
                )
            )
        made = _Subset(
            tag=_subset_tag(chars),
            font_file=zlib.compress(program, 6),
            length1=len(program),
            widths=widths,
            to_unicode=zlib.compress(_to_unicode_cmap(chars, self), 6),
        )
        with self._lock:
            self._subsets[chars] = made
        return made

    def embed(self, writer: BasePdfFileWriter, texts: Iterable[str]) -> generic.IndirectObject:
        """Write a Type 0 font able to show every string of ``texts`` (plus digits and the
        punctuation of times and numbers) and return its reference."""
        chars = set(ALWAYS)
        for text in texts:
            chars.update(unicodedata.normalize("NFC", text))
        cut = self._subset(frozenset(chars))
        base = pdf_name(f"/{cut.tag}+{self.ps_name}")
        font_file = generic.StreamObject(
            {pdf_name("/Length1"): generic.NumberObject(cut.length1),
             pdf_name("/Filter"): pdf_name("/FlateDecode")},
            encoded_data=cut.font_file,
        )  # fmt: skip
        descriptor = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/FontDescriptor"),
                pdf_name("/FontName"): base,
                pdf_name("/Flags"): generic.NumberObject(34),  # serif, non-symbolic
                pdf_name("/FontBBox"): generic.ArrayObject(
                    generic.NumberObject(round(v * self._scale)) for v in self._bbox
                ),
                pdf_name("/ItalicAngle"): generic.FloatObject(self._italic_angle),
                pdf_name("/Ascent"): generic.NumberObject(round(self.ascent)),
                pdf_name("/Descent"): generic.NumberObject(round(self.descent)),
                pdf_name("/CapHeight"): generic.NumberObject(round(self._cap_height * self._scale)),
                pdf_name("/StemV"): generic.NumberObject(80),
                pdf_name("/FontFile2"): writer.add_object(font_file),
            }
        )
        cid_font = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Font"),
                pdf_name("/Subtype"): pdf_name("/CIDFontType2"),
                pdf_name("/BaseFont"): base,
                pdf_name("/CIDSystemInfo"): generic.DictionaryObject(
                    {
                        pdf_name("/Registry"): generic.TextStringObject("Adobe"),
                        pdf_name("/Ordering"): generic.TextStringObject("Identity"),
                        pdf_name("/Supplement"): generic.NumberObject(0),
                    }
                ),
                pdf_name("/FontDescriptor"): writer.add_object(descriptor),
                pdf_name("/W"): cut.widths,
                pdf_name("/DW"): generic.NumberObject(1000),
                pdf_name("/CIDToGIDMap"): pdf_name("/Identity"),
            }
        )
        to_unicode = generic.StreamObject(
            {pdf_name("/Filter"): pdf_name("/FlateDecode")}, encoded_data=cut.to_unicode
        )
        font = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Font"),
                pdf_name("/Subtype"): pdf_name("/Type0"),
                pdf_name("/BaseFont"): base,
                pdf_name("/Encoding"): pdf_name("/Identity-H"),
                pdf_name("/DescendantFonts"): generic.ArrayObject([writer.add_object(cid_font)]),
                pdf_name("/ToUnicode"): writer.add_object(to_unicode),
            }
        )
        return writer.add_object(font)


def _subset_tag(chars: frozenset[str]) -> str:
    # PDF 32000 §9.6.4: six upper-case letters, here derived from the character set so that
    # the same subset always gets the same tag.
    digest = zlib.crc32("".join(sorted(chars)).encode("utf-8"))
    letters = []
    for _ in range(6):
        digest, rest = divmod(digest, 26)
        letters.append(chr(ord("A") + rest))
    return "".join(letters)


def _to_unicode_cmap(chars: frozenset[str], font: StampFont) -> bytes:
    pairs = sorted((font._gid[font._glyph(c)], c) for c in chars)
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        "<0000> <FFFF>",
        "endcodespacerange",
    ]
    for start in range(0, len(pairs), 100):
        chunk = pairs[start : start + 100]
        lines.append(f"{len(chunk)} beginbfchar")
        lines += [f"<{gid:04X}> <{ord(c):04X}>" for gid, c in chunk]
        lines.append("endbfchar")
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode("ascii")


@functools.cache
def stamp_font(name: str = "LiberationSerif-Regular.ttf") -> StampFont:
    """The process-wide :class:`StampFont` for ``name`` (parsed on first use)."""
    return StampFont(find_font(name))
