"""Writing a :class:`~lienthong.domain.edxml.model.Package` as edXML bytes (QCVN 102:2016).

Elements are written in the order of the real samples (the order of each ``__edxml__``
table), dates as ``yyyy/MM/dd``, and namespaces as the samples declare them: the default
namespace on ``edXML`` and the ``edXML`` prefix from ``edXMLEnvelope`` down. What the parser
kept in :class:`~lienthong.domain.edxml.model.Extras` is written back after the known
children of its element.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from lienthong.domain.edxml.model import EDXML_NS, Extras, Package

_NS = "{" + EDXML_NS + "}"
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def serialize_package(package: Package, *, pretty: bool = True) -> bytes:
    """Write the package as UTF-8 edXML bytes with an XML declaration."""
    root = etree.Element(_NS + "edXML", nsmap={None: EDXML_NS})
    _write_fields(root, package)
    if pretty:
        etree.indent(root, space="  ")
    # The declaration is written as the samples write it (double quotes).
    return _DECLARATION + etree.tostring(root, encoding="UTF-8", xml_declaration=False)


def _fragment(xml: str) -> etree._Element:
    # Extras were produced by our own parser (exclusive c14n of an element), so they are
    # well-formed and free of DTDs; parse them with the same hardened settings anyway.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    return etree.fromstring(xml.encode(), parser)


def _write_fields(element: etree._Element, obj: Any) -> None:  # noqa: PLR0912 - one dispatch on the field kind
    wrappers: dict[str, etree._Element] = {}
    for spec in type(obj).__edxml__:
        value = getattr(obj, spec.attr)
        if value is None:
            continue
        kind = spec.kind
        if kind == "attr":
            element.set(spec.element, value)
        elif kind == "signature":
            element.append(_fragment(value.xml))
        elif kind == "child":
            _write_child(element, spec.element, value)
        elif kind == "children":
            for item in value:
                _write_child(element, spec.element, item)
        elif kind in ("texts", "wrapped"):
            wrapper = _sub(element, spec.element)
            wrappers[spec.element] = wrapper
            for item in value:
                if kind == "texts":
                    _sub(wrapper, spec.item).text = item
                else:
                    _write_child(wrapper, spec.item, item)
        else:
            _sub(element, spec.element).text = value
    extras: Extras = obj.extras
    for name, value in extras.attributes:
        element.set(name, value)
    for where, xml in extras.elements:
        parent = wrappers.get(where)
        if parent is None and where:
            parent = wrappers[where] = _sub(element, where)
        (parent if parent is not None else element).append(_fragment(xml))


def _sub(parent: etree._Element, name: str) -> etree._Element:
    if parent.tag == _NS + "edXML" and name == "edXMLEnvelope":
        # The samples declare the edXML prefix here; every element below uses it.
        return etree.SubElement(parent, _NS + name, nsmap={"edXML": EDXML_NS})
    return etree.SubElement(parent, _NS + name)


def _write_child(parent: etree._Element, name: str, obj: Any) -> None:
    _write_fields(_sub(parent, name), obj)
