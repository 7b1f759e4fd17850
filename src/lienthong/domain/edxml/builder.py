"""Building packages from what a clerk knows (soạn gói tin): DocumentId, trace and manifest
are derived here, never typed by hand."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, TypeVar

from lienthong.domain.edxml.dates import format_date, format_timestamp
from lienthong.domain.edxml.document_id import make_document_id
from lienthong.domain.edxml.model import (
    Attachment,
    Business,
    BusinessType,
    Code,
    DocumentType,
    Envelope,
    EnvelopeBody,
    EnvelopeHeader,
    Manifest,
    ManifestReference,
    MessageHeader,
    Organization,
    OtherInfo,
    Package,
    PromulgationInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    TraceHeader,
    TraceHeaderList,
)
from lienthong.domain.priority import Priority
from lienthong.domain.status import StatusCode

MANIFEST_VERSION = "1.0"
_T = TypeVar("_T")
#: The most common document type: a letter (công văn).
LETTER = DocumentType("1", "0", "Công văn")


@dataclass(frozen=True, slots=True)
class FileToAttach:
    """A file to carry in the package (the signed PDF, an appendix …)."""

    name: str
    data: bytes
    content_type: str = "application/pdf"
    description: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentDraft:
    """Everything needed to build a document package; the rest is derived."""

    sender: Organization
    recipients: Sequence[Organization]
    code_number: str
    code_notation: str
    promulgation_date: date
    place: str
    subject: str
    document_type: DocumentType = LETTER
    content: str | None = None
    signer: SignerInfo | None = None
    priority: Priority = Priority.NORMAL
    due_date: date | None = None
    to_places: Sequence[str] = ()
    sphere_of_promulgation: str | None = None
    typer_notation: str | None = None
    promulgation_amount: int | None = None
    page_amount: int | None = None
    appendixes: Sequence[str] = ()
    steering_type: str | None = "1"
    response_for: Sequence[ResponseFor] = ()
    files: Sequence[FileToAttach] = ()
    business: Business | None = None  #: ``None``: a new document


def build_document(draft: DocumentDraft, *, now: datetime) -> Package:
    """Build a document package sent at ``now`` (its first trace entry is the sender's)."""
    sender_id = (draft.sender.organ_id or "").strip()
    header = MessageHeader(
        from_=draft.sender,
        to=tuple(draft.recipients),
        document_id=make_document_id(
            sender_id,
            draft.promulgation_date,
            draft.code_number.strip(),
            draft.code_notation.strip(),
        ),
        code=Code(draft.code_number, draft.code_notation),
        promulgation_info=PromulgationInfo(draft.place, format_date(draft.promulgation_date)),
        document_type=draft.document_type,
        subject=draft.subject,
        content=draft.content if draft.content is not None else draft.subject,
        signer_info=draft.signer,
        due_date=format_date(draft.due_date) if draft.due_date else None,
        other_info=OtherInfo(
            priority=str(int(draft.priority)),
            sphere_of_promulgation=draft.sphere_of_promulgation,
            typer_notation=draft.typer_notation,
            promulgation_amount=_text(draft.promulgation_amount),
            page_amount=_text(draft.page_amount),
            appendixes=tuple(draft.appendixes) or None,
        ),
        response_for=tuple(draft.response_for),
        steering_type=draft.steering_type,
        to_places=tuple(draft.to_places) or None,
    )
    references, attachments = _attach(draft.files)
    package = Package(
        envelope=Envelope(
            header=EnvelopeHeader(
                message_header=header,
                trace_header_list=TraceHeaderList(
                    trace_headers=(TraceHeader(sender_id, format_timestamp(now)),),
                    business=draft.business or new_document(),
                ),
            ),
            body=EnvelopeBody(Manifest(MANIFEST_VERSION, references)),
        ),
        attachments=attachments,
    )
    return _stripped(package)


def _stripped(obj: _T) -> _T:
    """``obj`` with leaf text stripped, as the parser reads it: a built package then equals
    itself read back (``" V/v … "`` would otherwise come back as ``"V/v …"``)."""
    changes: dict[str, Any] = {}
    for spec in type(obj).__edxml__:  # type: ignore[attr-defined]
        value = getattr(obj, spec.attr)
        if value is None:
            continue
        if spec.kind in ("text", "date", "timestamp"):
            new = value.strip()
        elif spec.kind == "texts":
            new = tuple(item.strip() for item in value)
        elif spec.kind == "child":
            new = _stripped(value)
        elif spec.kind in ("children", "wrapped"):
            new = tuple(_stripped(item) for item in value)
        else:
            continue
        if new != value:
            changes[spec.attr] = new
    return replace(obj, **changes) if changes else obj  # type: ignore[type-var]


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


def _attach(
    files: Sequence[FileToAttach],
) -> tuple[tuple[ManifestReference, ...], tuple[Attachment, ...]]:
    references: list[ManifestReference] = []
    attachments: list[Attachment] = []
    for index, item in enumerate(files, start=1):
        content_id = f"cid:{index}"
        description = item.description or item.name
        references.append(ManifestReference(content_id, item.content_type, description, item.name))
        attachments.append(
            Attachment(
                content_id=content_id,
                attachment_name=item.name,
                description=description,
                content_type=item.content_type,
                encoded=base64.b64encode(item.data).decode("ascii"),
            )
        )
    return tuple(references), tuple(attachments)


# -- business blocks (Bussiness) ---------------------------------------------------------------
def new_document(reason: str = "Văn bản điện tử mới", staff: StaffInfo | None = None) -> Business:
    """``BussinessDocType`` 0: a new document."""
    return Business(
        business_doc_type=str(int(BusinessType.NEW)),
        business_doc_reason=reason,
        paper="0",
        staff_info=staff,
    )


def revoke_document(
    document_id: str, reason: str = "Thu hồi văn bản điện tử", staff: StaffInfo | None = None
) -> Business:
    """``BussinessDocType`` 1: take back ``document_id`` (also name it in ``ResponseFor``)."""
    return Business(
        document_id=document_id,
        business_doc_type=str(int(BusinessType.REVOKE)),
        business_doc_reason=reason,
        paper="0",
        staff_info=staff,
    )


def with_trace(package: Package, organ_id: str, at: datetime) -> Package:
    """The package with one more hop appended to its trace list (each system adds its own)."""
    envelope = package.envelope or Envelope()
    env_header = envelope.header or EnvelopeHeader()
    trace_list = env_header.trace_header_list or TraceHeaderList()
    trace_list = replace(
        trace_list,
        trace_headers=(*trace_list.trace_headers, TraceHeader(organ_id, format_timestamp(at))),
    )
    env_header = replace(env_header, trace_header_list=trace_list)
    return replace(package, envelope=replace(envelope, header=env_header))


def build_status(
    *,
    sender: Organization,
    original: MessageHeader,
    status: StatusCode,
    at: datetime,
    description: str | None = None,
    staff: StaffInfo | None = None,
) -> Package:
    """A status package (phản hồi trạng thái) about ``original``, addressed to its sender."""
    code = original.code or Code()
    promulgation = original.promulgation_info or PromulgationInfo()
    header = MessageHeader(
        from_=sender,
        response_for=(
            ResponseFor(
                organ_id=original.from_.organ_id if original.from_ else None,
                code=str(code),
                promulgation_date=promulgation.promulgation_date,
                document_id=original.document_id,
            ),
        ),
        staff_info=staff,
        status_code=status.value,
        description=description if description is not None else status.vietnamese_label,
        timestamp=format_timestamp(at),
    )
    return _stripped(Package(envelope=Envelope(header=EnvelopeHeader(message_header=header))))
