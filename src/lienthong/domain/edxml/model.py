"""The edXML package as typed, immutable values (QCVN 102:2016/BTTTT).

Each class mirrors one element. Its ``__edxml__`` table says which child elements it reads,
under which Python field, and in which order they are written back: the parser and the
serialiser are one generic walk over these tables, so the order and the names live in one
place. Leaf values are kept as text (``None`` = element absent, ``""`` = present but empty)
so that nothing a producer wrote is lost; typed views (dates, codes, priorities) are
properties, and :mod:`lienthong.domain.edxml.validation` says what is wrong with the text.

Anything the tables do not know — unknown elements or attributes — is kept verbatim in
:class:`Extras` and written back, so foreign extensions survive a round trip.
"""

from __future__ import annotations

import binascii
import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import IntEnum, StrEnum
from typing import ClassVar, Literal

from lienthong.domain.edxml.dates import parse_date, parse_timestamp
from lienthong.domain.orgcode import AgencyId, read_agency_id
from lienthong.domain.priority import Priority

#: The QCVN 102:2016 namespace (prefix ``edXML``).
EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
#: The W3C XML-DSig namespace.
XMLDSIG_NS = "http://www.w3.org/2000/09/xmldsig#"

Kind = Literal[
    "text",
    "base64",
    "date",
    "timestamp",
    "child",
    "children",
    "texts",
    "wrapped",
    "attr",
    "signature",
]


@dataclass(frozen=True, slots=True)
class Field:
    """One row of an ``__edxml__`` table.

    ``kind`` says how the element is read: ``text``/``date``/``timestamp``/``base64`` a leaf,
    ``child`` one nested element, ``children`` a repeated element, ``texts`` a wrapper
    element holding repeated leaves (``Appendixes/Appendix``), ``wrapped`` a wrapper holding
    repeated elements (``ReceiverList/Receiver``), ``attr`` an attribute of this element,
    ``signature`` the envelope ``Signature`` (read in either namespace, kept verbatim).
    """

    element: str
    attr: str
    kind: Kind = "text"
    cls: type | None = None
    item: str = ""  #: the repeated element's name inside a wrapper
    aliases: tuple[str, ...] = ()  #: other names producers use for the same element


@dataclass(frozen=True, slots=True)
class Extras:
    """What the tables do not know, kept verbatim for the round trip.

    ``elements`` holds ``(where, xml)`` pairs: ``where`` is ``""`` for a child of this element,
    or the name of the wrapper element it sat in; ``xml`` is its exclusive canonical form.
    ``attributes`` holds ``(name, value)`` pairs, names in Clark notation (``{ns}local``).
    """

    elements: tuple[tuple[str, str], ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.elements or self.attributes)


NO_EXTRAS = Extras()


def _agency(text: str | None) -> AgencyId | None:
    if not text:
        return None
    try:
        return read_agency_id(text)
    except ValueError:
        return None


def _date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return parse_date(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Organization:
    """``From`` or ``To``: an agency with its contact details (cơ quan gửi / nhận)."""

    organ_id: str | None = None
    organization_in_charge: str | None = None
    organ_name: str | None = None
    organ_add: str | None = None
    email: str | None = None
    telephone: str | None = None
    fax: str | None = None
    website: str | None = None
    extras: Extras = NO_EXTRAS

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("OrganId", "organ_id"),
        Field("OrganizationInCharge", "organization_in_charge"),
        Field("OrganName", "organ_name"),
        Field("OrganAdd", "organ_add"),
        Field("Email", "email"),
        Field("Telephone", "telephone"),
        Field("Fax", "fax"),
        Field("Website", "website"),
    )

    @property
    def agency(self) -> AgencyId | None:
        """The ``OrganId`` as an agency id, or ``None`` if missing or unreadable."""
        return _agency(self.organ_id)


@dataclass(frozen=True, slots=True)
class Code:
    """``Code``: the document number and notation (số, ký hiệu), e.g. ``7816`` / ``VPCP-TTĐT``."""

    code_number: str | None = None
    code_notation: str | None = None
    extras: Extras = NO_EXTRAS

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("CodeNumber", "code_number"),
        Field("CodeNotation", "code_notation"),
    )

    def __str__(self) -> str:
        return f"{self.code_number or ''}/{self.code_notation or ''}"


@dataclass(frozen=True, slots=True)
class PromulgationInfo:
    """``PromulgationInfo``: place and date of issue (địa danh, ngày ban hành)."""

    place: str | None = None
    promulgation_date: str | None = None
    extras: Extras = NO_EXTRAS

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("Place", "place"),
        Field("PromulgationDate", "promulgation_date", "date"),
    )

    @property
    def date(self) -> date | None:
        """The promulgation date, or ``None`` if missing or impossible."""
        return _date(self.promulgation_date)


@dataclass(frozen=True, slots=True)
class DocumentType:
    """``DocumentType``: the kind of document (loại văn bản), e.g. 1 / Công văn."""

    type: str | None = None
    type_detail: str | None = None
    type_name: str | None = None
    extras: Extras = NO_EXTRAS

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("Type", "type"),
        Field("TypeDetail", "type_detail"),
        Field("TypeName", "type_name"),
    )


@dataclass(frozen=True, slots=True)
class SignerInfo:
    """``SignerInfo``: who signed (người ký): authority, position, full name."""

    competence: str | None = None
    position: str | None = None
    full_name: str | None = None
    extras: Extras = NO_EXTRAS

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("Competence", "competence"),
        Field("Position", "position"),
        Field("FullName", "full_name"),
    )


@dataclass(frozen=True, slots=True)
class OtherInfo:
    """``OtherInfo``: urgency, scope, typist, copies, pages, direction, appendixes."""

    priority: str | None = None
    sphere_of_promulgation: str | None = None
    typer_notation: str | None = None
    promulgation_amount: str | None = None
    page_amount: str | None = None
    direction: str | None = None
    appendixes: tuple[str, ...] | None = None
    extras: Extras = NO_EXTRAS

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("Priority", "priority"),
        Field("SphereOfPromulgation", "sphere_of_promulgation"),
        Field("TyperNotation", "typer_notation"),
        Field("PromulgationAmount", "promulgation_amount"),
        Field("PageAmount", "page_amount"),
        Field("Direction", "direction"),
        Field("Appendixes", "appendixes", "texts", item="Appendix"),
    )

    @property
    def urgency(self) -> Priority | None:
        """``Priority`` 0–3 as thường / khẩn / thượng khẩn / hỏa tốc; ``None`` if unreadable."""
        if self.priority is None:
            return None
        try:
            return Priority.parse(self.priority)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class ResponseFor:
    """``ResponseFor``: the earlier document this package answers, revokes or reports on."""

    organ_id: str | None = None
    code: str | None = None
    promulgation_date: str | None = None
    document_id: str | None = None
    extras: Extras = NO_EXTRAS

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("OrganId", "organ_id"),
        Field("Code", "code"),
        Field("PromulgationDate", "promulgation_date", "date"),
        Field("DocumentId", "document_id"),
    )

    @property
    def is_empty(self) -> bool:
        """True for the empty placeholder some producers send (all children blank)."""
        return not any((self.organ_id, self.code, self.promulgation_date, self.document_id))


@dataclass(frozen=True, slots=True)
class StaffInfo:
    """``StaffInfo``: the clerk who handled the package (cán bộ xử lý)."""

    department: str | None = None
    staff: str | None = None
    email: str | None = None
    mobile: str | None = None
    extras: Extras = NO_EXTRAS

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("Department", "department"),
        Field("Staff", "staff"),
        Field("Email", "email"),
        Field("Mobile", "mobile"),
    )


@dataclass(frozen=True, slots=True)
class MessageHeader:
    """``MessageHeader`` of a document package or of a status package.

    A status package (phản hồi trạng thái) carries ``From``, ``ResponseFor``, ``StaffInfo``,
    ``StatusCode``, ``Description`` and ``Timestamp`` only; one producer names this element
    ``Status`` — we read both names and always write ``MessageHeader``. The table's order is
    the order of the samples for both kinds (the fields of the other kind are absent).
    """

    from_: Organization | None = None
    to: tuple[Organization, ...] = ()
    document_id: str | None = None
    code: Code | None = None
    promulgation_info: PromulgationInfo | None = None
    document_type: DocumentType | None = None
    subject: str | None = None
    content: str | None = None
    signer_info: SignerInfo | None = None
    due_date: str | None = None
    other_info: OtherInfo | None = None
    response_for: tuple[ResponseFor, ...] = ()
    steering_type: str | None = None
    to_places: tuple[str, ...] | None = None
    staff_info: StaffInfo | None = None
    status_code: str | None = None
    description: str | None = None
    timestamp: str | None = None
    extras: Extras = NO_EXTRAS

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("From", "from_", "child", Organization),
        Field("To", "to", "children", Organization),
        Field("DocumentId", "document_id"),
        Field("Code", "code", "child", Code),
        Field("PromulgationInfo", "promulgation_info", "child", PromulgationInfo),
        Field("DocumentType", "document_type", "child", DocumentType),
        Field("Subject", "subject"),
        Field("Content", "content"),
        Field("SignerInfo", "signer_info", "child", SignerInfo),
        Field("DueDate", "due_date", "date"),
        Field("OtherInfo", "other_info", "child", OtherInfo),
        Field("ResponseFor", "response_for", "children", ResponseFor),
        Field("SteeringType", "steering_type"),
        Field("ToPlaces", "to_places", "texts", item="Place"),
        Field("StaffInfo", "staff_info", "child", StaffInfo),
        Field("StatusCode", "status_code"),
        Field("Description", "description"),
        Field("Timestamp", "timestamp", "timestamp"),
    )


@dataclass(frozen=True, slots=True)
class TraceHeader:
    """``TraceHeader``: one system that handled the package, and when (vết xử lý)."""

    organ_id: str | None = None
    timestamp: str | None = None
    extras: Extras = NO_EXTRAS

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("OrganId", "organ_id"),
        Field("Timestamp", "timestamp", "timestamp"),
    )

    @property
    def at(self) -> datetime | None:
        """The timestamp as an aware Vietnam-time datetime, or ``None`` if unreadable."""
        if not self.timestamp:
            return None
        try:
            return parse_timestamp(self.timestamp)
        except ValueError:
            return None


class BusinessType(IntEnum):
    """``BussinessDocType``: what the package does to the document (loại nghiệp vụ)."""

    NEW = 0  #: Văn bản mới
    REVOKE = 1  #: Thu hồi
    UPDATE = 2  #: Cập nhật
    REPLACE = 3  #: Thay thế


@dataclass(frozen=True, slots=True)
class Receiver:
    """``Receiver`` of an update: an agency and how the update changes its delivery."""

    organ_id: str | None = None
    receiver_type: str | None = None
    extras: Extras = NO_EXTRAS

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("OrganId", "organ_id"),
        Field("ReceiverType", "receiver_type"),
    )


@dataclass(frozen=True, slots=True)
class BusinessDocumentInfo:
    """``BussinessDocumentInfo``: what an update changes (document info, recipients)."""

    document_info: str | None = None
    document_receiver: str | None = None
    receivers: tuple[Receiver, ...] | None = None
    extras: Extras = NO_EXTRAS

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("DocumentInfo", "document_info"),
        Field("DocumentReceiver", "document_receiver"),
        Field("ReceiverList", "receivers", "wrapped", Receiver, item="Receiver"),
    )


@dataclass(frozen=True, slots=True)
class ReplacementInfo:
    """``ReplacementInfo``: a document this one replaces, at the listed agencies."""

    document_id: str | None = None
    organ_ids: tuple[str, ...] | None = None
    extras: Extras = NO_EXTRAS

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("DocumentId", "document_id"),
        Field("OrganIdList", "organ_ids", "texts", item="OrganId"),
    )


@dataclass(frozen=True, slots=True)
class Business:
    """``Bussiness`` (spelled so by the standard): the business type and its details."""

    document_id: str | None = None
    business_doc_type: str | None = None
    business_doc_reason: str | None = None
    paper: str | None = None
    document_info: BusinessDocumentInfo | None = None
    replacements: tuple[ReplacementInfo, ...] | None = None
    staff_info: StaffInfo | None = None
    extras: Extras = NO_EXTRAS

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("DocumentId", "document_id"),
        Field("BussinessDocType", "business_doc_type"),
        Field("BussinessDocReason", "business_doc_reason"),
        Field("Paper", "paper"),
        Field("BussinessDocumentInfo", "document_info", "child", BusinessDocumentInfo),
        Field("ReplacementInfoList", "replacements", "wrapped", ReplacementInfo, "ReplacementInfo"),
        Field("StaffInfo", "staff_info", "child", StaffInfo),
    )

    @property
    def type(self) -> BusinessType | None:
        """The business type, or ``None`` if missing or not 0–3."""
        text = (self.business_doc_type or "").strip()
        if text.isdigit() and int(text) in BusinessType._value2member_map_:
            return BusinessType(int(text))
        return None


@dataclass(frozen=True, slots=True)
class TraceHeaderList:
    """``TraceHeaderList``: the hops and the business block (order varies between producers)."""

    trace_headers: tuple[TraceHeader, ...] = ()
    business: Business | None = None
    extras: Extras = NO_EXTRAS

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("TraceHeader", "trace_headers", "children", TraceHeader),
        Field("Bussiness", "business", "child", Business),
    )


class SignatureKind(StrEnum):
    """What the envelope's ``Signature`` element is."""

    XMLDSIG = "xmldsig"  #: a W3C XML-DSig signature (namespace ``xmldsig#``)
    PLACEHOLDER = "placeholder"  #: the look of one, outside the XML-DSig namespace


@dataclass(frozen=True, slots=True)
class SignatureBlock:
    """The envelope's ``Signature`` element, kept byte-for-byte in canonical form.

    Verification belongs to :mod:`lienthong.signing`; the domain only says what it is.
    """

    kind: SignatureKind
    xml: str


@dataclass(frozen=True, slots=True)
class EnvelopeHeader:
    """``edXMLHeader``: the message header, the trace list and the signature."""

    message_header: MessageHeader | None = None
    trace_header_list: TraceHeaderList | None = None
    signature: SignatureBlock | None = None
    extras: Extras = NO_EXTRAS

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("MessageHeader", "message_header", "child", MessageHeader, aliases=("Status",)),
        Field("TraceHeaderList", "trace_header_list", "child", TraceHeaderList),
        Field("Signature", "signature", "signature"),
    )


def strip_cid(content_id: str | None) -> str:
    """Content ids are compared without the ``cid:`` prefix some producers add (SPEC §2)."""
    text = (content_id or "").strip()
    return text[4:] if text.lower().startswith("cid:") else text


@dataclass(frozen=True, slots=True)
class ManifestReference:
    """``Reference`` in the manifest: one attached file, described."""

    content_id: str | None = None
    content_type: str | None = None
    description: str | None = None
    attachment_name: str | None = None
    extras: Extras = NO_EXTRAS

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("ContentId", "content_id"),
        Field("ContentType", "content_type"),
        Field("Description", "description"),
        Field("AttachmentName", "attachment_name"),
    )


@dataclass(frozen=True, slots=True)
class Manifest:
    """``edXMLManifest``: the list of attached files."""

    version: str | None = None
    references: tuple[ManifestReference, ...] = ()
    extras: Extras = NO_EXTRAS

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("version", "version", "attr"),
        Field("Reference", "references", "children", ManifestReference),
    )


@dataclass(frozen=True, slots=True)
class EnvelopeBody:
    """``edXMLBody``: holds the manifest."""

    manifest: Manifest | None = None
    extras: Extras = NO_EXTRAS

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("edXMLManifest", "manifest", "child", Manifest),
    )


@dataclass(frozen=True, slots=True)
class Envelope:
    """``edXMLEnvelope``: header and body."""

    header: EnvelopeHeader | None = None
    body: EnvelopeBody | None = None
    extras: Extras = NO_EXTRAS

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("edXMLHeader", "header", "child", EnvelopeHeader),
        Field("edXMLBody", "body", "child", EnvelopeBody),
    )


_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def base64_problem(text: str) -> str | None:
    """Why ``text`` is not base64 (alphabet, length, padding), or ``None`` if it is.

    A syntactic check in C-speed passes: for a multi-megabyte payload it costs a fraction of
    decoding it, so a receiver can check a package without decoding every file.
    """
    if not text.isascii():  # O(1) for str
        return "non-ASCII character"
    pad = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
    if len(text) % 4:
        return "length is not a multiple of 4"
    raw = text.encode("ascii")
    if raw.translate(None, _BASE64_ALPHABET) != b"=" * pad:
        return "character outside the base64 alphabet, or misplaced padding"
    return None


def is_base64(text: str) -> bool:
    """True if :func:`base64_problem` finds nothing."""
    return base64_problem(text) is None


@dataclass(frozen=True)
class Attachment:
    """``Attachment``: one file, base64 in ``ContentTransferEncoded``.

    ``encoded`` is the base64 text with whitespace removed. Decoding is done on demand by
    :meth:`data` (raises ``ValueError`` on bad base64), and cached.
    """

    content_id: str | None = None
    attachment_name: str | None = None
    description: str | None = None
    content_type: str | None = None
    encoded: str | None = None
    extras: Extras = NO_EXTRAS
    _decoded: list[bytes] = field(default_factory=list, compare=False, repr=False)
    _valid: list[bool] = field(default_factory=list, compare=False, repr=False)

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("ContentId", "content_id"),
        Field("AttachmentName", "attachment_name"),
        Field("Description", "description"),
        Field("ContentType", "content_type"),
        Field("ContentTransferEncoded", "encoded", "base64"),
    )

    def has_valid_encoding(self) -> bool:
        """True if ``encoded`` is base64; checked once per attachment (a pass over megabytes)."""
        if not self._valid:
            self._valid.append(is_base64(self.encoded or ""))
        return self._valid[0]

    def data(self) -> bytes:
        """The transferred bytes (a file, or a ZIP wrapping it); ValueError if not base64."""
        if not self._decoded:
            text = self.encoded or ""
            if not self.has_valid_encoding():
                raise ValueError(f"invalid base64: {base64_problem(text)}")
            self._decoded.append(binascii.a2b_base64(text))
        return self._decoded[0]

    def head(self, count: int = 8) -> bytes:
        """The first ``count`` bytes (at most), decoding only what they need."""
        text = self.encoded or ""
        chunk = text[: (count + 2) // 3 * 4]
        return binascii.a2b_base64(chunk)[:count] if base64_problem(chunk) is None else b""

    @property
    def size(self) -> int:
        """Size in bytes of the transferred data, from the base64 length (no decoding)."""
        text = self.encoded or ""
        if not self.has_valid_encoding():
            raise ValueError("invalid base64")
        return len(text) // 4 * 3 - (len(text) - len(text.rstrip("=")))

    @property
    def sha256(self) -> str:
        """SHA-256 (hex) of the transferred data."""
        return hashlib.sha256(self.data()).hexdigest()


@dataclass(frozen=True, slots=True)
class Package:
    """An edXML package: a document (văn bản) or a status (phản hồi trạng thái).

    The root element ``edXML`` holds the envelope and, as its sibling, ``AttachmentEncoded``.
    ``notes`` are findings made while reading (e.g. repaired malformed XML); they are not part
    of the package's value and do not take part in equality.
    """

    envelope: Envelope | None = None
    attachments: tuple[Attachment, ...] | None = None
    extras: Extras = NO_EXTRAS
    notes: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    __edxml__: ClassVar[tuple[Field, ...]] = (
        Field("edXMLEnvelope", "envelope", "child", Envelope),
        Field("AttachmentEncoded", "attachments", "wrapped", Attachment, "Attachment"),
    )

    # -- convenient views -------------------------------------------------------------------
    @property
    def header(self) -> MessageHeader:
        """The ``MessageHeader`` (an empty one if the package has none)."""
        env_header = self.envelope.header if self.envelope else None
        return (env_header.message_header if env_header else None) or MessageHeader()

    @property
    def is_status(self) -> bool:
        """True for a status package: its header carries a ``StatusCode``."""
        return self.header.status_code is not None

    @property
    def kind(self) -> Literal["document", "status"]:
        """``"status"`` for a status package, else ``"document"``."""
        return "status" if self.is_status else "document"

    @property
    def trace_list(self) -> TraceHeaderList | None:
        """The ``TraceHeaderList``, if present."""
        env_header = self.envelope.header if self.envelope else None
        return env_header.trace_header_list if env_header else None

    @property
    def traces(self) -> tuple[TraceHeader, ...]:
        """The hops recorded in the trace list, in document order."""
        trace_list = self.trace_list
        return trace_list.trace_headers if trace_list else ()

    @property
    def business(self) -> Business | None:
        """The ``Bussiness`` block, if present."""
        trace_list = self.trace_list
        return trace_list.business if trace_list else None

    @property
    def signature(self) -> SignatureBlock | None:
        """The envelope ``Signature``, if present."""
        env_header = self.envelope.header if self.envelope else None
        return env_header.signature if env_header else None

    @property
    def manifest(self) -> Manifest | None:
        """The ``edXMLManifest``, if present."""
        body = self.envelope.body if self.envelope else None
        return body.manifest if body else None

    @property
    def files(self) -> tuple[Attachment, ...]:
        """The attached files (empty if none)."""
        return self.attachments or ()
