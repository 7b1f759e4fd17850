"""A faster reader for PDF hex strings, installed into pyHanko (tăng tốc đọc chữ ký).

pyHanko reads a hex string ``<…>`` one byte at a time through a generator. A signature's
``/Contents`` is such a string of 16-32 kB of hex digits, so reading the two signatures of an
issued document spent 40 % of verification time there (bench/RESULTS.md). This reader finds
the closing ``>`` in blocks and decodes with ``binascii`` in one call. It accepts and refuses
exactly what pyHanko's reader does (tested against it, including odd lengths, whitespace and
bad digits); a hex string holding a ``%`` (which pyHanko treats as a comment) is handed to
pyHanko's own reader.

Installed by :func:`install`, called when :mod:`lienthong.signing.pdf` or
:mod:`lienthong.signing.verify_pdf` is imported. It replaces one module attribute of
``pyhanko.pdf_utils.generic``, looked up on every call by ``read_object``; a pyHanko release
that renames it makes :func:`install` fail loudly (a test checks it is in place).

The second speed-up is for certificate names. Path validation compares names (RFC 5280
§7.1) through asn1crypto's ``NameTypeAndValue.prepped_value``, the RFC 4518 string
preparation of each attribute, computed afresh for every certificate object parsed — about
thirty times per verified PDF, 15 % of the hub's background PDF check. The prepared value is
a function of the attribute's DER encoding alone, so :func:`install` memoises it by that
encoding across objects (at most :data:`_PREPPED_SIZE` entries, then the memo starts over).
"""

from __future__ import annotations

import binascii
import io
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfStreamError

_ORIGINAL = generic.read_hex_string_from_stream
_WHITESPACE = b" \n\r\t\f\x00"
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_BLOCK = 64 * 1024


def read_hex_string_from_stream(stream: Any) -> Any:
    """Read ``<hex…>`` at the stream's position (on the ``<``) into a PDF string object."""
    start = stream.tell()
    stream.read(1)
    parts: list[bytes] = []
    consumed = 0
    while True:
        block = stream.read(_BLOCK)
        if not block:
            raise PdfStreamError("Stream ended prematurely")
        end = block.find(b">")
        if end < 0:
            parts.append(block)
            consumed += len(block)
            continue
        parts.append(block[:end])
        consumed += end
        break
    digits = b"".join(parts)
    if b"%" in digits:
        stream.seek(start, io.SEEK_SET)
        return _ORIGINAL(stream)
    stream.seek(start + 1 + consumed + 1, io.SEEK_SET)
    digits = digits.translate(None, _WHITESPACE)
    bad = digits.translate(None, _HEX_DIGITS)
    if bad:
        raise PdfStreamError("Unexpected token in hex string: " + repr(bad[:1]))
    if len(digits) % 2:
        digits += b"0"
    return generic.pdf_string(binascii.unhexlify(digits))


_ORIGINAL_PREPPED = asn1_x509.NameTypeAndValue.__dict__.get("prepped_value")
_PREPPED_SIZE = 8192
_PREPPED: dict[bytes, str] = {}


def prepped_value(attribute: Any) -> str:
    """``attribute.prepped_value`` (an asn1crypto ``NameTypeAndValue``), memoised by its DER."""
    cached: str | None = attribute._prepped
    if cached is None:
        key = attribute.dump()
        cached = _PREPPED.get(key)
        if cached is None:
            cached = _ORIGINAL_PREPPED.fget(attribute)
            if len(_PREPPED) >= _PREPPED_SIZE:
                _PREPPED.clear()
            _PREPPED[key] = cached
        attribute._prepped = cached
    return cached


def install() -> None:
    """Make pyHanko's object reader use :func:`read_hex_string_from_stream`, and asn1crypto's
    name comparison use :func:`prepped_value`."""
    if not callable(getattr(generic, "read_hex_string_from_stream", None)):
        msg = "pyHanko no longer has generic.read_hex_string_from_stream: remove the speed-up"
        raise TypeError(msg)
    generic.read_hex_string_from_stream = read_hex_string_from_stream
    if not isinstance(_ORIGINAL_PREPPED, property) or "_prepped" not in dir(
        asn1_x509.NameTypeAndValue
    ):
        msg = "asn1crypto's NameTypeAndValue.prepped_value changed: remove the speed-up"
        raise TypeError(msg)
    asn1_x509.NameTypeAndValue.prepped_value = property(prepped_value)


def original_reader() -> Any:
    """pyHanko's own reader, for tests that compare the two."""
    return _ORIGINAL


def original_prepped_value(attribute: Any) -> str:
    """asn1crypto's own string preparation, for tests that compare the two."""
    return str(_ORIGINAL_PREPPED.fget(attribute))


__all__ = [
    "install",
    "original_prepped_value",
    "original_reader",
    "prepped_value",
    "read_hex_string_from_stream",
]
