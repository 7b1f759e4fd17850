"""Where the real sample packages are, and hypothesis strategies for random packages.

The strategies build structurally valid :class:`Package` values — a document or a status —
from the model's own ``__edxml__`` tables, with the values the reader would give back:

* leaf text is any XML 1.0 text without surrounding blanks (the reader strips leaf text);
* date and timestamp fields hold either a well-formed value or text the reader leaves alone
  (it rewrites readable dates to ``yyyy/MM/dd``, which is tested on its own);
* kept unknown content (:class:`Extras`) is in the exclusive-canonical form the reader
  stores, wrapper extras only where the wrapper is present, listed in document order
  (wrapper extras first, in table order, then the element's own).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from lxml import etree

from lienthong.domain.edxml.dates import (
    format_date,
    format_timestamp,
    normalise_date_text,
    normalise_timestamp_text,
)
from lienthong.domain.edxml.model import (
    EDXML_NS,
    NO_EXTRAS,
    XMLDSIG_NS,
    Attachment,
    Business,
    Envelope,
    EnvelopeBody,
    EnvelopeHeader,
    Extras,
    Field,
    Manifest,
    MessageHeader,
    Organization,
    Package,
    SignatureBlock,
    SignatureKind,
    TraceHeaderList,
)
from lienthong.domain.status import StatusCode
from lienthong.domain.vntime import VIETNAM_TZ

# --------------------------------------------------------------------------- samples
#: The repository root (this file is ``tests/domain/edxml/strategies.py``).
REPO_ROOT = Path(__file__).resolve().parents[3]
#: The shared samples sit beside the checkout: ``<repo root>/../shared/edxml-samples``.
SAMPLES_DIR = (REPO_ROOT.parent / "shared" / "edxml-samples").resolve()


def sample_paths() -> list[Path]:
    """Every sample package, sorted; empty if the folder is missing."""
    return sorted(SAMPLES_DIR.glob("*/*.edxml"))


def read_sample(name: str) -> bytes:
    """The bytes of one sample, named ``folder/file.edxml``; fails loudly if it is missing."""
    path = SAMPLES_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"sample {name!r} not found under {SAMPLES_DIR}")
    return path.read_bytes()


# --------------------------------------------------------------------------- text
#: XML 1.0 ``Char``: no C0 controls but tab, newline and carriage return, no surrogates, not
#: U+FFFE/U+FFFF. (C1 controls are allowed: a few stand for them.) Written without a
#: ``filter`` so that hypothesis draws whole strings at once.
xml_chars = st.characters(
    exclude_categories=("Cs", "Cc"),
    include_characters="\t\n\r\x7f\x80\x85\x9f",
    exclude_characters="\ufffe\uffff",
)
#: Any text an XML 1.0 document can carry (attribute values, kept content).
xml_text = st.text(xml_chars, max_size=16)
#: Text as the reader gives leaf values back: without surrounding blanks.
leaf_text = xml_text.map(str.strip)
#: Text with something other than blanks in it (the reader drops blank-only kept text).
solid_text = xml_text.filter(lambda text: text.strip() != "")

#: A standard agency code, ``DDD.DD.DD.LDD``.
agency_codes = st.builds(
    "{:03d}.{:02d}.{:02d}.{}{:02d}".format,
    st.integers(0, 999),
    st.integers(0, 99),
    st.integers(0, 99),
    st.sampled_from("AGH"),
    st.integers(1, 99),
)
organ_ids = st.one_of(agency_codes, st.sampled_from(["28.22.H17", "01.02.G22"]), leaf_text)

_datetimes = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
date_texts = st.one_of(
    st.dates().map(format_date),
    leaf_text.filter(lambda text: normalise_date_text(text) == text),
)
timestamp_texts = st.one_of(
    _datetimes.map(format_timestamp),
    leaf_text.filter(lambda text: normalise_timestamp_text(text) == text),
)
#: ``ContentTransferEncoded``: base64, or any text without ASCII blanks (the reader only
#: removes blanks, and keeps everything else as written).
encoded_texts = st.one_of(
    st.binary(max_size=48).map(lambda data: base64.b64encode(data).decode("ascii")),
    xml_text.filter(lambda text: not any(char in text for char in " \t\r\n")),
)

# --------------------------------------------------------------------------- kept content
FOREIGN_NS = "urn:example:lienthong-test"
#: The prefixes the reader gives namespaces in the canonical form of kept elements.
_PREFIXES = {EDXML_NS: "edXML", FOREIGN_NS: "ns1", XMLDSIG_NS: "ds"}
#: No known element starts with ``Ext``, and no known attribute with ``a``.
_NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_extra_names = st.text(_NAME_CHARS, max_size=6).map("Ext{}".format)
_attribute_names = st.text(_NAME_CHARS + "_", max_size=6).map("a{}".format)


def _tag(namespace: str | None, local: str) -> str:
    return f"{{{namespace}}}{local}" if namespace else local


def _canonical(element: etree._Element) -> str:
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False).decode()


#: Namespaces of generated unknown elements, the empty one included (written back with
#: ``xmlns=""`` so that it does not inherit the edXML default namespace).
EXTRA_NAMESPACES = (EDXML_NS, FOREIGN_NS, "")


def _extra_xml(
    namespace: str,
    name: str,
    attributes: dict[str, str],
    text: str | None,
    children: list[tuple[str, str | None, str | None]],
) -> str:
    nsmap = {_PREFIXES[namespace]: namespace} if namespace else None
    element = etree.Element(_tag(namespace, name), nsmap=nsmap)
    for attribute, value in attributes.items():
        element.set(attribute, value)
    element.text = text
    for child_name, child_text, child_tail in children:
        child = etree.SubElement(element, _tag(namespace, child_name))
        child.text = child_text
        child.tail = child_tail
    return _canonical(element)


_maybe_solid_text = st.none() | solid_text
_extra_attributes = st.dictionaries(_attribute_names, xml_text, max_size=2)
_extra_children = st.lists(
    st.tuples(_extra_names, _maybe_solid_text, _maybe_solid_text), max_size=2
)


def extra_elements(namespaces: tuple[str, ...] = EXTRA_NAMESPACES) -> SearchStrategy[str]:
    """An unknown element with attributes, text and children, in canonical form."""
    return st.builds(
        _extra_xml,
        st.sampled_from(namespaces),
        _extra_names,
        _extra_attributes,
        _maybe_solid_text,
        _extra_children,
    )


_any_extra_element = extra_elements()


def extras_for(wrappers: list[str]) -> SearchStrategy[Extras]:
    """Kept elements and attributes of one element whose present wrappers are ``wrappers``."""
    return _extras_for(tuple(wrappers))


@cache
def _extras_for(wrappers: tuple[str, ...]) -> SearchStrategy[Extras]:
    order = {name: index for index, name in enumerate(wrappers)}
    elements = st.lists(
        st.tuples(st.sampled_from(["", *wrappers]), _any_extra_element), max_size=2
    ).map(lambda items: tuple(sorted(items, key=lambda item: order.get(item[0], len(order)))))
    attributes = _extra_attributes.map(lambda mapping: tuple(mapping.items()))
    return st.one_of(st.just(NO_EXTRAS), st.builds(Extras, elements, attributes))


def _signature(namespace: str, value: bytes) -> SignatureBlock:
    element = etree.Element(_tag(namespace, "Signature"), nsmap={_PREFIXES[namespace]: namespace})
    etree.SubElement(element, _tag(namespace, "SignatureValue")).text = base64.b64encode(
        value
    ).decode("ascii")
    kind = SignatureKind.XMLDSIG if namespace == XMLDSIG_NS else SignatureKind.PLACEHOLDER
    return SignatureBlock(kind, _canonical(element))


#: An envelope ``Signature``: XML-DSig, or a placeholder in the edXML namespace.
signatures = st.builds(
    _signature, st.sampled_from([XMLDSIG_NS, EDXML_NS]), st.binary(min_size=1, max_size=32)
)


# --------------------------------------------------------------------------- model values
def _optional(strategy: SearchStrategy[Any]) -> SearchStrategy[Any]:
    return st.none() | strategy


def _tuples(strategy: SearchStrategy[Any], max_size: int = 2) -> SearchStrategy[Any]:
    return st.lists(strategy, max_size=max_size).map(tuple)


#: Fields whose values look better drawn from a dedicated strategy.
_OVERRIDES: dict[tuple[type, str], SearchStrategy[Any]] = {
    (Organization, "organ_id"): _optional(organ_ids),
    (Business, "business_doc_type"): _optional(st.sampled_from(["0", "1", "2", "3"]) | leaf_text),
    (Manifest, "version"): _optional(st.just("1.0") | xml_text),
}


def _field_strategy(owner: type, spec: Field) -> SearchStrategy[Any]:  # noqa: PLR0911
    override = _OVERRIDES.get((owner, spec.attr))
    if override is not None:
        return override
    match spec.kind:
        case "text":
            return _optional(leaf_text)
        case "date":
            return _optional(date_texts)
        case "timestamp":
            return _optional(timestamp_texts)
        case "base64":
            return _optional(encoded_texts)
        case "attr":
            return _optional(xml_text)
        case "signature":
            return _optional(signatures)
        case "child":
            return _optional(instances(spec.cls))  # type: ignore[arg-type]
        case "children":
            return _tuples(instances(spec.cls))  # type: ignore[arg-type]
        case "texts":
            return _optional(_tuples(leaf_text, max_size=3))
        case "wrapped":
            return _optional(_tuples(instances(spec.cls)))  # type: ignore[arg-type]
    raise AssertionError(spec.kind)


def instances(
    cls: type,
    *,
    only: frozenset[str] | None = None,
    fixed: dict[str, SearchStrategy[Any]] | None = None,
) -> SearchStrategy[Any]:
    """Values of a model class, every field of its table drawn (``only`` these, if given)."""
    if only is None and not fixed:
        return _all_fields(cls)
    return _instances(cls, only, fixed or {})


@cache
def _all_fields(cls: type) -> SearchStrategy[Any]:
    return _instances(cls, None, {})


def _instances(
    cls: type, only: frozenset[str] | None, fixed: dict[str, SearchStrategy[Any]]
) -> SearchStrategy[Any]:
    table: tuple[Field, ...] = cls.__edxml__  # type: ignore[attr-defined]
    fields = {
        spec.attr: fixed[spec.attr] if spec.attr in fixed else _field_strategy(cls, spec)
        for spec in table
        if only is None or spec.attr in only or spec.attr in fixed
    }
    wrapper_names = {spec.attr: spec.element for spec in table if spec.kind in ("texts", "wrapped")}

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        values = {attr: draw(strategy) for attr, strategy in fields.items()}
        wrappers = [
            element for attr, element in wrapper_names.items() if values.get(attr) is not None
        ]
        values["extras"] = draw(extras_for(wrappers))
        return cls(**values)

    return build()


DOCUMENT_FIELDS = frozenset(
    {
        "from_", "to", "document_id", "code", "promulgation_info", "document_type", "subject",
        "content", "signer_info", "due_date", "other_info", "response_for", "steering_type",
        "to_places",
    }
)  # fmt: skip
STATUS_FIELDS = frozenset(
    {"from_", "response_for", "staff_info", "status_code", "description", "timestamp"}
)

document_headers = instances(
    MessageHeader,
    only=DOCUMENT_FIELDS,
    fixed={
        "from_": instances(Organization),
        "to": st.lists(instances(Organization), min_size=1, max_size=3).map(tuple),
    },
)
status_headers = instances(
    MessageHeader,
    only=STATUS_FIELDS,
    fixed={
        "from_": instances(Organization),
        "status_code": st.sampled_from([code.value for code in StatusCode]),
        "timestamp": st.datetimes(
            min_value=datetime(2000, 1, 1),
            max_value=datetime(2100, 1, 1),
            timezones=st.just(VIETNAM_TZ),
        ).map(format_timestamp),
    },
)


@st.composite
def document_packages(draw: st.DrawFn) -> Package:
    """A document package: header, trace list, signature, manifest, attachments."""
    header = EnvelopeHeader(
        message_header=draw(document_headers),
        trace_header_list=draw(_optional(instances(TraceHeaderList))),
        signature=draw(_optional(signatures)),
        extras=draw(extras_for([])),
    )
    body = draw(_optional(instances(EnvelopeBody, fixed={"manifest": instances(Manifest)})))
    attachments = draw(_optional(_tuples(instances(Attachment))))
    return Package(
        envelope=Envelope(header=header, body=body, extras=draw(extras_for([]))),
        attachments=attachments,
        extras=draw(extras_for(["AttachmentEncoded"] if attachments is not None else [])),
    )


@st.composite
def status_packages(draw: st.DrawFn) -> Package:
    """A status package: ``MessageHeader`` only."""
    header = EnvelopeHeader(message_header=draw(status_headers), extras=draw(extras_for([])))
    return Package(
        envelope=Envelope(header=header, extras=draw(extras_for([]))),
        extras=draw(extras_for([])),
    )


packages = st.one_of(document_packages(), status_packages())
