"""Writing a :class:`~lienthong.domain.edxml.model.Package` as edXML bytes (QCVN 102:2016).

Elements are written in the order of the real samples (the order of each ``__edxml__``
table), dates as ``yyyy/MM/dd``, indented by two spaces, and namespaces as the samples
declare them: the default namespace on ``edXML``, the ``edXML`` prefix from
``edXMLEnvelope`` down, unprefixed elements in ``AttachmentEncoded``. What the parser kept
in :class:`~lienthong.domain.edxml.model.Extras` is written back after the known children
of its element; each kept fragment is exclusive-canonical XML, so it declares the
namespaces it uses and can be written verbatim.

The text is produced directly rather than through an lxml tree: for a package of a few
kilobytes, building a tree costs more than the whole parse, and a multi-megabyte base64
payload would be copied and re-validated twice.
"""

from __future__ import annotations

import re
from typing import Any

from lienthong.domain.edxml.model import EDXML_NS, Attachment, Extras, Package
from lienthong.domain.errors import EdxmlError

_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
#: Characters XML 1.0 does not allow in a document at all.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTR_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\t": "&#9;",
        "\n": "&#10;",
        "\r": "&#13;",
    }
)
_INDENT = "  "
#: Line break and indentation before an element at each depth (index = depth).
_NEWLINES = ("", *("\n" + _INDENT * depth for depth in range(1, 64)))


def serialize_package(package: Package, *, pretty: bool = True) -> bytes:
    """Write the package as UTF-8 edXML bytes with an XML declaration.

    Raises :class:`EdxmlError` (``edxml.bad_text``) if a value holds a character that
    XML 1.0 cannot carry (a control character, say, in text typed by a user).
    """
    writer = _Writer(pretty=pretty)
    writer.element("edXML", package, prefix="", depth=0, declare=' xmlns="' + EDXML_NS + '"')
    # Payloads were kept as ASCII bytes: joining them into the (non-ASCII, Vietnamese) text
    # would widen megabytes of base64 to UCS-2 and encode them back, several times slower.
    chunks: list[bytes] = []
    pending: list[str] = [_DECLARATION]
    for part in writer.parts:
        if isinstance(part, bytes):
            chunks.append("".join(pending).encode("utf-8"))
            chunks.append(part)
            pending.clear()
        else:
            pending.append(part)
    chunks.append("".join(pending).encode("utf-8"))
    return b"".join(chunks)


def _text(value: str) -> str:
    if bad := _ILLEGAL.search(value):
        raise EdxmlError("edxml.bad_text", f"U+{ord(bad.group()):04X} in {value[:40]!r}")
    if "&" in value or "<" in value or ">" in value or "\r" in value:
        return value.translate(_TEXT_ESCAPES)
    return value


def _attr(value: str) -> str:
    if bad := _ILLEGAL.search(value):
        raise EdxmlError("edxml.bad_text", f"U+{ord(bad.group()):04X} in {value[:40]!r}")
    return value.translate(_ATTR_ESCAPES)


def _fragment(xml: str) -> str:
    """A kept fragment, made to mean the same wherever it is written.

    Kept fragments prefix every namespaced element (the parser's normal form), so an
    unprefixed element in one has no namespace; ``xmlns=""`` on its root stops it from
    inheriting the default namespace of the place it is written to.
    """
    end = len(xml)
    for stop in (" ", ">", "/"):
        found = xml.find(stop, 1)
        if found != -1:
            end = min(end, found)
    return f'{xml[:end]} xmlns=""{xml[end:]}'


def _attr_name(name: str, declarations: list[str]) -> str:
    """Attribute names in Clark notation get a prefix declared on their element."""
    if not name.startswith("{"):
        return name
    namespace, _, local = name[1:].partition("}")
    prefix = f"a{len(declarations)}"
    declarations.append(f' xmlns:{prefix}="{_attr(namespace)}"')
    return f"{prefix}:{local}"


class _Writer:
    def __init__(self, *, pretty: bool) -> None:
        self.parts: list[str | bytes] = []
        self.pretty = pretty

    def _open(self, depth: int) -> str:
        return _NEWLINES[depth] if self.pretty else ""

    def element(  # noqa: PLR0912 - one dispatch on the field kind
        self, name: str, obj: Any, *, prefix: str, depth: int, declare: str = ""
    ) -> None:
        parts = self.parts
        tag = prefix + name
        declarations: list[str] = []
        attributes = ""
        extras: Extras = obj.extras
        table = type(obj).__edxml__
        for spec in table:
            if spec.kind == "attr" and getattr(obj, spec.attr) is not None:
                attributes += f' {spec.element}="{_attr(getattr(obj, spec.attr))}"'
        for attr_name, value in extras.attributes:
            attributes += f' {_attr_name(attr_name, declarations)}="{_attr(value)}"'
        parts.append(f"{self._open(depth)}<{tag}{declare}{''.join(declarations)}{attributes}>")
        inner = depth + 1
        # The samples switch to the edXML prefix inside the envelope, and stay unprefixed
        # inside AttachmentEncoded.
        wrapped: dict[str, int] = {}
        for spec in table:
            value = getattr(obj, spec.attr)
            kind = spec.kind
            if value is None or kind == "attr":
                continue
            child_prefix, child_declare = prefix, ""
            if name == "edXML" and spec.element == "edXMLEnvelope":
                child_prefix, child_declare = "edXML:", ' xmlns:edXML="' + EDXML_NS + '"'
            if kind == "child":
                self.element(
                    spec.element, value, prefix=child_prefix, depth=inner, declare=child_declare
                )
            elif kind == "children":
                for item in value:
                    self.element(spec.element, item, prefix=prefix, depth=inner)
            elif kind == "signature":
                parts.append(self._open(inner) + _fragment(value.xml))
            elif kind in ("texts", "wrapped"):
                wrapped[spec.element] = len(parts)
                self.wrapper(spec, value, prefix=prefix, depth=inner, extras=extras)
            elif kind == "base64":
                # A valid payload needs no escaping: written as it is, checked once.
                valid = obj.has_valid_encoding() if isinstance(obj, Attachment) else False
                self.leaf(prefix + spec.element, value, inner, verbatim=valid)
            else:
                self.leaf(prefix + spec.element, value, inner)
        for where, xml in extras.elements:
            if where and where not in wrapped:
                # A wrapper we did not write (its list was empty): write it for the extras.
                parts.append(f"{self._open(inner)}<{prefix}{where}>")
                parts.append(self._open(inner + 1) + _fragment(xml))
                parts.append(f"{self._open(inner)}</{prefix}{where}>")
                wrapped[where] = -1
            elif not where:
                parts.append(self._open(inner) + _fragment(xml))
        parts.append(f"{self._open(depth)}</{tag}>")

    def wrapper(self, spec: Any, items: Any, *, prefix: str, depth: int, extras: Extras) -> None:
        parts = self.parts
        tag = prefix + spec.element
        parts.append(f"{self._open(depth)}<{tag}>")
        for item in items:
            if spec.kind == "texts":
                self.leaf(prefix + spec.item, item, depth + 1)
            else:
                self.element(spec.item, item, prefix=prefix, depth=depth + 1)
        for where, xml in extras.elements:
            if where == spec.element:
                parts.append(self._open(depth + 1) + _fragment(xml))
        parts.append(f"{self._open(depth)}</{tag}>")

    def leaf(self, tag: str, value: str, depth: int, *, verbatim: bool = False) -> None:
        if verbatim:  # checked base64: ASCII, nothing to escape
            self.parts += (f"{self._open(depth)}<{tag}>", value.encode("ascii"), f"</{tag}>")
        else:
            self.parts.append(f"{self._open(depth)}<{tag}>{_text(value)}</{tag}>")
