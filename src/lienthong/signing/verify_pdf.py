"""Verification of the signatures in a PDF (kiểm tra chữ ký số trên văn bản PDF).

pyHanko validates each signature — integrity of the signed byte ranges, the CMS signature
value, the certificate path to our trust roots with OCSP/CRL (fetched from the certificate's
AIA/CRLDP, or read from the document's DSS for B-LT), the RFC 3161 timestamp, and the
difference analysis of every incremental update after the signed revision. This module maps
the result onto the ETSI indications of :mod:`lienthong.signing.report`, adds our own rules,
and checks the visible appearance that Decree 30/2020 Appendix I prescribes:

- the signer's (personal) signature shows an image;
- the organisation's signature shows the seal image, over about the left third of the signer's
  image, and the signing time as ISO 8601 with ``+07:00``;
- a document signed by the organisation only (an attachment in its own file, a copy) shows
  the time in a box at the top right of the first page, without image.

Appearances are read generically: the widget's ``/Rect``, its normal appearance stream mapped
onto it (``/BBox``, ``/Matrix``), the image XObjects drawn in it (nested form XObjects
followed, with the current transformation matrix), and its text, decoded through the font's
``/ToUnicode`` map.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.content_stream_parser import parse_content_stream
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from lienthong.domain.errors import Severity
from lienthong.signing import speedups
from lienthong.signing.appearance import Rect
from lienthong.signing.report import (
    CertificateInfo,
    FileReport,
    Finding,
    Indication,
    Revocation,
    RevocationStatus,
    SignatureReport,
    SubIndication,
    Timestamp,
    finding_verdicts,
    indication_for,
    make_file_report,
    scope_findings,
    worst,
)

speedups.install()


class ContextFactory(Protocol):
    """Builds a validation context from the document's embedded revocation data (DSS) if
    any; ``fetch`` says whether it may also fetch OCSP/CRL (when the verifier is online)."""

    def __call__(
        self, embedded: dict[str, list[object]], fetch: bool = True
    ) -> ValidationContext: ...


#: ISO 8601 with seconds and the Vietnam offset (Decree 30: date, hour, minute, second, zone).
ISO_VIETNAM = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+07:00")

_CHANGES = {
    ModificationLevel.NONE: "none",
    ModificationLevel.LTA_UPDATES: "validation data only",
    ModificationLevel.FORM_FILLING: "form filling",
    ModificationLevel.ANNOTATIONS: "annotations",
    ModificationLevel.OTHER: "other",
}
_COVERAGE = {
    SignatureCoverageLevel.ENTIRE_FILE: "the entire file",
    SignatureCoverageLevel.ENTIRE_REVISION: "its revision of the file; later revisions were added",
    SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START: "a block from the start of the file",
    SignatureCoverageLevel.UNCLEAR: "an unclear part of the file",
}


async def verify_pdf(data: bytes, name: str, *, context: ContextFactory) -> FileReport:
    """Verify every signature of a PDF and its appearance; never raises for bad input."""
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        embedded = list(reader.embedded_signatures)
        dss = _embedded_revocation(reader)
    except (PdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
        finding = Finding(
            "verify.bad_file", Severity.ERROR, f"{type(exc).__name__}: {exc}",
            SubIndication.FORMAT_FAILURE,
        )  # fmt: skip
        return make_file_report(name, "pdf", findings=[finding])
    if not embedded:
        finding = Finding(
            "verify.no_signature", Severity.ERROR, "", SubIndication.SIGNED_DATA_NOT_FOUND
        )
        return make_file_report(name, "pdf", findings=[finding])
    signatures = []
    looks = []
    for signature in embedded:
        report, look = await _verify_one(signature, context, dss)
        signatures.append(report)
        looks.append(look)
    file_findings = _appearance_findings(signatures, looks)
    # The appearance rules are a policy on top of valid signatures: SIG_CONSTRAINTS_FAILURE.
    return make_file_report(name, "pdf", signatures=signatures, findings=file_findings)


def _embedded_revocation(reader: PdfFileReader) -> dict[str, list[object]]:
    """The certificates, OCSP responses and CRLs in the document's DSS (PAdES B-LT)."""
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except (KeyError, PdfError, ValueError):
        return {}
    ocsps = [
        asn1_ocsp.OCSPResponse.load(ref.get_object().read_data(DecodePurpose.OCSP_RESPONSE))
        for ref in dss.ocsps
    ]
    crls = [
        asn1_crl.CertificateList.load(ref.get_object().read_data(DecodePurpose.CRL))
        for ref in dss.crls
    ]
    return {"ocsps": ocsps, "crls": crls, "other_certs": list(dss.load_certs())}


def _cert(certificate: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(certificate.dump())


async def _verify_one(
    signature: EmbeddedPdfSignature, context: ContextFactory, dss: dict[str, list[object]]
) -> tuple[SignatureReport, _Look]:
    name = str(signature.field_name)
    look = _Look.of(signature)
    findings: list[Finding] = []
    # A document that carries its own revocation data (B-LT, B-LTA) is judged on it first,
    # without the network: that is what the data is for, and an unreachable responder must
    # not make a sound long-term signature indeterminate. Only if that does not pass is it
    # checked again with fetching (a verifier that is online may know of a revocation).
    embedded = bool(dss.get("ocsps") or dss.get("crls"))
    validation_context = context(dss, fetch=not embedded)
    try:
        status = await async_validate_pdf_signature(signature, validation_context)
        if embedded and not status.bottom_line:
            validation_context = context(dss, fetch=True)
            status = await async_validate_pdf_signature(signature, validation_context)
    except (SignatureValidationError, PdfError, ValueError, KeyError, TypeError) as exc:
        findings.append(
            Finding(
                "verify.bad_signature_format",
                Severity.ERROR,
                f"{type(exc).__name__}: {exc}",
                SubIndication.FORMAT_FAILURE,
            )
        )
        report = SignatureReport(
            kind="pdf", name=name, role="unknown", indication=Indication.TOTAL_FAILED,
            sub_indication=SubIndication.FORMAT_FAILURE, findings=tuple(findings),
        )  # fmt: skip
        return report, look
    signer = _cert(status.signing_cert)
    path = status.validation_path
    chain = [_cert(c) for c in path.iter_certs(include_root=True)][::-1] if path else [signer]
    if not chain or chain[0] != signer:
        chain = [signer, *chain]
    sub = _sub_indication(status, findings)
    findings += scope_findings(chain)
    revocation = _revocation(status, validation_context, dss)
    timestamp = None
    tst = status.timestamp_validity
    if tst is not None:
        tsa = tst.signing_cert.subject.human_friendly if tst.signing_cert else None
        timestamp = Timestamp(tst.timestamp, tsa, bool(tst.valid and tst.intact and tst.trusted))
        if not timestamp.valid:
            findings.append(Finding("verify.timestamp_invalid", Severity.WARNING, f"from {tsa}"))
    else:
        findings.append(Finding("verify.no_timestamp", Severity.WARNING))
    changes = _CHANGES.get(status.modification_level) if status.modification_level else None
    coverage = _COVERAGE.get(status.coverage, "unknown") if status.coverage else "unknown"
    if status.coverage is not SignatureCoverageLevel.ENTIRE_FILE and changes:
        coverage += f" (changes after it: {changes})"
    indication, sub = worst([(indication_for(sub), sub), *finding_verdicts(findings)])
    info = CertificateInfo.of(signer)
    report = SignatureReport(
        kind="pdf",
        name=name,
        role="signer" if info.is_person else "organisation",
        indication=indication,
        sub_indication=sub,
        signer=info,
        chain=tuple(CertificateInfo.of(c) for c in chain),
        revocation=revocation,
        signing_time=status.signer_reported_dt,
        signing_time_source="claimed by the signer (CMS signingTime)"
        if status.signer_reported_dt
        else None,
        timestamp=timestamp,
        intact=status.intact,
        valid=status.valid,
        covers=coverage,
        covered_parts=(f"revision {signature.signed_revision + 1}",),
        changes_after=changes,
        findings=tuple(findings),
    )
    look.role = report.role
    return report, look


def _sub_indication(status: PdfSignatureStatus, findings: list[Finding]) -> SubIndication | None:
    """The ETSI sub-indication for pyHanko's status (``None``: passed)."""
    if not status.intact:
        findings.append(
            Finding("verify.hash_failure", Severity.ERROR, "", SubIndication.HASH_FAILURE)
        )
        return SubIndication.HASH_FAILURE
    if not status.valid:
        findings.append(
            Finding(
                "verify.sig_crypto_failure", Severity.ERROR, "", SubIndication.SIG_CRYPTO_FAILURE
            )
        )
        return SubIndication.SIG_CRYPTO_FAILURE
    if status.modification_level is ModificationLevel.OTHER or status.docmdp_ok is False:
        # [ours] the signed revision is intact, but what a reader sees now is not what was
        # signed: as a hash failure for the reader, with its own finding saying why.
        findings.append(
            Finding(
                "verify.changed_after_signing",
                Severity.ERROR,
                str(status.diff_result) if status.diff_result else "",
                SubIndication.HASH_FAILURE,
            )
        )
        return SubIndication.HASH_FAILURE
    problem = status.trust_problem_indic
    if problem is None:
        return None
    label = str(getattr(problem, "name", ""))
    sub = SubIndication[label] if label in SubIndication.__members__ else None
    sub = sub or SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE
    revoked = status.revocation_details
    tst = status.timestamp_validity
    if (
        revoked is not None
        and tst is not None
        and tst.valid
        and tst.trusted
        and revoked.revocation_date <= tst.timestamp
    ):
        # A trusted timestamp proves the signature was made after the revocation.
        sub = SubIndication.REVOKED
    findings.append(Finding(_CHAIN_CODES.get(sub, "verify.chain_failed"), Severity.ERROR, "", sub))
    return sub


_CHAIN_CODES = {
    SubIndication.REVOKED: "verify.revoked",
    SubIndication.REVOKED_NO_POE: "verify.revoked",
    SubIndication.REVOKED_CA_NO_POE: "verify.revoked",
    SubIndication.OUT_OF_BOUNDS_NO_POE: "verify.expired",
    SubIndication.OUT_OF_BOUNDS_NOT_REVOKED: "verify.expired",
    SubIndication.EXPIRED: "verify.expired",
    SubIndication.NOT_YET_VALID: "verify.expired",
    SubIndication.NO_CERTIFICATE_CHAIN_FOUND: "verify.untrusted",
    SubIndication.TRY_LATER: "verify.revocation_unavailable",
}


def chain_code(sub: SubIndication) -> str:
    """The finding code for a certificate-chain sub-indication."""
    return _CHAIN_CODES.get(sub, "verify.chain_failed")


def _revocation(
    status: PdfSignatureStatus, context: ValidationContext, dss: dict[str, list[object]]
) -> Revocation:
    details = status.revocation_details
    if details is not None:
        return Revocation(
            RevocationStatus.REVOKED,
            revocation_source(context, dss),
            details.revocation_date,
            str(details.revocation_reason.native) if details.revocation_reason else None,
        )
    if status.validation_path is not None and status.trust_problem_indic is None:
        return Revocation(RevocationStatus.GOOD, revocation_source(context, dss))
    return Revocation(RevocationStatus.UNKNOWN, revocation_source(context, dss))


def revocation_source(context: ValidationContext, dss: dict[str, list[object]]) -> str:
    """Where the revocation data came from: the document's DSS, or what was fetched."""
    if dss.get("ocsps") or dss.get("crls"):
        return "embedded"
    kinds = [k for k, found in (("ocsp", context.ocsps), ("crl", context.crls)) if found]
    return "+".join(kinds) or "none"


# -- appearance -------------------------------------------------------------------------------
Matrix = tuple[float, float, float, float, float, float]
_IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def _multiply(m: Matrix, n: Matrix) -> Matrix:
    """``m`` then ``n`` (PDF row-vector convention: m × n)."""
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (
        a * a2 + b * c2, a * b2 + b * d2, c * a2 + d * c2, c * b2 + d * d2,
        e * a2 + f * c2 + e2, e * b2 + f * d2 + f2,
    )  # fmt: skip


def _apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f = m
    return a * x + c * y + e, b * x + d * y + f


def _box_of(m: Matrix, x0: float, y0: float, x1: float, y1: float) -> Rect:
    points = [_apply(m, x, y) for x in (x0, x1) for y in (y0, y1)]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return Rect(min(xs), min(ys), max(xs), max(ys))


@dataclass
class _Look:
    """What a signature widget shows: where, its images (page coordinates) and its text."""

    page: int | None = None
    rect: Rect | None = None
    images: list[Rect] = field(default_factory=list)
    text: str = ""
    page_box: Rect | None = None
    role: str = "unknown"
    error: str | None = None

    @classmethod
    def of(cls, signature: EmbeddedPdfSignature) -> _Look:
        look = cls()
        try:
            look._read(signature)
        except (PdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            look.error = f"{type(exc).__name__}: {exc}"
        return look

    def _read(self, signature: EmbeddedPdfSignature) -> None:
        widget = signature.sig_field
        if "/Rect" not in widget and "/Kids" in widget:
            widget = widget["/Kids"][0].get_object()
        rect = [float(v) for v in widget["/Rect"]]
        self.rect = Rect(min(rect[0], rect[2]), min(rect[1], rect[3]),
                        max(rect[0], rect[2]), max(rect[1], rect[3]))  # fmt: skip
        page_ref = widget.get("/P")
        reader = signature.reader
        if page_ref is not None:
            pages = [
                reader.find_page_for_modification(i)[0]  # type: ignore[no-untyped-call]
                for i in range(_page_count(reader))
            ]
            target = page_ref.get_object()
            for index, page in enumerate(pages):
                if page.get_object() is target or page == target:
                    self.page = index
                    box = [float(v) for v in target.get("/MediaBox", [0, 0, 595, 842])]
                    self.page_box = Rect(*box)
                    break
        if self.rect.width <= 0:
            return
        appearance = widget.get("/AP")
        if appearance is None or "/N" not in appearance:
            return
        normal = appearance.raw_get("/N")
        stream = normal.get_object()
        if not isinstance(stream, generic.StreamObject):
            return
        form_box = [float(v) for v in stream.get("/BBox", [0, 0, 0, 0])]
        form_matrix = _matrix(stream.get("/Matrix"))
        # PDF 32000 §12.5.5: the form's BBox, transformed by its Matrix, is fitted onto Rect.
        bbox = _box_of(form_matrix, *form_box)
        sx = self.rect.width / bbox.width if bbox.width else 1.0
        height = bbox.y1 - bbox.y0
        sy = (self.rect.y1 - self.rect.y0) / height if height else 1.0
        fit: Matrix = (sx, 0.0, 0.0, sy, self.rect.x0 - bbox.x0 * sx, self.rect.y0 - bbox.y0 * sy)
        texts: list[str] = []
        _walk(normal, _multiply(form_matrix, fit), stream.get("/Resources"), self.images, texts)
        self.text = "\n".join(texts)


def _page_count(reader: PdfFileReader) -> int:
    return int(reader.root["/Pages"]["/Count"])


def _matrix(value: object) -> Matrix:
    if isinstance(value, generic.ArrayObject) and len(value) == 6:
        a, b, c, d, e, f = (float(v) for v in value)
        return (a, b, c, d, e, f)
    return _IDENTITY


_MAX_DEPTH = 8


def _walk(  # noqa: PLR0912, PLR0917 - one dispatch over content operators; recursive state
    ref: object,
    ctm: Matrix,
    resources: object,
    images: list[Rect],
    texts: list[str],
    depth: int = 0,
) -> None:
    """Follow a form XObject's content: record images drawn (as page boxes) and text."""
    if depth > _MAX_DEPTH:
        return
    stream = ref.get_object() if isinstance(ref, generic.IndirectObject) else ref  # type: ignore[no-untyped-call]
    if not isinstance(stream, generic.StreamObject) or not isinstance(ref, generic.IndirectObject):
        return
    own = stream.get("/Resources")
    resources = own.get_object() if own is not None else resources
    xobjects = _resource(resources, "/XObject")
    fonts = _resource(resources, "/Font")
    stack: list[Matrix] = []
    font_map: dict[bytes, str] | None = None
    line: list[str] = []
    for op in parse_content_stream([stream]):
        name, args = op.op, op.args
        if name == "q":
            stack.append(ctm)
        elif name == "Q" and stack:
            ctm = stack.pop()
        elif name == "cm" and len(args) == 6:
            a, b, c, d, e, f = (float(v) for v in args)
            ctm = _multiply((a, b, c, d, e, f), ctm)
        elif name == "Do" and args and xobjects is not None:
            target = xobjects.raw_get(args[0]) if args[0] in xobjects else None
            obj = target.get_object() if target is not None else None
            if isinstance(obj, generic.StreamObject):
                subtype = obj.get("/Subtype")
                if subtype == "/Image":
                    images.append(_box_of(ctm, 0, 0, 1, 1))
                elif subtype == "/Form":
                    inner = _multiply(_matrix(obj.get("/Matrix")), ctm)
                    _walk(target, inner, resources, images, texts, depth + 1)
        elif name == "Tf" and args and fonts is not None:
            font_map = _to_unicode(fonts.get(args[0])) if args[0] in fonts else None
        elif name in ("Tj", "'", '"') and args:
            line.append(_decode(args[-1], font_map))
        elif name == "TJ" and args and isinstance(args[0], generic.ArrayObject):
            line.append("".join(_decode(item, font_map) for item in args[0]))
        elif name in ("ET", "Td", "TD", "T*", "Tm") and line:
            texts.append("".join(line))
            line = []
    if line:
        texts.append("".join(line))


def _resource(resources: object, kind: str) -> generic.DictionaryObject | None:
    if not isinstance(resources, generic.DictionaryObject) or kind not in resources:
        return None
    found = resources[kind]
    return found if isinstance(found, generic.DictionaryObject) else None


def _decode(value: object, font_map: dict[bytes, str] | None) -> str:
    if not isinstance(value, generic.ByteStringObject | generic.TextStringObject):
        return ""
    raw = value.original_bytes
    if font_map is None:
        return str(raw.decode("latin-1"))
    width = len(next(iter(font_map))) if font_map else 1
    return "".join(font_map.get(raw[i : i + width], "") for i in range(0, len(raw), width))


_HEX = re.compile(rb"<([0-9A-Fa-f]+)>")


def _to_unicode(font: object) -> dict[bytes, str] | None:
    """A font's ``/ToUnicode`` CMap as code → text (``bfchar`` and ``bfrange``)."""
    font = font.get_object() if isinstance(font, generic.IndirectObject) else font  # type: ignore[no-untyped-call]
    if not isinstance(font, generic.DictionaryObject) or "/ToUnicode" not in font:
        return None
    cmap = font["/ToUnicode"]
    if not isinstance(cmap, generic.StreamObject):
        return None
    data = cmap.data
    mapping: dict[bytes, str] = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", data, re.S):
        codes = _HEX.findall(block)
        for src, dst in zip(codes[::2], codes[1::2], strict=False):
            mapping[bytes.fromhex(src.decode())] = bytes.fromhex(dst.decode()).decode("utf-16-be")
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", data, re.S):
        for row in block.strip().splitlines():
            codes = _HEX.findall(row)
            if len(codes) != 3:
                continue
            low, high, dst = (bytes.fromhex(c.decode()) for c in codes)
            start = int.from_bytes(dst, "big")
            for offset, code in enumerate(
                range(int.from_bytes(low, "big"), int.from_bytes(high, "big") + 1)
            ):
                if offset > 0xFFFF:
                    break
                mapping[code.to_bytes(len(low), "big")] = chr(start + offset)
    return mapping


def _appearance_findings(signatures: list[SignatureReport], looks: list[_Look]) -> list[Finding]:
    """Decree 30/2020 Appendix I, checked on what the widgets show."""
    findings: list[Finding] = []
    sub = SubIndication.SIG_CONSTRAINTS_FAILURE
    signers = [(s, look) for s, look in zip(signatures, looks, strict=True) if s.role == "signer"]
    organisations = [
        (s, look) for s, look in zip(signatures, looks, strict=True) if s.role == "organisation"
    ]
    for report, look in signers:
        if not look.images:
            detail = f"{report.name}" + (f" ({look.error})" if look.error else "")
            findings.append(
                Finding("verify.appearance_no_signer_image", Severity.ERROR, detail, sub)
            )
    signer_images = [look.images[0] for _, look in signers if look.images]
    for report, look in organisations:
        if not ISO_VIETNAM.search(look.text.replace("\n", "")):
            findings.append(
                Finding("verify.appearance_no_time", Severity.ERROR, f"{report.name}", sub)
            )
        if signers:
            if not look.images:
                findings.append(
                    Finding("verify.appearance_no_seal", Severity.ERROR, report.name, sub)
                )
            elif signer_images and not any(
                _covers_left_third(seal, image) for seal in look.images for image in signer_images
            ):
                findings.append(
                    Finding("verify.appearance_seal_misplaced", Severity.ERROR, report.name, sub)
                )
        elif look.rect is not None and look.page_box is not None and not _top_right(look):
            findings.append(Finding("verify.appearance_position", Severity.ERROR, report.name, sub))
    return findings


def _covers_left_third(seal: Rect, image: Rect) -> bool:
    """The seal overlaps the left third of the signer's image and stays left of its middle."""
    third = Rect(image.x0, image.y0, image.x0 + image.width / 3, image.y1)
    return seal.overlap(third) > 0 and seal.x1 <= image.x0 + image.width / 2 + 1


def _top_right(look: _Look) -> bool:
    assert look.rect is not None
    assert look.page_box is not None
    page = look.page_box
    return (
        look.page == 0
        and look.rect.x0 >= page.x0 + (page.x1 - page.x0) / 2
        and look.rect.y0 >= page.y0 + (page.y1 - page.y0) * 2 / 3
    )


def iter_pdf_attachments(
    names_and_data: Iterator[tuple[str, bytes]],
) -> Iterator[tuple[str, bytes]]:
    """The PDFs among attached files (by their magic bytes)."""
    for name, data in names_and_data:
        if data[:5] == b"%PDF-":
            yield name, data


__all__ = ["ContextFactory", "chain_code", "revocation_source", "verify_pdf"]
