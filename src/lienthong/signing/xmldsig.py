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

import hmac
import importlib.resources
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lxml import etree
from signxml import (  # type: ignore[attr-defined]
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureMethod,
    XMLSigner,
)
from signxml.algorithms import SignatureConstructionMethod
from signxml.exceptions import SignXMLException

from lienthong.domain.edxml import parse_package
from lienthong.domain.edxml.limits import DEFAULT_LIMITS, Limits
from lienthong.domain.edxml.model import EDXML_NS, XMLDSIG_NS, Package, SignatureKind
from lienthong.domain.edxml.parser import parse_package_tree
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
XMLDSIG11_NS = "http://www.w3.org/2009/xmldsig11#"


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
        package, tree = parse_package_tree(data, limits=limits)
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
        # The domain parser's tree when it holds exactly the bytes (no comment, PI or repair).
        root = tree if tree is not None else _parse_tree(data)
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
    targets: dict[str, etree._Element] = {}
    referenced = _check_references(sig, layout, check, targets)
    if check.sub_indication is not None:
        return check
    _check_coverage(layout, referenced, check)
    check.claimed_time = _claimed_time(package, referenced, layout)
    _verify_crypto(sig, targets, check)
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


def _check_references(
    sig: etree._Element,
    layout: _Layout,
    check: EnvelopeCheck,
    found: dict[str, etree._Element],
) -> dict[str, str]:
    """Each reference: ``#id`` of exactly one part; only accepted transforms.

    Returns the referenced parts (by :meth:`_Layout.key`) and their local names, and fills
    ``found`` with the element each reference URI names.
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
        found[uri] = targets[0]
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


class _FormatError(ValueError):
    """The ``Signature`` is not in a form this verifier accepts."""


_SCHEMAS = threading.local()


def _schema() -> etree.XMLSchema:
    """The XML-DSig 1.1 schema that ships with signxml, one copy per thread (an lxml
    validator is not to be shared between threads)."""
    schema: etree.XMLSchema | None = getattr(_SCHEMAS, "schema", None)
    if schema is None:
        source = importlib.resources.files("signxml.schemas").joinpath("xmldsig1-schema.xsd")
        with importlib.resources.as_file(source) as path:
            schema = etree.XMLSchema(etree.parse(str(path)))
        _SCHEMAS.schema = schema
    return schema


#: Canonicalisation methods for ``SignedInfo``: (exclusive, with comments). C14N 1.1 is
#: written as 1.0, as signxml does (they differ only in ``xml:`` attributes inherited by a
#: document subset, which lxml's element C14N does not carry in either case).
_C14N_METHODS = {
    CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0.value: (True, False),
    CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0_WITH_COMMENTS.value: (True, True),
    CanonicalizationMethod.CANONICAL_XML_1_0.value: (False, False),
    CanonicalizationMethod.CANONICAL_XML_1_0_WITH_COMMENTS.value: (False, True),
    CanonicalizationMethod.CANONICAL_XML_1_1.value: (False, False),
    CanonicalizationMethod.CANONICAL_XML_1_1_WITH_COMMENTS.value: (False, True),
}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}


def _required(parent: etree._Element, local: str) -> etree._Element:
    found = parent.find(_DS + local)
    if found is None:
        raise _FormatError(f"no {local} in {_local(parent)}")
    return found


def _text(element: etree._Element) -> str:
    return "".join((element.text or "").split())


def _hash_of(name: str) -> hashes.HashAlgorithm:
    """``SHA256`` from ``RSA_SHA256``, ``ECDSA_SHA256`` or ``SHA256``."""
    return _HASHES[name.rpartition("_")[2]]()


def _algorithm(enum: Any, element: etree._Element, accepted: frozenset[Any]) -> Any:
    uri = element.get("Algorithm") or ""
    try:
        algorithm = enum(uri)
    except ValueError:
        raise _FormatError(f"unknown algorithm {uri!r}") from None
    if algorithm not in accepted:
        raise _FormatError(f"algorithm {uri} not accepted")
    return algorithm


def _prefixes(method: etree._Element) -> list[str] | None:
    found = method.find(f"{{{EXC_C14N}}}InclusiveNamespaces")
    if found is None:
        return None
    return (found.get("PrefixList") or "").split()


def _canonical(element: etree._Element, algorithm: str | None, method: etree._Element) -> bytes:
    """``element`` in the C14N form ``algorithm`` names (``method`` may list prefixes)."""
    if algorithm not in _C14N_METHODS:
        raise _FormatError(f"canonicalisation {algorithm!r} not accepted")
    exclusive, comments = _C14N_METHODS[algorithm]
    return bytes(
        etree.tostring(
            element,
            method="c14n",
            exclusive=exclusive,
            with_comments=comments,
            inclusive_ns_prefixes=_prefixes(method) if exclusive else None,
        )
    )


def _transformed(target: etree._Element, reference: etree._Element) -> bytes:
    """The octets a reference's digest is computed over.

    The enveloped-signature transform leaves a part unchanged (no part holds the signature);
    exclusive C14N is applied if named, otherwise the node-set becomes octets by inclusive
    C14N 1.0 without comments, as XML-DSig prescribes for a same-document reference.
    """
    transforms = list(reference.iterfind(f"{_DS}Transforms/{_DS}Transform"))
    names = [t.get("Algorithm") for t in transforms]
    if any(name not in ACCEPTED_TRANSFORMS for name in names):
        raise _FormatError(f"transforms {names} not accepted")
    c14n = [t for t in transforms if t.get("Algorithm") == EXC_C14N]
    if len(c14n) > 1:
        raise _FormatError("more than one canonicalisation transform")
    if c14n:
        return _canonical(target, EXC_C14N, c14n[0])
    return _canonical(target, CanonicalizationMethod.CANONICAL_XML_1_0.value, target)


def _int(element: etree._Element, local: str) -> int:
    return int.from_bytes(_b64(_text(_required(element, local))), "big")


def _match_key_values(sig: etree._Element, signer: x509.Certificate) -> None:
    """A ``KeyValue`` or ``DEREncodedKeyValue`` beside the certificate must be its key."""
    public = signer.public_key()
    key_info = sig.find(f"{_DS}KeyInfo")
    if key_info is None:
        return
    der = key_info.find(f"{{{XMLDSIG11_NS}}}DEREncodedKeyValue")
    if der is not None:
        spki = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        if _b64(_text(der)) != spki:
            raise _FormatError("DEREncodedKeyValue is not the certificate's key")
    key_value = key_info.find(f"{_DS}KeyValue")
    if key_value is None:
        return
    rsa_value = key_value.find(f"{_DS}RSAKeyValue")
    ec_value = key_value.find(f"{{{XMLDSIG11_NS}}}ECKeyValue")
    if rsa_value is not None and isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        if (_int(rsa_value, "Modulus"), _int(rsa_value, "Exponent")) == (numbers.n, numbers.e):
            return
    elif ec_value is not None and isinstance(public, ec.EllipticCurvePublicKey):
        point = ec_value.find(f"{{{XMLDSIG11_NS}}}PublicKey")
        encoded = public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        if point is not None and _b64(_text(point)) == encoded:
            return
    raise _FormatError("KeyValue is not the certificate's key")


def _verify_value(public: Any, method: SignatureMethod, value: bytes, data: bytes) -> None:
    """Raise :class:`InvalidSignature` unless ``value`` signs ``data`` with ``public``."""
    digest = _hash_of(method.name)
    if method.name.startswith("RSA_") and isinstance(public, rsa.RSAPublicKey):
        public.verify(value, data, padding.PKCS1v15(), digest)
    elif method.name.startswith("ECDSA_") and isinstance(public, ec.EllipticCurvePublicKey):
        # XML-DSig writes an ECDSA signature as r || s, each as long as the curve's order.
        size = (public.curve.key_size + 7) // 8
        if len(value) != 2 * size:
            raise InvalidSignature(f"expected a {2 * size}-byte SignatureValue, got {len(value)}")
        r, s = int.from_bytes(value[:size], "big"), int.from_bytes(value[size:], "big")
        public.verify(encode_dss_signature(r, s), data, ec.ECDSA(digest))
    else:
        raise InvalidSignature(f"{method.name} does not fit a {type(public).__name__}")


def _verify_crypto(
    sig: etree._Element, targets: dict[str, etree._Element], check: EnvelopeCheck
) -> None:
    """Signature value over ``SignedInfo``, then every reference's digest.

    signxml copies the whole document once per reference (18 parses and 12 serialisations
    of a 143 kB package) to be safe with arbitrary documents. Here the parts are already
    resolved to exactly one element each (:func:`_check_references`) and none of them holds
    the signature (it is a child of ``edXMLHeader``, a container), so the enveloped-signature
    transform changes nothing and each part is canonicalised once, in place: lxml writes an
    element in C14N as the root of a copy that carries its ancestors' namespace declarations,
    which is what signxml's serialise-and-reparse gives. The ``Signature`` is validated
    against the XML-DSig schema, the references are read from the canonical ``SignedInfo``
    that the signature value covers (comments dropped), and every algorithm must be on the
    accepted lists. A differential test keeps this in step with signxml's full verifier.

    Only the cryptography is checked here: the certificate's validity, chain and status
    are checked by the caller at the right time (pyhanko-certvalidator).
    """
    signer = check.signer
    assert signer is not None
    try:
        _schema().assertValid(sig)
        signed_info = _required(sig, "SignedInfo")
        c14n_method = _required(signed_info, "CanonicalizationMethod")
        signed_info_c14n = _canonical(signed_info, c14n_method.get("Algorithm"), c14n_method)
        method = _algorithm(
            SignatureMethod, _required(signed_info, "SignatureMethod"), _ACCEPTED_SIGNATURE_METHODS
        )
        value = _b64(_text(_required(sig, "SignatureValue")))
        _match_key_values(sig, signer)
    except (_FormatError, ValueError, etree.LxmlError) as exc:
        check.fail("verify.bad_signature_format", SubIndication.FORMAT_FAILURE, str(exc))
        return
    try:
        _verify_value(signer.public_key(), method, value, signed_info_c14n)
    except (InvalidSignature, ValueError, TypeError) as exc:
        detail = str(exc) or "the signature value does not verify with the signer's key"
        check.fail("verify.sig_crypto_failure", SubIndication.SIG_CRYPTO_FAILURE, detail)
        return
    check.valid = True
    try:
        mismatch = _digest_mismatch(sig, targets, signed_info_c14n)
    except (_FormatError, ValueError, etree.LxmlError) as exc:
        check.fail("verify.bad_signature_format", SubIndication.FORMAT_FAILURE, str(exc))
        return
    if mismatch is not None:
        check.fail("verify.hash_failure", SubIndication.HASH_FAILURE, mismatch)
        return
    check.intact = True


def _digest_mismatch(
    sig: etree._Element, targets: dict[str, etree._Element], signed_info_c14n: bytes
) -> str | None:
    """The first reference whose digest does not match, described, or ``None``.

    The references are read from the canonical ``SignedInfo`` the signature value covers,
    not from the tree (a comment inside a ``DigestValue`` would read differently)."""
    verified = etree.fromstring(signed_info_c14n, _parser())
    references = verified.findall(f"{_DS}Reference")
    if len(references) != len(targets):
        raise _FormatError(f"{len(references)} references signed, {len(targets)} resolved")
    holders = set(sig.iterancestors())
    for index, reference in enumerate(references):
        uri = reference.get("URI") or ""
        target = targets.get(uri)
        if target is None:
            raise _FormatError(f"reference {index} ({uri}) was not resolved")
        if target in holders:
            raise _FormatError(f"reference {index} ({uri}) holds the signature")
        method = _required(reference, "DigestMethod")
        digest = _algorithm(DigestAlgorithm, method, _ACCEPTED_DIGESTS)
        expected = _b64(_text(_required(reference, "DigestValue")))
        hasher = hashes.Hash(_hash_of(digest.name))
        hasher.update(_transformed(target, reference))
        if not hmac.compare_digest(hasher.finalize(), expected):
            return f"Digest mismatch for reference {index} ({uri})"
    return None


__all__ = ["ID_ATTRIBUTE", "EnvelopeCheck", "check_envelope", "sign_envelope"]
