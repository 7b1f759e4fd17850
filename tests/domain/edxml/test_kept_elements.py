"""Elements kept verbatim (the envelope ``Signature``, unknown extensions) are stored as the
exclusive C14N of a normalised copy (``parser._canonical``). The usual element takes a fast
path (a C-level copy, ``_plain_copy``) instead of the element-by-element rebuild; both must
give the same string, for every element of the real samples, of our own signed packages and
of hand-written awkward cases (default namespaces, foreign prefixes, namespaced attributes,
whitespace, mixed content)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree

from lienthong.domain.edxml import parser
from lienthong.domain.edxml.model import EDXML_NS, XMLDSIG_NS

from .strategies import sample_paths

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def rebuilt(element: etree._Element) -> str:
    clone = parser._rebuild(element, {})
    return etree.tostring(clone, method="c14n", exclusive=True, with_comments=False).decode()


def _root(data: bytes) -> etree._Element:
    return parser._parse_root(data, repair=True, notes=[])


def _every_element(root: etree._Element) -> list[etree._Element]:
    return [e for e in root.iter() if isinstance(e.tag, str)]


@pytest.mark.parametrize("path", sample_paths(), ids=lambda p: p.name)
def test_fast_path_equals_the_rebuild_on_the_samples(path: object) -> None:
    root = _root(path.read_bytes())  # type: ignore[attr-defined]
    for element in _every_element(root):
        assert parser._canonical(element) == rebuilt(element), root.getroottree().getpath(element)


def test_fast_path_is_taken_for_a_signature() -> None:
    from lienthong.domain.edxml import Organization, serialize_package
    from lienthong.domain.edxml.builder import DocumentDraft, FileToAttach, build_document
    from lienthong.pki.ca import CertificateAuthority, MemoryRegistry, create_root
    from lienthong.pki.keys import generate_key
    from lienthong.pki.profiles import OrganizationSubject
    from lienthong.signing.xmldsig import sign_envelope

    root_key = generate_key()
    ca_cert = create_root("root", root_key, common_name="Root kept", now=NOW)
    authority = CertificateAuthority("root", ca_cert, root_key, MemoryRegistry())
    key = generate_key()
    leaf = authority.issue_organization(
        key.public_key(), OrganizationSubject("000.00.12.H41", "Sở TTTT Nghệ An"), now=NOW
    ).certificate
    draft = DocumentDraft(
        sender=Organization(organ_id="000.00.12.H41", organ_name="Sở TTTT Nghệ An"),
        recipients=[Organization(organ_id="000.00.00.G22", organ_name="VPCP")],
        code_number="1", code_notation="STTTT", promulgation_date=NOW.date(),
        place="Nghệ An", subject="Giữ nguyên chữ ký",
        files=[FileToAttach("a.pdf", b"%PDF-1.4\n" + bytes(range(256)))],
    )  # fmt: skip
    signed = sign_envelope(serialize_package(build_document(draft, now=NOW)), key, leaf)
    root = _root(signed)
    signature = next(root.iter(f"{{{XMLDSIG_NS}}}Signature"))
    assert parser._plain_copy(signature) is not None
    assert parser._canonical(signature) == rebuilt(signature)
    for element in _every_element(root):
        assert parser._canonical(element) == rebuilt(element)


AWKWARD = [
    # The signature in the default namespace: rebuilt with the ds prefix.
    f'<Signature xmlns="{XMLDSIG_NS}"><SignedInfo> <Reference URI="#a"/> </SignedInfo></Signature>',
    # A foreign prefix for a known namespace, and an unknown namespace.
    f'<x:Signature xmlns:x="{XMLDSIG_NS}"><x:SignatureValue>AA==</x:SignatureValue></x:Signature>',
    '<Ext xmlns="urn:other"><a:b xmlns:a="urn:a">t</a:b></Ext>',
    # An unknown namespace as the default one (rebuilt as ns1), alone in its subtree.
    '<Ext xmlns="urn:other">t<Inner>u</Inner></Ext>',
    # Namespaced and xml: attributes.
    f'<edXML:Ext xmlns:edXML="{EDXML_NS}" xmlns:q="urn:q" q:attr="1" xml:lang="vi">v</edXML:Ext>',
    # No namespace inside a default-namespaced parent, whitespace and mixed content.
    (
        f'<edXML:Ext xmlns:edXML="{EDXML_NS}">\n  <Inner xmlns="">  a <b>c</b> d  </Inner>\n'
        "  <edXML:Empty/>\n</edXML:Ext>"
    ),
    (
        f'<ds:Signature xmlns:ds="{XMLDSIG_NS}" xmlns:unused="urn:u" Id="s">\n'
        '  <ds:Object Id="o">\n    <Data>1</Data>\n  </ds:Object>\n</ds:Signature>'
    ),
]


@pytest.mark.parametrize("xml", AWKWARD)
def test_fast_path_equals_the_rebuild_on_awkward_elements(xml: str) -> None:
    holder = (
        f'<edXML xmlns="{EDXML_NS}" xmlns:edXML="{EDXML_NS}"><edXMLEnvelope>'
        f"{xml}</edXMLEnvelope></edXML>"
    )
    root = _root(holder.encode())
    kept = root[0][0]
    for element in _every_element(kept):
        assert parser._canonical(element) == rebuilt(element), xml
