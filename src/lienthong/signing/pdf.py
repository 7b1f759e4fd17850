# mypy: allow-untyped-calls
"""Signing PDF documents with the appearance Decree 30/2020 prescribes (ký số văn bản PDF).

Four acts, each one incremental update that leaves earlier signatures valid:

- :func:`sign_signer` — the person with authority (người có thẩm quyền) signs: visible, the
  blue signature image between the position line and the full name;
- :func:`issue` — the issuing organisation fills in the number and the issuing date (which
  equals the signing time) and signs with the red seal over the left third of the signer's
  image, its name and the signing time (ISO 8601, +07:00) under the seal;
- :func:`sign_attachment` — an attachment in a separate file: the organisation signs at the
  top right of page 1, text only (number of the main document, time, organisation);
- :func:`sign_copy` — an electronic copy (sao y, sao lục, trích sao): the same, with the copy
  form.

Every signature is PAdES (``ETSI.CAdES.detached``) at the level asked for: B-B, B-T (a
timestamp from our TSA), B-LT (certificates, OCSP responses and CRLs in the DSS), B-LTA (plus
a document timestamp). Keys are our :class:`~lienthong.pki.keys.SigningKey` objects, held in
memory or in a PKCS#11 token, behind a small pyHanko ``Signer`` (:class:`KeySigner`); build a
:class:`SigningIdentity` once and reuse it, so that keys are loaded and checked once.

The time shown in an appearance is the time in the signature dictionary (``/M``): both come
from the one ``now`` the caller passes.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped, unused-ignore]
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError as PyhankoSigningError
from pyhanko.sign.signers.pdf_signer import PdfSigningSession
from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError
from pyhanko_certvalidator.registry import SimpleCertificateStore

from lienthong.domain.errors import LienthongError, SigningError
from lienthong.domain.vntime import VIETNAM_TZ
from lienthong.pki.keys import SigningKey
from lienthong.signing import speedups
from lienthong.signing.anchor import find_text
from lienthong.signing.appearance import (
    Appearance,
    AppearanceStyle,
    Rect,
    StampImage,
    corner_appearance,
    iso_vietnam,
    seal_appearance,
    signer_appearance,
    signer_rect_above,
    text_field_appearance,
)
from lienthong.signing.documents import (
    DATE_FIELD,
    DATE_SIZE,
    NUMBER_FIELD,
    NUMBER_SIZE,
    date_line,
    number_line,
)
from lienthong.signing.fonts import stamp_font

speedups.install()

__all__ = [
    "ATTACHMENT_FIELD",
    "COPY_FIELD",
    "ORGANISATION_FIELD",
    "SIGNER_FIELD",
    "CopyForm",
    "KeySigner",
    "Level",
    "Placement",
    "Services",
    "SignResult",
    "SigningIdentity",
    "issue",
    "sign_attachment",
    "sign_copy",
    "sign_invisible",
    "sign_signer",
]

log = logging.getLogger(__name__)

#: Signature field names [ours]: ASCII, one per role, so a verifier can tell the roles apart.
SIGNER_FIELD = "NguoiKy"  #: người có thẩm quyền
ORGANISATION_FIELD = "CoQuanBanHanh"  #: cơ quan, tổ chức ban hành
ATTACHMENT_FIELD = "CoQuanBanHanhPhuLuc"  #: the organisation on an attachment file
COPY_FIELD = "SaoVanBan"  #: the copying organisation

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class Level(StrEnum):
    """PAdES baseline levels (ETSI EN 319 142-1)."""

    B_B = "B-B"  #: signature only
    B_T = "B-T"  #: plus a signature timestamp
    B_LT = "B-LT"  #: plus validation data (certificates, OCSP, CRL) in the DSS
    B_LTA = "B-LTA"  #: plus a document timestamp over everything


class CopyForm(StrEnum):
    """The three forms of copy (hình thức bản sao), Decree 30/2020 Art. 25."""

    SAO_Y = "sao y"
    SAO_LUC = "sao lục"
    TRICH_SAO = "trích sao"


# --------------------------------------------------------------------------- the key adapter
class KeySigner(signers.Signer):
    """A pyHanko ``Signer`` over a :class:`SigningKey`: the key may be a ``cryptography`` object
    or live in a PKCS#11 token; pyHanko only ever sees signature values."""

    def __init__(
        self, key: SigningKey, certificate: x509.Certificate, chain: Sequence[x509.Certificate]
    ) -> None:
        if certificate.public_key() != key.public_key():
            raise SigningError("signing.certificate_mismatch", _subject(certificate))
        public = key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            self._dry_run_length = public.key_size // 8
        elif isinstance(public, ec.EllipticCurvePublicKey):
            # DER ECDSA: two integers of at most the order's size, plus a sign byte each.
            self._dry_run_length = 2 * (public.curve.key_size // 8 + 1) + 8
        else:  # pragma: no cover -- SigningKey only holds RSA or EC keys
            raise SigningError("signing.failed", f"unsupported key {type(public).__name__}")
        self._key = key
        asn1_cert = asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))
        registry = SimpleCertificateStore.from_certs(
            [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in chain]
        )
        super().__init__(signing_cert=asn1_cert, cert_registry=registry, embed_roots=True)

    async def signed_attrs(self, *args: Any, **kwargs: Any) -> cms.CMSAttributes:
        """pyHanko's signed attributes, handed back as a freshly parsed object.

        pyHanko builds the signing-certificate-v2 attribute with ``hashAlgorithm`` set to
        SHA-256, the field's DEFAULT. DER leaves a default out, so asn1crypto never encodes
        that child, counts it as changed for good, and re-encodes every enclosing object on
        each access (the same trap made timestamp tokens with a default ESSCertIDv2 take
        18-55 s to embed, see ``lienthong.pki.tsa``). Encoded once here and parsed back, the
        attributes are the same bytes and are never re-encoded.
        """
        attributes = await super().signed_attrs(*args, **kwargs)
        return cms.CMSAttributes.load(attributes.dump())

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        """Sign ``data`` with the key (PKCS#1 v1.5 for RSA, ECDSA for EC)."""
        if dry_run:
            return bytes(self._dry_run_length)
        algorithm = _HASHES.get(digest_algorithm)
        if algorithm is None:
            raise SigningError("signing.failed", f"digest {digest_algorithm} not supported")
        return self._key.sign(data, algorithm())


def _subject(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string()


def _attribute(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    values = certificate.subject.get_attributes_for_oid(oid)
    if not values:
        return None
    value = values[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


@dataclass(frozen=True)
class SigningIdentity:
    """A key with its certificate and chain, ready to sign any number of documents."""

    key: SigningKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()
    signer: KeySigner = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "signer", KeySigner(self.key, self.certificate, self.chain))

    @property
    def common_name(self) -> str:
        """The subject's CN: a person's full name, or an organisation's name."""
        return _attribute(self.certificate, NameOID.COMMON_NAME) or _subject(self.certificate)

    @property
    def organisation(self) -> str:
        """The subject's O (the agency), falling back to the CN."""
        return _attribute(self.certificate, NameOID.ORGANIZATION_NAME) or self.common_name

    @property
    def title(self) -> str | None:
        """The subject's title (chức vụ) for personal certificates."""
        return _attribute(self.certificate, NameOID.TITLE)


@dataclass(frozen=True)
class Services:
    """Where timestamps and validation data come from, and what to trust for B-LT."""

    tsa_url: str | None = None
    trust_roots: tuple[x509.Certificate, ...] = ()
    timeout: float = 10.0
    _timestamper: list[HTTPTimeStamper] = field(default_factory=list, repr=False, compare=False)

    def timestamper(self) -> HTTPTimeStamper:
        """One timestamp client per ``Services`` (it caches its dummy response for sizing)."""
        if self.tsa_url is None:
            raise SigningError("signing.timestamp_failed", "no TSA URL given (B-T and above)")
        if not self._timestamper:
            self._timestamper.append(HTTPTimeStamper(self.tsa_url, timeout=self.timeout))
        return self._timestamper[0]

    def validation_context(self, identity: SigningIdentity) -> ValidationContext:
        """A fresh context (pyHanko closes it after each signature) that fetches OCSP and
        CRLs from the URLs in the certificates."""
        if not self.trust_roots:
            raise SigningError(
                "signing.revocation_unavailable", "no trusted root given (B-LT and above)"
            )

        def load(cert: x509.Certificate) -> asn1_x509.Certificate:
            return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))

        return ValidationContext(
            trust_roots=[load(c) for c in self.trust_roots],
            other_certs=[load(c) for c in identity.chain],
            allow_fetching=True,
            revocation_mode="hard-fail",
        )


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a visible signature goes: a rectangle on a page (pages count from 1)."""

    page: int
    rect: Rect


@dataclass(frozen=True, slots=True)
class SignResult:
    """A signed document and what its new signature shows."""

    pdf: bytes
    field_name: str
    page: int  #: from 1
    rect: Rect | None  #: None for an invisible signature
    signing_time: datetime  #: Vietnam time, as shown
    text: str  #: the text shown in the appearance (empty for the signer)
    level: Level


# --------------------------------------------------------------------------- pyHanko glue
class _TimedSigner(signers.PdfSigner):
    """A ``PdfSigner`` whose signing time is ours (pyHanko otherwise reads the clock)."""

    def __init__(self, *args: object, signing_time: datetime, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._signing_time = signing_time

    def init_signing_session(
        self, pdf_out: object, existing_fields_only: bool = False
    ) -> PdfSigningSession:
        session = super().init_signing_session(pdf_out, existing_fields_only)  # type: ignore[arg-type]
        session.system_time = self._signing_time
        return session


def _reader(pdf: bytes) -> PdfFileReader:
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        _ = reader.root["/Pages"]
    except (PdfError, KeyError, ValueError, TypeError) as exc:
        raise SigningError("signing.bad_pdf", str(exc)) from None
    if reader.encrypted:
        raise SigningError("signing.encrypted_pdf")
    return reader


def _page_count(reader: PdfFileReader) -> int:
    return int(reader.root["/Pages"]["/Count"])


def _page_box(reader: PdfFileReader, page_index: int) -> Rect:
    page_ref, _ = reader.find_page_for_modification(page_index)
    page = page_ref.get_object()
    box = page.get("/CropBox") or page.get("/MediaBox")
    node = page
    while box is None and "/Parent" in node:
        node = node["/Parent"].get_object()
        box = node.get("/MediaBox")
    if box is None:
        return Rect(0, 0, 595.28, 841.89)
    x0, y0, x1, y1 = (float(v) for v in box)
    return Rect(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _signature_fields(reader: PdfFileReader) -> dict[str, tuple[bool, int | None, Rect | None]]:
    """Signature fields by name: (signed, page index, widget rectangle)."""
    found: dict[str, tuple[bool, int | None, Rect | None]] = {}
    pages = {}
    for index in range(_page_count(reader)):
        ref, _ = reader.find_page_for_modification(index)
        pages[ref.reference if isinstance(ref, generic.IndirectObject) else ref] = index
    for name, value, ref in fields.enumerate_sig_fields(reader, filled_status=None):
        widget = ref.get_object()
        rect = None
        if "/Rect" in widget:
            x0, y0, x1, y1 = (float(v) for v in widget["/Rect"])
            rect = Rect(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        page_ref = widget.get_value_as_reference("/P", optional=True)
        found[str(name)] = (value is not None, pages.get(page_ref), rect)
    return found


def _check_free(reader: PdfFileReader, name: str) -> None:
    existing = _signature_fields(reader).get(name)
    if existing is not None and existing[0]:
        raise SigningError("signing.field_in_use", name)


def _sign(
    writer: IncrementalPdfFileWriter,
    identity: SigningIdentity,
    *,
    field_name: str,
    page_index: int,
    appearance: Appearance | None,
    now: datetime,
    level: Level,
    services: Services,
    reason: str,
    lock_own_field: bool = False,
    location: str | None = None,
) -> bytes:
    """Add one signature to ``writer`` (which may hold other changes of the same update)."""
    timestamper = services.timestamper() if level != Level.B_B else None
    long_term = level in (Level.B_LT, Level.B_LTA)
    context = services.validation_context(identity) if long_term else None
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        name=identity.common_name,
        embed_validation_info=long_term,
        use_pades_lta=level == Level.B_LTA,
        validation_context=context,
        signer_key_usage={"non_repudiation"},
    )
    spec = fields.SigFieldSpec(
        sig_field_name=field_name,
        on_page=page_index,
        box=appearance.rect.as_tuple() if appearance is not None else None,  # type: ignore[arg-type]
        field_mdp_spec=(
            fields.FieldMDPSpec(fields.FieldMDPAction.INCLUDE, [field_name])
            if lock_own_field
            else None
        ),
    )
    style = AppearanceStyle(appearance=appearance) if appearance is not None else None
    pdf_signer = _TimedSigner(
        meta,
        identity.signer,
        timestamper=timestamper,
        stamp_style=style,
        new_field_spec=spec,
        signing_time=now,
    )
    try:
        output = pdf_signer.sign_pdf(writer)
    except LienthongError:
        raise
    except TimestampRequestError as exc:
        raise SigningError("signing.timestamp_failed", str(exc)) from None
    except (PathBuildingError, PathValidationError) as exc:
        raise SigningError("signing.revocation_unavailable", str(exc)) from None
    except PyhankoSigningError as exc:
        cause = exc.__cause__ or exc
        code = (
            "signing.timestamp_failed"
            if isinstance(cause, TimestampRequestError)
            else "signing.revocation_unavailable"
            if long_term and isinstance(cause, PathBuildingError | PathValidationError)
            else "signing.failed"
        )
        raise SigningError(code, str(exc)) from None
    except (PdfError, OSError) as exc:
        raise SigningError("signing.failed", str(exc)) from None
    data: bytes = output.getvalue()
    return data


def _local(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise SigningError("signing.failed", "the signing time must carry a time zone")
    # Whole seconds: the appearance shows seconds, so the signature says the same instant.
    return now.astimezone(VIETNAM_TZ).replace(microsecond=0)


# --------------------------------------------------------------------------- the four acts
def sign_signer(
    pdf: bytes,
    identity: SigningIdentity,
    image: StampImage,
    *,
    now: datetime,
    placement: Placement | None = None,
    anchor: str | None = None,
    page: int | None = None,
    level: Level = Level.B_T,
    services: Services | None = None,
    field_name: str = SIGNER_FIELD,
) -> SignResult:
    """The signer's visible signature: at ``placement``, or above the text ``anchor`` (by
    default the certificate's CN, i.e. the signer's full name as printed), on ``page`` or
    the last page that shows it. The signature locks only its own field, so the issuing
    office may still fill in the number and date."""
    reader = _reader(pdf)
    _check_free(reader, field_name)
    when = _local(now)
    if placement is not None:
        page_index = placement.page - 1
        if not 0 <= page_index < _page_count(reader):
            raise SigningError("signing.bad_page", f"page {placement.page}")
        rect = placement.rect
    else:
        page_index, name_box = find_text(
            reader, anchor or identity.common_name, page_index=None if page is None else page - 1
        )
        rect = signer_rect_above(name_box, image)
    appearance = signer_appearance(image, rect)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    data = _sign(
        writer, identity, field_name=field_name, page_index=page_index, appearance=appearance,
        now=when, level=level, services=services or Services(),
        reason="Người có thẩm quyền ký / signed by the person with authority",
        lock_own_field=True,
    )  # fmt: skip
    return SignResult(data, field_name, page_index + 1, appearance.rect, when, "", level)


def issue(
    pdf: bytes,
    identity: SigningIdentity,
    seal: StampImage,
    *,
    number: str,
    now: datetime,
    level: Level = Level.B_T,
    services: Services | None = None,
    signer_field: str = SIGNER_FIELD,
    field_name: str = ORGANISATION_FIELD,
    place: str | None = None,
) -> SignResult:
    """Issuance (ban hành): fill in the number (``125`` or ``125/STTTT-VP``) and the issuing
    date (= the signing time, Vietnam date) and sign as the organisation, the seal over the
    left third of the signer's image. The document must carry the signer's signature and
    the number and date fields (``signing.no_signer_signature``, ``signing.no_form_field``).
    """
    reader = _reader(pdf)
    _check_free(reader, field_name)
    signer = _signature_fields(reader).get(signer_field)
    if signer is None or not signer[0] or signer[2] is None or signer[1] is None:
        raise SigningError("signing.no_signer_signature", f"no signed field {signer_field!r}")
    page_index, signer_rect = signer[1], signer[2]
    when = _local(now)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    shown_number = _fill_fields(writer, number=number, day=when.date(), place=place)
    font = stamp_font()
    appearance = seal_appearance(signer_rect, seal, identity.organisation, when, font)
    data = _sign(
        writer, identity, field_name=field_name, page_index=page_index, appearance=appearance,
        now=when, level=level, services=services or Services(),
        reason=f"Ban hành văn bản {shown_number} / issued", location=place,
    )  # fmt: skip
    return SignResult(data, field_name, page_index + 1, appearance.rect, when,
                      appearance.text, level)  # fmt: skip


def _text_field(writer: IncrementalPdfFileWriter, name: str) -> generic.DictionaryObject | None:
    form = writer.root.get("/AcroForm")
    if form is None:
        return None
    for ref in form.get_object().get("/Fields", []):
        candidate = ref.get_object()
        if candidate.get("/FT") == "/Tx" and candidate.get("/T") == name:
            return candidate  # type: ignore[no-any-return]
    return None


def _fill_fields(
    writer: IncrementalPdfFileWriter, *, number: str, day: date, place: str | None
) -> str:
    """Set the number and date fields' values and appearances; return the number shown."""
    number_field = _text_field(writer, NUMBER_FIELD)
    date_field = _text_field(writer, DATE_FIELD)
    if number_field is None or date_field is None:
        raise SigningError(
            "signing.no_form_field", f"fields {NUMBER_FIELD!r} and {DATE_FIELD!r} are needed"
        )
    if "/" in number:
        code, notation = number.split("/", 1)
    else:
        # The draft's placeholder is "Số: /NOTATION": keep its notation.
        code = number
        notation = str(number_field.get("/V", "")).rsplit("/", 1)[-1].strip()
        if not notation:
            raise SigningError(
                "signing.no_form_field", "the number field has no notation: give NUMBER/NOTATION"
            )
    shown = number_line(code.strip(), notation.strip())
    draft_place = str(date_field.get("/V", "")).split(",", 1)[0].strip()
    date_text = date_line(place or draft_place or "", day)
    regular = stamp_font("LiberationSerif-Regular.ttf")
    italic = stamp_font("LiberationSerif-Italic.ttf")
    for widget, text, font, size in (
        (number_field, shown, regular, NUMBER_SIZE),
        (date_field, date_text, italic, DATE_SIZE),
    ):
        x0, y0, x1, y1 = (float(v) for v in widget["/Rect"])
        widget[pdf_name("/V")] = generic.TextStringObject(text)
        widget[pdf_name("/AP")] = generic.DictionaryObject(
            {pdf_name("/N"): text_field_appearance(writer, font, text, abs(x1 - x0),
                                                   abs(y1 - y0), size, align="center")}
        )  # fmt: skip
        writer.update_container(widget)
    return shown.removeprefix("Số: ")


def _corner_sign(
    pdf: bytes,
    identity: SigningIdentity,
    texts: Sequence[str],
    *,
    when: datetime,
    level: Level,
    services: Services | None,
    field_name: str,
    reason: str,
) -> SignResult:
    reader = _reader(pdf)
    _check_free(reader, field_name)
    appearance = corner_appearance(_page_box(reader, 0), texts, stamp_font())
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    data = _sign(
        writer, identity, field_name=field_name, page_index=0, appearance=appearance, now=when,
        level=level, services=services or Services(), reason=reason,
    )  # fmt: skip
    return SignResult(data, field_name, 1, appearance.rect, when, appearance.text, level)


def sign_attachment(
    pdf: bytes,
    identity: SigningIdentity,
    *,
    main_number: str,
    now: datetime,
    level: Level = Level.B_T,
    services: Services | None = None,
    field_name: str = ATTACHMENT_FIELD,
) -> SignResult:
    """An attachment in a separate file: the organisation signs at the top right of page 1,
    no image; the text is the main document's number and notation, the signing time and
    the organisation's name (10 pt, black, Times-compatible)."""
    when = _local(now)
    texts = [main_number, iso_vietnam(when), identity.organisation]
    return _corner_sign(
        pdf, identity, texts, when=when, level=level, services=services, field_name=field_name,
        reason=f"Phụ lục kèm theo văn bản {main_number} / attachment",
    )  # fmt: skip


def sign_copy(
    pdf: bytes,
    identity: SigningIdentity,
    *,
    form: CopyForm,
    now: datetime,
    copy_number: str | None = None,
    level: Level = Level.B_T,
    services: Services | None = None,
    field_name: str = COPY_FIELD,
) -> SignResult:
    """An electronic copy: the copying organisation signs at the top right of page 1, no
    image; the text is the copy form (``SAO Y``…), the copy's number if any, the copying
    organisation's name and the signing time."""
    when = _local(now)
    heading = form.value.upper()
    texts = [f"{heading} số {copy_number}" if copy_number else heading]
    texts += [iso_vietnam(when), identity.organisation]
    return _corner_sign(
        pdf, identity, texts, when=when, level=level, services=services, field_name=field_name,
        reason=f"{form.value.capitalize()} / electronic copy",
    )  # fmt: skip


def sign_invisible(
    pdf: bytes,
    identity: SigningIdentity,
    *,
    now: datetime,
    level: Level = Level.B_B,
    services: Services | None = None,
    field_name: str = "Signature",
) -> SignResult:
    """A signature without appearance (the benchmark's baseline, and for machine-only
    signatures)."""
    when = _local(now)
    reader = _reader(pdf)
    _check_free(reader, field_name)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    data = _sign(
        writer, identity, field_name=field_name, page_index=0, appearance=None, now=when,
        level=level, services=services or Services(), reason="lienthong",
    )  # fmt: skip
    return SignResult(data, field_name, 1, None, when, "", level)
