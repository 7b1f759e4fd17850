"""Reading edXML bytes into :class:`~lienthong.domain.edxml.model.Package` (QCVN 102:2016).

The reader is namespace-aware and order-independent: it looks children up by name in each
class's ``__edxml__`` table, keeps what it does not know, and tolerates the variations real
producers show (``Status`` for ``MessageHeader``, ``Bussiness`` before ``TraceHeader``,
``dd/MM/yyyy`` dates, a placeholder ``Signature``). Hostile input is refused before and
after parsing: DTDs and entities are never processed (XXE, billion laughs), size, depth and
element count are bounded, and nothing touches the file system or the network.
"""

from __future__ import annotations

import copy
import re
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
#: The start of the root element: a ``<`` followed by a name character.
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_:\x80-\xff]")


def _refuse_markup(data: bytes) -> None:
    for markup in _FORBIDDEN_MARKUP:
        if markup in data:
            raise EdxmlError("edxml.unsafe_xml", markup.decode())


def _new_parser(*, recover: bool) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,  # no entity expansion: XXE and billion laughs
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=True,  # allow big base64 text nodes; depth and size are bounded by us
        remove_comments=True,
        remove_pis=True,
        # Never collect_ids=False: lxml implements it through libxml2's ``loadsubset`` flags,
        # and any flag there makes libxml2 read the external DTD (``SYSTEM "file:///…"``) of
        # a document whose DOCTYPE the byte check cannot see (UTF-16, UTF-7).
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
_COUNT_ATTRIBUTES = etree.XPath("count(//@*)")


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
    # A DOCTYPE (and the entities it declares) can only come before the root element, so
    # the prolog is all a well-formed package needs scanning for them; the recovery path
    # scans every byte, and the parsed tree's DOCTYPE is checked in any case (UTF-16 …).
    first_element = _FIRST_ELEMENT.search(data)
    _refuse_markup(data[: first_element.start()] if first_element else data)
    _scan_counts(data, limits)
    return _parse(data, limits, repair)[0]


def parse_package_tree(
    data: bytes, *, limits: Limits = DEFAULT_LIMITS
) -> tuple[Package, etree._Element | None]:
    """:func:`parse_package` (repairing), and the tree it read when that tree is exactly what
    the bytes say: nothing repaired, and no comment or processing instruction, which this
    parser drops. The envelope signature check then reads the same tree instead of parsing
    the bytes a second time (``lienthong.signing.xmldsig``); ``None`` otherwise. The tree
    is the caller's: reading the package does not change it."""
    if len(data) > limits.max_package_bytes:
        raise EdxmlError("edxml.too_large", f"{len(data)} bytes > {limits.max_package_bytes} bytes")
    first_element = _FIRST_ELEMENT.search(data)
    _refuse_markup(data[: first_element.start()] if first_element else data)
    _scan_counts(data, limits)
    package, root = _parse(data, limits, repair=True)
    return package, (root if not package.notes and _nothing_dropped(data) else None)


def _nothing_dropped(data: bytes) -> bool:
    """Whether the bytes hold no comment and no processing instruction (besides the XML
    declaration). Only for an ASCII-compatible encoding can the bytes tell: a document that
    does not begin with ``<`` (a byte-order mark, UTF-16) or declares another encoding is
    taken to hold some."""
    if not data.startswith(b"<"):
        return False
    start = 0
    if data.startswith(b"<?xml"):
        declaration = _UTF8_DECLARATION.match(data)
        if declaration is None:
            return False
        start = declaration.end()
    return data.find(b"<?", start) < 0 and data.find(b"<!--", start) < 0


def _parse(data: bytes, limits: Limits, repair: bool) -> tuple[Package, etree._Element]:
    notes: list[tuple[str, str]] = []
    root = _parse_root(data, repair=repair, notes=notes)
    _check_tree(root, limits)
    try:
        return _read_root(root, notes), root
    except EdxmlError:
        raise
    except (ValueError, etree.LxmlError) as exc:
        # What we keep verbatim cannot always be written: C14N refuses a relative namespace
        # URI, lxml a name that recovery left invalid (``a:b:c``). Refused, not crashed on.
        raise EdxmlError("edxml.not_xml", f"{type(exc).__name__}: {exc}") from None


#: A bare XML declaration, or one naming UTF-8: then every ``<`` is the byte 0x3C.
_UTF8_DECLARATION = re.compile(
    rb"""<\?xml\s+version\s*=\s*["']1\.\d["']"""
    rb"""(\s+encoding\s*=\s*["']utf-?8["'])?"""
    rb"""(\s+standalone\s*=\s*["'](yes|no)["'])?\s*\?>""",
    re.IGNORECASE,
)
_SCAN_CHUNK = 1 << 16
_SMALL = 1 << 20


def _holds_more_than(data: bytes, byte: bytes, limit: int) -> bool:
    # find() runs at memchr speed and stops after ``limit`` hits; count() is several times
    # slower on a 60 MB package but one C call on a small one, where the loop would cost more.
    if len(data) < _SMALL:
        return data.count(byte) > limit
    position = -1
    for _ in range(limit + 1):
        position = data.find(byte, position + 1)
        if position < 0:
            return False
    return True


def _scan_counts(data: bytes, limits: Limits) -> None:
    """Refuse too many elements or attributes while reading, before a whole tree is built.

    :func:`_check_tree` counts a finished tree, and 64 MB of ``<a/>`` build 2 GB of it
    first; 100 000 attributes on one element take lxml minutes to list. A document is
    scanned only if it could exceed the bounds: each element costs a ``<`` byte and each
    attribute a ``=`` byte in UTF-8, UTF-16 and UTF-32 alike, so only a declaration naming
    another encoding (UTF-7 writes ``<`` as ``+ADw-``) forces the scan regardless.
    """
    declared_other = data.startswith(b"<?xml") and not _UTF8_DECLARATION.match(data)
    if (
        not declared_other
        and not _holds_more_than(data, b"<", limits.max_elements)
        and not _holds_more_than(data, b"=", limits.max_attributes)
    ):
        return
    parser = etree.XMLPullParser(
        events=("start",),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=True,
        recover=True,
    )
    elements = attributes = 0
    try:
        for offset in range(0, len(data), _SCAN_CHUNK):
            parser.feed(data[offset : offset + _SCAN_CHUNK])
            for _event, element in parser.read_events():
                assert isinstance(element, etree._Element)  # "start" events carry elements
                elements += 1
                attributes += len(element.attrib)
            if elements > limits.max_elements:
                raise EdxmlError("edxml.too_large", f"more than {limits.max_elements} elements")
            if attributes > limits.max_attributes:
                raise EdxmlError("edxml.too_large", f"more than {limits.max_attributes} attributes")
        parser.close()
    except etree.XMLSyntaxError:
        return  # the parse proper says what is wrong


def _parse_root(data: bytes, *, repair: bool, notes: list[tuple[str, str]]) -> etree._Element:
    try:
        root = etree.fromstring(data, _strict_parser())
    except etree.XMLSyntaxError as exc:
        message = str(exc)
        if "depth" in message.lower():
            raise EdxmlError("edxml.too_deep", message) from None
        _refuse_markup(data)
        try:
            recovered = etree.fromstring(data, _new_parser(recover=True))
        except etree.XMLSyntaxError:
            recovered = None
        if recovered is not None:
            # A DOCTYPE the byte check could not see (UTF-16) is the reason to give, even
            # when not repairing, rather than the syntax error it caused.
            _refuse_dtd(recovered)
        if not repair or recovered is None:
            raise EdxmlError("edxml.not_xml", message) from None
        # Recovery keeps a reference to an undeclared entity (``&x;``) as a node.
        if next(recovered.iter(etree.Entity), None) is not None:
            raise EdxmlError("edxml.unsafe_xml", "entity reference") from None
        _repair_structure(recovered)
        notes.append(("edxml.malformed_xml_repaired", message))
        root = recovered
    _refuse_dtd(root)
    return root


def _refuse_dtd(root: etree._Element) -> None:
    docinfo = root.getroottree().docinfo
    if getattr(docinfo, "doctype", "") or docinfo.internalDTD is not None:
        raise EdxmlError("edxml.unsafe_xml", "DOCTYPE")


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
    # Walk by getnext(): element[index] and len(element) are linear in lxml, which made
    # this loop quadratic in the number of children (minutes for a wide hostile package).
    child = element[0] if len(element) else None
    while child is not None:
        namespace, local = _split(child.tag) if isinstance(child.tag, str) else ("#", "")
        spec = _lookup(table, namespace, local)
        if spec is None and _is_ours(namespace, local):
            adopter = next((a for a in reversed(ancestors) if local in _table(a[1])), None)
            if adopter is not None:
                following = child.getnext()
                adopter[2].addnext(child)  # lxml moves the element
                adopter[2] = child
                moved_out = True
                child = following
                continue
        if spec is not None and spec.kind in ("child", "children"):
            emptied = _repair_children(child, spec.cls, [*ancestors, [element, cls, child]])  # type: ignore[arg-type]
            following = child.getnext()  # after the moves, which land just after ``child``
            if emptied and len(child) == 0 and not (child.text or "").strip():
                element.remove(child)
            child = following
            continue
        child = child.getnext()
    return moved_out


def _check_tree(root: etree._Element, limits: Limits) -> None:
    count = _COUNT_ELEMENTS(root)
    assert isinstance(count, float)  # count() always gives a number
    if count > limits.max_elements:
        raise EdxmlError("edxml.too_large", f"{count} elements > {limits.max_elements}")
    attributes = _COUNT_ATTRIBUTES(root)
    assert isinstance(attributes, float)
    if attributes > limits.max_attributes:
        raise EdxmlError("edxml.too_large", f"{attributes} attributes > {limits.max_attributes}")
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
    clone = _plain_copy(element)
    if clone is None:
        clone = _rebuild(element, {})
    return etree.tostring(clone, method="c14n", exclusive=True, with_comments=False).decode()


def _plain_copy(element: etree._Element) -> etree._Element | None:
    """The fast path of :func:`_canonical`: a C-level copy with whitespace-only text dropped,
    when it already is what :func:`_rebuild` would build — every element either without a
    namespace or in one of :data:`_PREFIXES` under that very prefix, no namespaced or
    prefixed attribute, nothing but elements (the parser drops comments and PIs). ``None``
    otherwise: the element is then rebuilt (a signature, the usual kept element, has about
    forty elements, and rebuilding them one by one in Python is most of reading it)."""
    for node in element.iter():
        tag = node.tag
        if not isinstance(tag, str):
            return None
        if tag.startswith("{"):
            end = tag.index("}")
            wanted = _PREFIXES.get(tag[1:end])
            if wanted is None or wanted != node.prefix or ":" in tag[end + 1 :]:
                # A local name with a colon (``edXML:`` left by recovery from ``<edXML:</…>``)
                # would be copied as is and written malformed: rebuilding refuses it.
                return None
        elif ":" in tag:
            return None
        for name in node.keys():  # noqa: SIM118 - lxml attributes, not a dict
            if ":" in str(name) or str(name).startswith("{"):
                return None
    clone = copy.deepcopy(element)
    clone.tail = None
    for node in clone.iter():
        text = node.text
        if text is not None and not text.strip():
            node.text = None
        if node is not clone:
            tail = node.tail
            if tail is not None and not tail.strip():
                node.tail = None
    return clone


def _rebuild(element: etree._Element, nsmap: dict[str, str]) -> etree._Element:
    # Recovery keeps an element whose prefix was never declared as ``p:local``: name it
    # as such an attribute is named, or lxml refuses the tag.
    tag = _attribute_name(element.tag)
    namespace, _ = _split(tag)
    if namespace and namespace not in nsmap:
        _refuse_unwritable(namespace)
        nsmap[namespace] = _PREFIXES.get(namespace, f"ns{len(nsmap) + 1}")
    clone = etree.Element(tag, nsmap={nsmap[namespace]: namespace} if namespace else None)
    for name, value in element.items():
        attribute = _attribute_name(str(name))
        _refuse_unwritable(_split(attribute)[0])
        clone.set(attribute, str(value))
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


def _refuse_unwritable(namespace: str) -> None:
    # libxml2's C14N writes namespace URIs unescaped: one holding '&' (a valid URI
    # character) would make the kept element, and every package written from it, malformed.
    if "&" in namespace:
        raise EdxmlError("edxml.unsafe_xml", f"namespace URI with '&': {namespace[:80]!r}")


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


def _read(cls: type, element: etree._Element) -> Any:  # noqa: PLR0912, PLR0915 - one dispatch on the field kind
    # The hot path of every package read: one dict lookup per child, plain text inlined.
    tags = _tags(cls)
    values: dict[str, Any] = {}
    extra_elements: list[tuple[str, str]] | None = None
    extra_attributes: list[tuple[str, str]] = []
    repeated: list[str] | None = None

    if element.keys():
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
        kind = spec.kind if spec is not None else None
        if kind == "text" and not len(child) and spec.attr not in values:  # type: ignore[union-attr]
            text = child.text
            values[spec.attr] = text.strip() if text else ""  # type: ignore[union-attr]
            continue
        if spec is None or kind is None:
            if isinstance(child.tag, str):
                extra_elements = extra_elements or []
                extra_elements.append(("", _canonical(child)))
            continue
        attr = spec.attr
        if kind == "children":
            if attr not in values:
                values[attr] = []
                repeated = repeated or []
                repeated.append(attr)
            values[attr].append(_read(spec.cls, child))  # type: ignore[arg-type]
        elif attr in values or (kind in _LEAVES and len(child)):
            # A second occurrence of a single element, or a leaf with element children
            # (not what the standard says): keep it whole, verbatim.
            extra_elements = extra_elements or []
            extra_elements.append(("", _canonical(child)))
        elif kind == "child":
            values[attr] = _read(spec.cls, child)  # type: ignore[arg-type]
        elif kind == "signature":
            is_dsig = child.tag.startswith("{" + XMLDSIG_NS)
            signature_kind = SignatureKind.XMLDSIG if is_dsig else SignatureKind.PLACEHOLDER
            values[attr] = SignatureBlock(signature_kind, _canonical(child))
        elif kind in _CONTAINERS:
            extra_elements = extra_elements or []
            values[attr] = _read_wrapper(spec, child, extra_elements)
        else:
            values[attr] = _leaf(spec, child.text)

    if repeated:
        for attr in repeated:
            values[attr] = tuple(values[attr])
    if extra_elements or extra_attributes:
        extra_elements = extra_elements or []
        if len(extra_elements) > 1:
            # Kept in the order the serialiser writes them back (what sat in a wrapper inside
            # it, the rest after the known children), or a round trip would reorder them.
            rank = _wrapper_rank(cls)
            extra_elements.sort(key=lambda item: rank.get(item[0], len(rank)))
        values["extras"] = Extras(tuple(extra_elements), tuple(extra_attributes))
    return cls(**values)


_CONTAINERS = ("texts", "wrapped")
_LEAVES = ("text", "base64", "date", "timestamp")


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
