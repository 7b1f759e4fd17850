"""The envelope signature of an edXML package (chữ ký số gói tin): XML-DSig, signed and checked.

What is signed [ours, SPEC §2]. The ``Signature`` sits inside ``edXMLHeader`` and every hub
hop appends a ``TraceHeader`` to ``TraceHeaderList``, so a signature over the whole document
would break at the first hop. The XML-DSig answer would be an XPath (Filter 2.0) transform
that leaves later hops out, but signxml implements neither XPath transform (it *skips*
transforms it does not know, so it would check a different digest than xmlsec1 computes).
We therefore sign **references to the parts** that exist at signing time, each an element
given an ``Id`` attribute:

- every child of ``edXML``, ``edXMLEnvelope`` and ``edXMLHeader`` — ``MessageHeader`` (or
  ``Status``), ``edXMLBody`` (the manifest), ``AttachmentEncoded`` (every file), unknown
  extensions — except the ``Signature`` itself and the containers whose children are signed
  one by one (``edXMLEnvelope``, ``edXMLHeader``, ``TraceHeaderList``);
- every child of ``TraceHeaderList`` present at signing: the ``Bussiness`` block (revoke,
  update, replace) and the sender's own ``TraceHeader``.

A hop appended later is outside every reference, so the signature stays valid; the verifier
lists such hops (``verify.hops_after_signing``) and refuses anything else that no reference
covers (``verify.uncovered_content``), so nothing unsigned can ride along unnoticed. Each
reference must resolve to exactly one element, in one of the places above ("see what is
signed": a reference to a copy moved elsewhere is refused), and only the enveloped-signature
and exclusive-C14N transforms are accepted.

Algorithms: RSA-SHA256 (ECDSA-SHA256 for EC keys), SHA-256 digests, exclusive C14N 1.0,
``X509Data`` with the signer's certificate first and then its chain. ``xmlsec1 --verify
--id-attr:Id …`` accepts the result (tested).

Verification works on the original bytes, parsed once with DTDs, entities and the network
off; it never re-serialises the package. The bytes are first read by
:func:`lienthong.domain.edxml.parse_package`, which enforces the size, depth and element
limits and refuses DTDs before the tree is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree
from signxml import (  # type: ignore[attr-defined]
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml.algorithms import SignatureConstructionMethod
from signxml.exceptions import InvalidDigest, InvalidInput, InvalidSignature, SignXMLException

from lienthong.domain.edxml import parse_package
from lienthong.domain.edxml.limits import DEFAULT_LIMITS, Limits
from lienthong.domain.edxml.model import EDXML_NS, XMLDSIG_NS, Package, SignatureKind
from lienthong.domain.errors import EdxmlError, Severity, SigningError
from lienthong.pki.keys import SigningKey
from lienthong.signing.report import Finding, SubIndication

#: The attribute that names a signed part (what ``xmlsec1 --id-attr:Id`` is told).
ID_ATTRIBUTE = "Id"
#: Prefix of the ids we give to signed parts.
ID_PREFIX = "lt-"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
#: The only transforms a reference may carry (signxml ignores any other, xmlsec1 would not).
ACCEPTED_TRANSFORMS = frozenset({ENVELOPED, EXC_C14N})
#: Elements whose children are signed one by one.
CONTAINERS = ("edXMLEnvelope", "edXMLHeader", "TraceHeaderList", "AttachmentEncoded")
#: Where signed parts may sit: the local names of their possible parents.
PART_PARENTS = ("edXML", *CONTAINERS)
_DS = f"{{{XMLDSIG_NS}}}"


def _local(element: etree._Element) -> str:
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def _is_ours(element: etree._Element, local: str) -> bool:
    tag = element.tag
    return isinstance(tag, str) and tag in (f"{{{EDXML_NS}}}{local}", local)


def _is_signature(element: etree._Element) -> bool:
    tag = element.tag
    return isinstance(tag, str) and tag.rpartition("}")[2] == "Signature"


def _parser() -> etree.XMLParser:
    # Hardened like the domain parser (no DTD, no entities, no network), but keeping comments
    # and processing instructions: the signature is computed and checked on the bytes given.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=True,
        remove_comments=False,
        remove_pis=False,
        remove_blank_text=False,
    )


def _parse_tree(data: bytes) -> etree._Element:
    root = etree.fromstring(data, _parser())
    docinfo = root.getroottree().docinfo
    if getattr(docinfo, "doctype", "") or docinfo.internalDTD is not None:
        raise EdxmlError("edxml.unsafe_xml", "DOCTYPE")
    return root


def _child(parent: etree._Element | None, local: str) -> etree._Element | None:
    if parent is None:
        return None
    for child in parent:
        if _is_ours(child, local):
            return child
    return None


@dataclass(slots=True)
class _Layout:
    """Where the parts of a package are in its tree."""

    root: etree._Element
    envelope: etree._Element | None
    header: etree._Element | None
    trace_list: etree._Element | None
    attachments: etree._Element | None

    @classmethod
    def of(cls, root: etree._Element) -> _Layout:
        envelope = _child(root, "edXMLEnvelope")
        header = _child(envelope, "edXMLHeader")
        trace_list = _child(header, "TraceHeaderList")
        return cls(root, envelope, header, trace_list, _child(root, "AttachmentEncoded"))

    def containers(self) -> list[etree._Element]:
        """The elements whose children are the parts (root first)."""
        candidates = (self.root, self.envelope, self.header, self.trace_list, self.attachments)
        return [e for e in candidates if e is not None]

    def key(self, element: etree._Element) -> str:
        """A stable name for an element of this tree (lxml proxies have no stable ``id``)."""
        return str(self.root.getroottree().getpath(element))

    def parts(self) -> list[etree._Element]:
        """Every part: each element child of a container that is neither a container on
        the path nor a signature (the ``Signature`` is in ``edXMLHeader``)."""
        containers = self.containers()
        skip = {self.key(e) for e in containers}
        found = []
        for container in containers:
            for child in container:
                if not isinstance(child.tag, str) or self.key(child) in skip:
                    continue
                if container is self.header and _is_signature(child):
                    continue
                found.append(child)
        return found


# -- signing -----------------------------------------------------------------------------------
class _KeyAdapter:
    """Lets signxml sign with a key whose private half stays in a token (PKCS#11)."""

    def __init__(self, key: SigningKey) -> None:
        self._key = key
        public = key.public_key()
        self.key_size = getattr(public, "key_size", 256)

    def sign(self, data: bytes, *args: Any, **kwargs: Any) -> bytes:
        algorithm = kwargs.get("algorithm")
        signature_algorithm = kwargs.get("signature_algorithm")
        if isinstance(signature_algorithm, ec.ECDSA):
            algorithm = signature_algorithm.algorithm
        if not isinstance(algorithm, hashes.HashAlgorithm):
            raise SigningError("signing.failed", "unsupported signature call from signxml")
        return self._key.sign(data, algorithm)


def sign_envelope(
    data: bytes,
    key: SigningKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> bytes:
    """Sign an edXML package: return its bytes with an XML-DSig ``Signature`` in the header.

    A placeholder or earlier ``Signature`` in ``edXMLHeader`` is replaced. The package must be
    well-formed (no repair), and its parts get ``Id`` attributes (``lt-MessageHeader``, …).
    Raises :class:`SigningError` (``signing.failed``, ``signing.certificate_mismatch``) or the
    :class:`EdxmlError` that reading the package gives.
    """
    parse_package(data, limits=limits, repair=False)
    if key.public_key() != certificate.public_key():
        raise SigningError("signing.certificate_mismatch")
    root = _parse_tree(data)
    layout = _Layout.of(root)
    header = layout.header
    if header is None:
        raise SigningError("signing.failed", "the package has no edXMLHeader")
    for old in [c for c in header if _is_signature(c)]:
        header.remove(old)
    references = _name_parts(layout)
    placeholder = etree.SubElement(header, _DS + "Signature", nsmap={"ds": XMLDSIG_NS})
    placeholder.set(ID_ATTRIBUTE, "placeholder")
    _indent_last(header)
    public = certificate.public_key()
    method = (
        SignatureMethod.ECDSA_SHA256
        if isinstance(public, ec.EllipticCurvePublicKey)
        else SignatureMethod.RSA_SHA256
    )
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=method,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    private = key.private_key
    signing_key: Any = private if private is not None else _KeyAdapter(key)
    try:
        signed = signer.sign(
            root,
            key=signing_key,
            cert=[certificate, *chain],
            reference_uri=[f"#{ident}" for ident in references],
            id_attribute=ID_ATTRIBUTE,
        )
    except (SignXMLException, ValueError) as exc:
        raise SigningError("signing.failed", f"{type(exc).__name__}: {exc}") from None
    body: bytes = etree.tostring(signed.getroottree(), encoding="UTF-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def _name_parts(layout: _Layout) -> list[str]:
    """Give every part an ``Id`` (``lt-`` + its name, numbered when repeated)."""
    taken: dict[str, int] = {}
    idents = []
    for part in layout.parts():
        local = _local(part)
        taken[local] = taken.get(local, 0) + 1
        ident = f"{ID_PREFIX}{local}" + (f"-{taken[local]}" if taken[local] > 1 else "")
        part.set(ID_ATTRIBUTE, ident)
        idents.append(ident)
    clashes = [
        e for e in layout.root.iter() if e.get(ID_ATTRIBUTE) in idents and e not in layout.parts()
    ]
    if clashes:
        raise SigningError("signing.failed", f"Id {clashes[0].get(ID_ATTRIBUTE)!r} already used")
    return idents


def _indent_last(parent: etree._Element) -> None:
    """Give the appended signature the indentation of its siblings (cosmetic only: text
    directly inside ``edXMLHeader`` is not signed)."""
    children = list(parent)
    if len(children) >= 2:
        previous = children[-2]
        children[-1].tail = previous.tail
        previous.tail = parent.text


# -- verification ------------------------------------------------------------------------------
@dataclass(slots=True)
class EnvelopeCheck:
    """What the XML side of the envelope check found (certificates are checked by the caller).

    ``signer`` and ``chain`` are the certificates in ``X509Data``; ``sub_indication`` is set
    when the signature itself failed (format, digest, value).
    """

    package: Package | None = None
    signer: x509.Certificate | None = None
    chain: list[x509.Certificate] = field(default_factory=list)
    intact: bool = False
    valid: bool = False
    covered: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    sub_indication: SubIndication | None = None
    claimed_time: datetime | None = None
    sender: str | None = None

    def fail(self, code: str, sub: SubIndication, detail: str = "") -> EnvelopeCheck:
        """Record a failure of the signature itself and return self."""
        self.findings.append(Finding(code, Severity.ERROR, detail, sub))
        if self.sub_indication is None:
            self.sub_indication = sub
        return self


_ACCEPTED_SIGNATURE_METHODS = frozenset(
    {
        SignatureMethod.RSA_SHA256,
        SignatureMethod.RSA_SHA384,
        SignatureMethod.RSA_SHA512,
        SignatureMethod.ECDSA_SHA256,
        SignatureMethod.ECDSA_SHA384,
        SignatureMethod.ECDSA_SHA512,
    }
)
_ACCEPTED_DIGESTS = frozenset(
    {DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512}
)


def check_envelope(  # noqa: PLR0911 - one early return per refusal
    data: bytes, *, limits: Limits = DEFAULT_LIMITS
) -> EnvelopeCheck:
    """Check the envelope signature of a package's bytes: format, what it covers, digests
    and signature value. Never raises for bad input: every problem is a finding."""
    check = EnvelopeCheck()
    try:
        package = parse_package(data, limits=limits)
    except EdxmlError as exc:
        return check.fail("verify.bad_file", SubIndication.FORMAT_FAILURE, exc.describe())
    check.package = package
    check.sender = package.header.from_.organ_id if package.header.from_ else None
    signature = package.signature
    if signature is None:
        return check.fail("verify.missing_signature", SubIndication.FORMAT_FAILURE)
    if signature.kind is SignatureKind.PLACEHOLDER:
        return check.fail("verify.placeholder_signature", SubIndication.FORMAT_FAILURE)
    try:
        root = _parse_tree(data)
    except (etree.XMLSyntaxError, EdxmlError) as exc:
        # parse_package repaired what a strict parser refuses: such bytes were not signed.
        return check.fail("verify.bad_signature_format", SubIndication.FORMAT_FAILURE, str(exc))
    layout = _Layout.of(root)
    signatures = list(root.iter(_DS + "Signature"))
    placed = [s for s in signatures if s.getparent() is layout.header]
    if len(signatures) != 1 or len(placed) != 1:
        return check.fail(
            "verify.bad_signature_format",
            SubIndication.FORMAT_FAILURE,
            f"{len(signatures)} ds:Signature elements, {len(placed)} in edXMLHeader (need one)",
        )
    sig = placed[0]
    certificates = _certificates(sig)
    if not certificates:
        return check.fail(
            "verify.no_signing_certificate", SubIndication.NO_SIGNING_CERTIFICATE_FOUND
        )
    check.signer, check.chain = certificates[0], certificates[1:]
    referenced = _check_references(sig, layout, check)
    if check.sub_indication is not None:
        return check
    _check_coverage(layout, referenced, check)
    check.claimed_time = _claimed_time(package, referenced, layout)
    _verify_crypto(root, check)
    return check


def _certificates(sig: etree._Element) -> list[x509.Certificate]:
    found = []
    for node in sig.iterfind(f"{_DS}KeyInfo/{_DS}X509Data/{_DS}X509Certificate"):
        text = "".join((node.text or "").split())
        try:
            found.append(x509.load_der_x509_certificate(_b64(text)))
        except ValueError:
            continue
    return found


def _b64(text: str) -> bytes:
    import base64
    import binascii

    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None


def _check_references(sig: etree._Element, layout: _Layout, check: EnvelopeCheck) -> dict[str, str]:
    """Each reference: ``#id`` of exactly one part; only accepted transforms.

    Returns the referenced parts (by :meth:`_Layout.key`) and their local names.
    """
    signed_info = sig.find(f"{_DS}SignedInfo")
    if signed_info is None:
        check.fail("verify.bad_signature_format", SubIndication.FORMAT_FAILURE, "no SignedInfo")
        return {}
    by_id: dict[str, list[etree._Element]] = {}
    for element in layout.root.iter():
        if isinstance(element.tag, str) and (value := element.get(ID_ATTRIBUTE)) is not None:
            by_id.setdefault(value, []).append(element)
    parts = {layout.key(p) for p in layout.parts()}
    referenced: dict[str, str] = {}
    references = signed_info.findall(f"{_DS}Reference")
    if not references:
        check.fail("verify.bad_signature_format", SubIndication.FORMAT_FAILURE, "no Reference")
    for reference in references:
        uri = reference.get("URI") or ""
        for transform in reference.iterfind(f"{_DS}Transforms/{_DS}Transform"):
            if transform.get("Algorithm") not in ACCEPTED_TRANSFORMS:
                check.fail(
                    "verify.bad_signature_format",
                    SubIndication.FORMAT_FAILURE,
                    f"transform {transform.get('Algorithm')} not accepted",
                )
        if not uri.startswith("#") or len(uri) < 2:
            check.fail(
                "verify.bad_signature_format",
                SubIndication.FORMAT_FAILURE,
                f"reference URI {uri!r}: only #id references to parts are accepted",
            )
            continue
        targets = by_id.get(uri[1:], [])
        if not targets:
            check.fail("verify.signed_data_not_found", SubIndication.SIGNED_DATA_NOT_FOUND, uri)
            continue
        target = layout.key(targets[0])
        if len(targets) > 1 or target not in parts or target in referenced:
            check.fail(
                "verify.bad_signature_format",
                SubIndication.FORMAT_FAILURE,
                f"{uri} names {len(targets)} element(s), not one part of the package",
            )
            continue
        referenced[target] = _local(targets[0])
    return referenced


def _check_coverage(layout: _Layout, referenced: dict[str, str], check: EnvelopeCheck) -> None:
    later_hops = []
    uncovered = []
    for part in layout.parts():
        local = _local(part)
        if layout.key(part) in referenced:
            check.covered.append(local)
        elif part.getparent() is layout.trace_list and _is_ours(part, "TraceHeader"):
            organ = _child(part, "OrganId")
            later_hops.append((organ.text or "").strip() if organ is not None else "?")
        else:
            uncovered.append(local)
    for container in layout.containers():
        attributes = [str(name) for name in container.attrib if str(name) != ID_ATTRIBUTE]
        if attributes:
            uncovered.append(f"{_local(container)}/@{','.join(attributes)}")
        texts = [container.text, *(child.tail for child in container)]
        if any(t and t.strip() for t in texts):
            uncovered.append(f"{_local(container)}/text()")
    if uncovered:
        check.findings.append(
            Finding(
                "verify.uncovered_content",
                Severity.ERROR,
                ", ".join(uncovered),
                SubIndication.SIG_CONSTRAINTS_FAILURE,
            )
        )
    if "MessageHeader" not in check.covered and "Status" not in check.covered:
        check.findings.append(
            Finding(
                "verify.uncovered_content",
                Severity.ERROR,
                "MessageHeader is not signed",
                SubIndication.SIG_CONSTRAINTS_FAILURE,
            )
        )
    if later_hops:
        check.findings.append(
            Finding("verify.hops_after_signing", Severity.WARNING, ", ".join(later_hops))
        )


def _claimed_time(package: Package, referenced: dict[str, str], layout: _Layout) -> datetime | None:
    """The signed ``TraceHeader``'s time: when the sender says it sent (and signed) the package.

    XML-DSig has no signing-time property; the sender's own hop is signed, so its time is the
    claimed signing time [ours]. ``None`` if no hop is signed (status packages).
    """
    trace_list = layout.trace_list
    if trace_list is None:
        return None
    signed_hops = [
        index
        for index, hop in enumerate(c for c in trace_list if _is_ours(c, "TraceHeader"))
        if layout.key(hop) in referenced
    ]
    hops = package.traces
    if not signed_hops or signed_hops[-1] >= len(hops):
        return None
    return hops[signed_hops[-1]].at


def _verify_crypto(root: etree._Element, check: EnvelopeCheck) -> None:
    """Digests and signature value, by signxml, with the certificate from ``X509Data``.

    Only the cryptography is asked of signxml: the certificate's validity, chain and status
    are checked by the caller at the right time (pyhanko-certvalidator), so signxml is told
    to look at the certificate as of its first day, which it never refuses.
    """
    signer = check.signer
    assert signer is not None
    config = SignatureConfiguration(
        require_x509=True,
        location="./*/*/",
        expect_references=len(list(root.iter(_DS + "Reference"))),
        signature_methods=_ACCEPTED_SIGNATURE_METHODS,
        digest_algorithms=_ACCEPTED_DIGESTS,
        verification_time=signer.not_valid_before_utc,
    )
    try:
        XMLVerifier().verify(
            root,
            x509_cert=signer,
            id_attribute=ID_ATTRIBUTE,
            expect_config=config,
            validate_schema=True,
        )
    except InvalidDigest as exc:
        # signxml checks the value over SignedInfo first: it held, a digest did not.
        check.valid = True
        check.fail("verify.hash_failure", SubIndication.HASH_FAILURE, str(exc))
        return
    except InvalidSignature as exc:
        check.fail("verify.sig_crypto_failure", SubIndication.SIG_CRYPTO_FAILURE, str(exc))
        return
    except (InvalidInput, SignXMLException, ValueError, etree.LxmlError) as exc:
        check.fail("verify.bad_signature_format", SubIndication.FORMAT_FAILURE, str(exc))
        return
    check.intact = check.valid = True


__all__ = ["ID_ATTRIBUTE", "EnvelopeCheck", "check_envelope", "sign_envelope"]
