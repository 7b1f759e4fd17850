"""What is wrong with a package, as coded findings (kiểm tra gói tin).

Reading is tolerant (:mod:`lienthong.domain.edxml.parser` keeps whatever a producer wrote);
this module is strict and says precisely what does not meet QCVN 102:2016 and our rules,
one :class:`Finding` per problem, each with a stable code from the error catalogue and a
path to the element. Errors make a package invalid; warnings are reported and kept with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lienthong.domain.edxml.attachments import check_payload, is_safe_name
from lienthong.domain.edxml.dates import parse_date, parse_timestamp
from lienthong.domain.edxml.document_id import parse_document_id
from lienthong.domain.edxml.limits import DEFAULT_LIMITS, Limits
from lienthong.domain.edxml.model import (
    Business,
    BusinessType,
    MessageHeader,
    Package,
    ResponseFor,
    SignatureKind,
    strip_cid,
)
from lienthong.domain.errors import EdxmlError, OrgCodeError, Severity, lookup
from lienthong.domain.orgcode import read_agency_id
from lienthong.domain.priority import Priority
from lienthong.domain.status import StatusCode

ERROR = Severity.ERROR
WARNING = Severity.WARNING


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in a package: a catalogue code, where, and a detail."""

    code: str
    severity: Severity
    path: str = ""
    detail: str = ""

    @property
    def message_vi(self) -> str:
        """The catalogue message in Vietnamese."""
        return lookup(self.code).vi

    @property
    def message_en(self) -> str:
        """The catalogue message in English."""
        return lookup(self.code).en

    def as_dict(self) -> dict[str, str]:
        """A JSON-ready view."""
        return {
            "code": self.code,
            "severity": self.severity.value,
            "path": self.path,
            "detail": self.detail,
            "message_vi": self.message_vi,
            "message_en": self.message_en,
        }


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """Every finding about one package; valid when none is an error."""

    findings: tuple[Finding, ...]

    @property
    def valid(self) -> bool:
        """True if no finding is an error."""
        return not any(f.severity is ERROR for f in self.findings)

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The findings that make the package invalid."""
        return tuple(f for f in self.findings if f.severity is ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """The findings that are reported but accepted."""
        return tuple(f for f in self.findings if f.severity is WARNING)

    @property
    def codes(self) -> tuple[str, ...]:
        """The distinct codes, in order of first appearance."""
        return tuple(dict.fromkeys(f.code for f in self.findings))


class SignaturePolicy(StrEnum):
    """What to do with a missing or placeholder envelope ``Signature`` (SPEC §2, [ours])."""

    REQUIRE = "require"  #: refuse the package
    WARN = "warn"  #: accept it with a warning (the default: the samples all carry placeholders)
    IGNORE = "ignore"  #: say nothing


@dataclass(frozen=True, slots=True)
class ValidationOptions:
    """How strict to be; a hub may set these per sender or recipient."""

    limits: Limits = DEFAULT_LIMITS
    allow_legacy_ids: bool = True  #: accept ``28.22.H17``-style ids, with a warning
    signature_policy: SignaturePolicy = SignaturePolicy.WARN
    check_payloads: bool = True  #: decode base64 and unwrap ZIPs (the costly part)


DEFAULT_OPTIONS = ValidationOptions()


def validate_package(
    package: Package, options: ValidationOptions = DEFAULT_OPTIONS
) -> ValidationReport:
    """Check a package against QCVN 102:2016 and our rules; never raises for bad content."""
    return ValidationReport(tuple(_Checker(options).run(package)))


class _Checker:
    def __init__(self, options: ValidationOptions) -> None:
        self.options = options

    def run(self, package: Package) -> Iterator[Finding]:
        for code, detail in package.notes:
            yield Finding(code, WARNING, "", detail)
        envelope_header = package.envelope.header if package.envelope else None
        if envelope_header is None or envelope_header.message_header is None:
            yield Finding("edxml.missing_field", ERROR, "edXMLEnvelope/edXMLHeader/MessageHeader")
            return
        header = envelope_header.message_header
        yield from self.organ_id(header.from_.organ_id if header.from_ else None, "From/OrganId")
        if package.is_status:
            yield from self.status(header)
        else:
            yield from self.document(header)
            yield from self.traces(package)
            yield from self.attachments(package)
        yield from self.signature(package)

    # -- identifiers ----------------------------------------------------------------------
    def organ_id(self, text: str | None, path: str) -> Iterator[Finding]:
        if not text:
            yield Finding("edxml.missing_field", ERROR, path)
            return
        try:
            agency = read_agency_id(text)
        except OrgCodeError as exc:
            yield Finding("edxml.bad_organ_id", ERROR, path, exc.detail or text)
            return
        if agency.is_legacy:
            severity = WARNING if self.options.allow_legacy_ids else ERROR
            code = (
                "edxml.legacy_organ_id" if self.options.allow_legacy_ids else "edxml.bad_organ_id"
            )
            yield Finding(code, severity, path, text)

    # -- document packages --------------------------------------------------------------------
    def document(self, header: MessageHeader) -> Iterator[Finding]:
        if not header.to:
            yield Finding("edxml.no_recipient", ERROR, "To")
        seen: set[str] = set()
        for index, recipient in enumerate(header.to, start=1):
            yield from self.organ_id(recipient.organ_id, f"To[{index}]/OrganId")
            key = (recipient.organ_id or "").strip()
            if key and key in seen:
                yield Finding("edxml.duplicate_recipient", ERROR, f"To[{index}]/OrganId", key)
            seen.add(key)
        yield from self.required(
            (header.code and header.code.code_number, "Code/CodeNumber"),
            (header.code and header.code.code_notation, "Code/CodeNotation"),
            (header.subject, "Subject"),
        )
        promulgation = header.promulgation_info
        yield from self.date(
            promulgation.promulgation_date if promulgation else None,
            "PromulgationInfo/PromulgationDate",
            required=True,
        )
        yield from self.date(header.due_date, "DueDate", required=False)
        if header.document_type is None:
            yield Finding("edxml.missing_field", ERROR, "DocumentType")
        else:
            yield from self.number(header.document_type.type, "DocumentType/Type")
        yield from self.document_id(header)
        if header.other_info is not None:
            yield from self.other_info(header)
        yield from self.number(header.steering_type, "SteeringType")
        for index, ref in enumerate(header.response_for, start=1):
            if not ref.is_empty:
                yield from self.response_for(ref, f"ResponseFor[{index}]")

    def document_id(self, header: MessageHeader) -> Iterator[Finding]:
        text = header.document_id
        if not text:
            yield Finding("edxml.missing_field", ERROR, "DocumentId")
            return
        try:
            ref = parse_document_id(text)
        except ValueError as exc:
            yield Finding("edxml.bad_document_id", ERROR, "DocumentId", str(exc))
            return
        # Real producers fill DocumentId from an earlier draft (the samples disagree with
        # their own PromulgationDate), so a mismatch is reported, not refused. [ours]
        sender = header.from_.organ_id if header.from_ else None
        code = header.code
        parts = [
            ("sender", ref.organ_id, sender),
            ("number", ref.code_number, code.code_number if code else None),
            ("notation", ref.code_notation, code.code_notation if code else None),
        ]
        promulgation = header.promulgation_info
        if promulgation and promulgation.date:
            parts.append(("date", str(ref.promulgation_date), str(promulgation.date)))
        for name, in_id, in_header in parts:
            if in_header and in_id != in_header.strip():
                yield Finding(
                    "edxml.document_id_mismatch",
                    WARNING,
                    "DocumentId",
                    f"{name}: {in_id} ≠ {in_header}",
                )

    def other_info(self, header: MessageHeader) -> Iterator[Finding]:
        info = header.other_info
        assert info is not None
        if info.priority:
            try:
                Priority.parse(info.priority)
            except ValueError:
                yield Finding("edxml.bad_priority", ERROR, "OtherInfo/Priority", info.priority)
        yield from self.number(info.promulgation_amount, "OtherInfo/PromulgationAmount")
        yield from self.number(info.page_amount, "OtherInfo/PageAmount")

    def response_for(self, ref: ResponseFor, path: str) -> Iterator[Finding]:
        yield from self.organ_id(ref.organ_id, f"{path}/OrganId")
        yield from self.date(ref.promulgation_date, f"{path}/PromulgationDate", required=False)
        if not ref.document_id:
            yield Finding("edxml.missing_field", ERROR, f"{path}/DocumentId")
        else:
            try:
                parse_document_id(ref.document_id)
            except ValueError as exc:
                yield Finding("edxml.bad_document_id", WARNING, f"{path}/DocumentId", str(exc))

    def traces(self, package: Package) -> Iterator[Finding]:
        for index, trace in enumerate(package.traces, start=1):
            path = f"TraceHeaderList/TraceHeader[{index}]"
            yield from self.organ_id(trace.organ_id, f"{path}/OrganId")
            yield from self.timestamp(trace.timestamp, f"{path}/Timestamp")
        business = package.business
        if business is not None:
            yield from self.business(business, package.header)

    def business(self, business: Business, header: MessageHeader) -> Iterator[Finding]:
        path = "TraceHeaderList/Bussiness"
        if business.business_doc_type is None:
            yield Finding("edxml.missing_field", ERROR, f"{path}/BussinessDocType")
            return
        kind = business.type
        if kind is None:
            yield Finding(
                "edxml.bad_business_type",
                ERROR,
                f"{path}/BussinessDocType",
                business.business_doc_type,
            )
            return
        if kind is BusinessType.REVOKE:
            has_target = any(not r.is_empty for r in header.response_for) or business.document_id
            if not has_target:
                yield Finding("edxml.missing_field", ERROR, "ResponseFor", "revoke without target")
        elif kind is BusinessType.UPDATE:
            yield from self.update(business, path)
        elif kind is BusinessType.REPLACE:
            yield from self.replace(business, path)

    def update(self, business: Business, path: str) -> Iterator[Finding]:
        info = business.document_info
        if info is None:
            yield Finding("edxml.missing_field", ERROR, f"{path}/BussinessDocumentInfo")
            return
        for index, receiver in enumerate(info.receivers or (), start=1):
            rpath = f"{path}/BussinessDocumentInfo/ReceiverList/Receiver[{index}]"
            yield from self.organ_id(receiver.organ_id, f"{rpath}/OrganId")
            yield from self.number(receiver.receiver_type, f"{rpath}/ReceiverType")

    def replace(self, business: Business, path: str) -> Iterator[Finding]:
        if not business.replacements:
            yield Finding("edxml.missing_field", ERROR, f"{path}/ReplacementInfoList")
        for index, item in enumerate(business.replacements or (), start=1):
            ipath = f"{path}/ReplacementInfoList/ReplacementInfo[{index}]"
            if not item.document_id:
                yield Finding("edxml.missing_field", ERROR, f"{ipath}/DocumentId")
            for organ in item.organ_ids or ():
                yield from self.organ_id(organ, f"{ipath}/OrganIdList/OrganId")

    # -- attachments -------------------------------------------------------------------------
    def attachments(self, package: Package) -> Iterator[Finding]:
        files = package.files
        limits = self.options.limits
        if len(files) > limits.max_attachments:
            yield Finding("edxml.too_large", ERROR, "AttachmentEncoded", f"{len(files)} files")
            return
        manifest = package.manifest
        references = manifest.references if manifest else ()
        listed = {strip_cid(r.content_id): r for r in references}
        carried = {strip_cid(a.content_id): a for a in files}
        for index, ref in enumerate(references, start=1):
            path = f"edXMLManifest/Reference[{index}]"
            if not strip_cid(ref.content_id):
                yield Finding("edxml.missing_field", ERROR, f"{path}/ContentId")
            elif strip_cid(ref.content_id) not in carried:
                yield Finding(
                    "edxml.attachment_mismatch", ERROR, path, f"no file for {ref.content_id}"
                )
            if ref.attachment_name is not None and not is_safe_name(ref.attachment_name):
                yield Finding(
                    "edxml.bad_attachment_name",
                    ERROR,
                    f"{path}/AttachmentName",
                    repr(ref.attachment_name),
                )
        for index, attachment in enumerate(files, start=1):
            path = f"AttachmentEncoded/Attachment[{index}]"
            key = strip_cid(attachment.content_id)
            if not key:
                yield Finding("edxml.missing_field", ERROR, f"{path}/ContentId")
            elif key not in listed:
                yield Finding(
                    "edxml.attachment_mismatch",
                    ERROR,
                    path,
                    f"{attachment.content_id} not in manifest",
                )
            if not is_safe_name(attachment.attachment_name):
                yield Finding(
                    "edxml.bad_attachment_name",
                    ERROR,
                    f"{path}/AttachmentName",
                    repr(attachment.attachment_name),
                )
            if attachment.encoded is None:
                yield Finding("edxml.missing_field", ERROR, f"{path}/ContentTransferEncoded")
            elif self.options.check_payloads:
                try:
                    check_payload(attachment, limits)
                except EdxmlError as exc:
                    yield Finding(exc.code, ERROR, f"{path}/ContentTransferEncoded", exc.detail)

    # -- status packages -----------------------------------------------------------------------
    def status(self, header: MessageHeader) -> Iterator[Finding]:
        refs = [r for r in header.response_for if not r.is_empty]
        if not refs:
            yield Finding("edxml.missing_field", ERROR, "ResponseFor")
        else:
            yield from self.response_for(refs[0], "ResponseFor")
        code = None
        try:
            code = StatusCode.parse(header.status_code or "")
        except ValueError:
            yield Finding("edxml.bad_status_code", ERROR, "StatusCode", header.status_code or "")
        yield from self.timestamp(header.timestamp, "Timestamp", required=True)
        needs_reason = code in (StatusCode.REFUSED, StatusCode.RECALL_REQUESTED)
        if needs_reason and not header.description:
            yield Finding("edxml.missing_field", WARNING, "Description", "reason expected")

    # -- signature ------------------------------------------------------------------------------
    def signature(self, package: Package) -> Iterator[Finding]:
        policy = self.options.signature_policy
        if policy is SignaturePolicy.IGNORE:
            return
        severity = ERROR if policy is SignaturePolicy.REQUIRE else WARNING
        signature = package.signature
        if signature is None:
            yield Finding("edxml.missing_signature", severity, "edXMLHeader/Signature")
        elif signature.kind is SignatureKind.PLACEHOLDER:
            yield Finding("edxml.placeholder_signature", severity, "edXMLHeader/Signature")

    # -- leaves -----------------------------------------------------------------------------------
    def required(self, *pairs: tuple[Any, str]) -> Iterator[Finding]:
        for value, path in pairs:
            if not value:
                yield Finding("edxml.missing_field", ERROR, path)

    def date(self, text: str | None, path: str, *, required: bool) -> Iterator[Finding]:
        yield from self.readable(text, path, parse_date, "edxml.bad_date", required=required)

    def timestamp(self, text: str | None, path: str, *, required: bool = True) -> Iterator[Finding]:
        yield from self.readable(
            text, path, parse_timestamp, "edxml.bad_timestamp", required=required
        )

    def readable(
        self,
        text: str | None,
        path: str,
        parse: Callable[[str], object],
        code: str,
        *,
        required: bool,
    ) -> Iterator[Finding]:
        if not text:
            if required:
                yield Finding("edxml.missing_field", ERROR, path)
            return
        try:
            parse(text)
        except ValueError:
            yield Finding(code, ERROR, path, text)

    def number(self, text: str | None, path: str) -> Iterator[Finding]:
        if text and not text.strip().isdigit():
            yield Finding("edxml.bad_number", ERROR, path, text)
