"""Reading edXML bytes into :class:`~lienthong.domain.edxml.model.Package` (QCVN 102:2016).

The reader is namespace-aware and order-independent: it looks children up by name in each
class's ``__edxml__`` table, keeps what it does not know, and tolerates the variations real
producers show (``Status`` for ``MessageHeader``, ``Bussiness`` before ``TraceHeader``,
``dd/MM/yyyy`` dates, a placeholder ``Signature``). Hostile input is refused before and
after parsing: DTDs and entities are never processed (XXE, billion laughs), size, depth and
element count are bounded, and nothing touches the file system or the network.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

from lxml import etree

from lienthong.domain.edxml.dates import normalise_date_text, normalise_timestamp_text
from lienthong.domain.edxml.limits import DEFAULT_LIMITS, Limits
from lienthong.domain.edxml.model import (
    EDXML_NS,
    XMLDSIG_NS,
    Extras,
    Field,
    Package,
    SignatureBlock,
    SignatureKind,
)
from lienthong.domain.errors import EdxmlError

_ACCEPTED_NS = (EDXML_NS, "")
#: Markup we never accept, whatever the encoding declared (checked on the raw bytes too).
_FORBIDDEN_MARKUP = (b"<!DOCTYPE", b"<!ENTITY")


def _new_parser(*, recover: bool) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,  # no entity expansion: XXE and billion laughs
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=True,  # allow big base64 text nodes; depth and size are bounded by us
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
        recover=recover,
    )


_local = threading.local()


def _strict_parser() -> etree.XMLParser:
    # lxml parsers must not be shared between threads, and building one costs more than
    # parsing a small package: keep one per thread.
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = _new_parser(recover=False)
    return parser


_COUNT_ELEMENTS = etree.XPath("count(//*)")


@cache
def _deeper_than(depth: int) -> etree.XPath:
    # True if any element sits below ``depth`` levels; evaluated in C, stops early.
    return etree.XPath("boolean(/" + "/".join(["*"] * (depth + 1)) + ")")


def parse_package(data: bytes, *, limits: Limits = DEFAULT_LIMITS, repair: bool = True) -> Package:
    """Read a package from bytes.

    Raises :class:`EdxmlError` with ``edxml.too_large``, ``edxml.unsafe_xml``,
    ``edxml.too_deep``, ``edxml.not_xml`` or ``edxml.bad_root``. If ``repair`` is true,
    malformed XML of the kinds seen in real packages (a start tag written twice, an undeclared
    attribute prefix) is repaired, and the package's ``notes`` say so.
    """
    if len(data) > limits.max_package_bytes:
        raise EdxmlError("edxml.too_large", f"{len(data)} bytes > {limits.max_package_bytes} bytes")
    for markup in _FORBIDDEN_MARKUP:
        if markup in data:
            raise EdxmlError("edxml.unsafe_xml", markup.decode())
    notes: list[tuple[str, str]] = []
    root = _parse_root(data, repair=repair, notes=notes)
    _check_tree(root, limits)
    return _read_root(root, notes)


def _parse_root(data: bytes, *, repair: bool, notes: list[tuple[str, str]]) -> etree._Element:
    try:
        root = etree.fromstring(data, _strict_parser())
    except etree.XMLSyntaxError as exc:
        message = str(exc)
        if "depth" in message.lower():
            raise EdxmlError("edxml.too_deep", message) from None
        if not repair:
            raise EdxmlError("edxml.not_xml", message) from None
        try:
            recovered = etree.fromstring(data, _new_parser(recover=True))
        except etree.XMLSyntaxError:
            recovered = None
        if recovered is None:
            raise EdxmlError("edxml.not_xml", message) from None
        _repair_structure(recovered)
        notes.append(("edxml.malformed_xml_repaired", message))
        root = recovered
    docinfo = root.getroottree().docinfo
    if getattr(docinfo, "doctype", "") or docinfo.internalDTD is not None:
        raise EdxmlError("edxml.unsafe_xml", "DOCTYPE")
    return root


def _repair_structure(root: etree._Element) -> None:
    """Put back elements that libxml2's recovery left under the wrong parent.

    A start tag written twice (``<From><From>…</From><To>…``) makes every later element sit
    one level too deep once the parser recovers. The ``__edxml__`` tables say where each
    element belongs: an element its parent's table does not know, but an ancestor's does,
    is moved back up to that ancestor, just after the branch it was found in; a container
    emptied by the moves is dropped.
    """
    _repair_children(root, Package, [])


def _repair_children(element: etree._Element, cls: type, ancestors: list[list[Any]]) -> bool:
    """Repair below ``element``; return True if anything was moved out of it."""
    table = _table(cls)
    moved_out = False
    index = 0
    while index < len(element):
        child = element[index]
        namespace, local = _split(child.tag) if isinstance(child.tag, str) else ("#", "")
        spec = _lookup(table, namespace, local)
        if spec is None and _is_ours(namespace, local):
            adopter = next((a for a in reversed(ancestors) if local in _table(a[1])), None)
            if adopter is not None:
                adopter[2].addnext(child)  # lxml moves the element
                adopter[2] = child
                moved_out = True
                continue
        if spec is not None and spec.kind in ("child", "children"):
            emptied = _repair_children(child, spec.cls, [*ancestors, [element, cls, child]])  # type: ignore[arg-type]
            if emptied and len(child) == 0 and not (child.text or "").strip():
                element.remove(child)
                continue
        index += 1
    return moved_out


def _check_tree(root: etree._Element, limits: Limits) -> None:
    count = _COUNT_ELEMENTS(root)
    assert isinstance(count, float)  # count() always gives a number
    if count > limits.max_elements:
        raise EdxmlError("edxml.too_large", f"{count} elements > {limits.max_elements}")
    if _deeper_than(limits.max_depth)(root):
        raise EdxmlError("edxml.too_deep", f"deeper than {limits.max_depth}")


def _read_root(root: etree._Element, notes: list[tuple[str, str]]) -> Package:
    qname = etree.QName(root)
    if qname.localname != "edXML":
        raise EdxmlError("edxml.bad_root", f"<{qname.localname}>")
    if qname.namespace not in (EDXML_NS, None):
        raise EdxmlError("edxml.wrong_namespace", qname.namespace or "")
    package = _read(Package, root)
    return Package(
        envelope=package.envelope,
        attachments=package.attachments,
        extras=package.extras,
        notes=tuple(notes),
    )


@cache
def _table(cls: type) -> dict[str, Field]:
    table: dict[str, Field] = {}
    for spec in cls.__edxml__:  # type: ignore[attr-defined]
        for name in (spec.element, *spec.aliases):
            table[name] = spec
    return table


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _is_ours(namespace: str, local: str) -> bool:
    # The edXML namespace (or none, for careless producers), and the envelope signature,
    # which real packages write in either the edXML or the XML-DSig namespace.
    return namespace in _ACCEPTED_NS or (namespace == XMLDSIG_NS and local == "Signature")


def _lookup(table: dict[str, Field], namespace: str, local: str) -> Field | None:
    return table.get(local) if _is_ours(namespace, local) else None


#: Prefixes used in the stored form of kept elements; others get ``ns1``, ``ns2`` …
_PREFIXES = {EDXML_NS: "edXML", XMLDSIG_NS: "ds"}
#: Attributes whose prefix a producer forgot to declare (``xlink:href``) get a namespace.
_WELL_KNOWN = {
    "xlink": "http://www.w3.org/1999/xlink",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}


def _canonical(element: etree._Element) -> str:
    """The stored form of an element we keep verbatim: exclusive C14N of a normalised copy.

    Prefixes are re-assigned deterministically and whitespace-only text between elements is
    dropped, so the same content always gives the same string whatever prefixes and
    indentation the producer (or our own serialiser) used: equality survives round trips.
    """
    nsmap: dict[str, str] = {}
    clone = _rebuild(element, nsmap)
    return etree.tostring(clone, method="c14n", exclusive=True, with_comments=False).decode()


def _rebuild(element: etree._Element, nsmap: dict[str, str]) -> etree._Element:
    namespace, _ = _split(element.tag)
    if namespace and namespace not in nsmap:
        nsmap[namespace] = _PREFIXES.get(namespace, f"ns{len(nsmap) + 1}")
    clone = etree.Element(element.tag, nsmap={nsmap[namespace]: namespace} if namespace else None)
    for name, value in element.items():
        clone.set(_attribute_name(str(name)), str(value))
    text = element.text
    clone.text = text if text and text.strip() else None
    for child in element:
        if not isinstance(child.tag, str):
            continue
        copy = _rebuild(child, nsmap)
        tail = child.tail
        copy.tail = tail if tail and tail.strip() else None
        clone.append(copy)
    return clone


def _attribute_name(name: str) -> str:
    """Give an attribute with an undeclared prefix (kept by recovery as ``p:local``) a namespace."""
    if name.startswith("{") or ":" not in name:
        return name
    prefix, _, local = name.partition(":")
    namespace = _WELL_KNOWN.get(prefix, f"urn:lienthong:undeclared-prefix:{prefix}")
    return f"{{{namespace}}}{local}"


def _leaf(spec: Field, text: str | None) -> str:
    if not text:
        return ""
    kind = spec.kind
    if kind == "base64":
        # Base64 is often wrapped at 76 columns; the line breaks carry nothing.
        return "".join(text.split()) if any(c in text for c in _BLANKS) else text
    text = text.strip()
    if kind == "date":
        return normalise_date_text(text)
    if kind == "timestamp":
        return normalise_timestamp_text(text)
    return text


_BLANKS = " \t\r\n"


@cache
def _tags(cls: type) -> dict[str, Field]:
    """The table keyed by the tags we accept as they come from lxml (Clark notation)."""
    tags: dict[str, Field] = {}
    for name, spec in _table(cls).items():
        if spec.kind == "attr":
            continue
        tags[f"{{{EDXML_NS}}}{name}"] = spec
        tags[name] = spec  # no namespace: careless producers
        if spec.kind == "signature":
            tags[f"{{{XMLDSIG_NS}}}{name}"] = spec
    return tags


@cache
def _repeated(cls: type) -> tuple[str, ...]:
    return tuple(spec.attr for spec in cls.__edxml__ if spec.kind == "children")  # type: ignore[attr-defined]


def _read(cls: type, element: etree._Element) -> Any:  # noqa: PLR0912 - one dispatch on the field kind
    # This walk is the hot path of every package read: one dict lookup per child.
    tags = _tags(cls)
    values: dict[str, Any] = {}
    extra_elements: list[tuple[str, str]] = []
    extra_attributes: list[tuple[str, str]] = []

    if len(element.attrib):
        table = _table(cls)
        for raw_name, raw_value in element.items():
            name, value = str(raw_name), str(raw_value)
            spec = table.get(name)
            if spec is not None and spec.kind == "attr":
                values[spec.attr] = value
            else:
                extra_attributes.append((_attribute_name(name), value))

    for child in element:
        spec = tags.get(child.tag)
        if spec is None:
            if isinstance(child.tag, str):
                extra_elements.append(("", _canonical(child)))
            continue
        kind = spec.kind
        attr = spec.attr
        if kind == "children":
            values.setdefault(attr, []).append(_read(spec.cls, child))  # type: ignore[arg-type]
        elif attr in values:
            # A second occurrence of a single element: keep it, verbatim.
            extra_elements.append(("", _canonical(child)))
        elif kind == "child":
            values[attr] = _read(spec.cls, child)  # type: ignore[arg-type]
        elif kind == "signature":
            is_dsig = child.tag.startswith("{" + XMLDSIG_NS)
            signature_kind = SignatureKind.XMLDSIG if is_dsig else SignatureKind.PLACEHOLDER
            values[attr] = SignatureBlock(signature_kind, _canonical(child))
        elif kind in ("texts", "wrapped"):
            values[attr] = _read_wrapper(spec, child, extra_elements)
        elif len(child):
            # A leaf with element children is not what the standard says: keep it whole.
            extra_elements.append(("", _canonical(child)))
        else:
            values[attr] = _leaf(spec, child.text)

    for attr in _repeated(cls):
        if attr in values:
            values[attr] = tuple(values[attr])
    if extra_elements or extra_attributes:
        if len(extra_elements) > 1:
            # Kept in the order the serialiser writes them back (what sat in a wrapper inside
            # it, the rest after the known children), or a round trip would reorder them.
            rank = _wrapper_rank(cls)
            extra_elements.sort(key=lambda item: rank.get(item[0], len(rank)))
        values["extras"] = Extras(tuple(extra_elements), tuple(extra_attributes))
    return cls(**values)


@cache
def _wrapper_rank(cls: type) -> dict[str, int]:
    table: tuple[Field, ...] = cls.__edxml__  # type: ignore[attr-defined]
    wrappers = [spec.element for spec in table if spec.kind in ("texts", "wrapped")]
    return {name: index for index, name in enumerate(wrappers)}


def _read_wrapper(
    spec: Field, wrapper: etree._Element, extra_elements: list[tuple[str, str]]
) -> tuple[Any, ...]:
    items: list[Any] = []
    for item in wrapper:
        if not isinstance(item.tag, str):
            continue
        namespace, local = _split(item.tag)
        if namespace not in _ACCEPTED_NS or local != spec.item:
            extra_elements.append((spec.element, _canonical(item)))
        elif spec.kind == "texts":
            items.append((item.text or "").strip())
        else:
            items.append(_read(spec.cls, item))  # type: ignore[arg-type]
    return tuple(items)
