"""Each defect gives its own code, severity and path — one mutation of a valid package at a time.

The starting point is a package built by :func:`build_document` (valid: its only finding is the
missing signature, a warning under the default policy). Each test changes one thing, through
:func:`dataclasses.replace` on the model or by editing the serialised bytes, and checks the exact
findings that result. Every finding's code must be in the catalogue with both messages.
"""

from __future__ import annotations

import base64
import io
import re
import zipfile
from dataclasses import replace
from datetime import datetime

import pytest

from lienthong.domain.edxml.builder import build_status, revoke_document
from lienthong.domain.edxml.limits import Limits
from lienthong.domain.edxml.model import (
    Attachment,
    Business,
    BusinessDocumentInfo,
    Code,
    ManifestReference,
    MessageHeader,
    Organization,
    Package,
    ReplacementInfo,
    ResponseFor,
    SignatureBlock,
    SignatureKind,
    TraceHeader,
)
from lienthong.domain.edxml.parser import parse_package
from lienthong.domain.edxml.serializer import serialize_package
from lienthong.domain.edxml.validation import (
    SignaturePolicy,
    ValidationOptions,
    ValidationReport,
    validate_package,
)
from lienthong.domain.errors import CATALOGUE, Severity
from lienthong.domain.status import StatusCode
from lienthong.domain.vntime import VIETNAM_TZ

pytestmark = pytest.mark.unit

ERROR, WARNING = Severity.ERROR, Severity.WARNING
NO_SIGNATURE = ("edxml.missing_signature", WARNING, "edXMLHeader/Signature")
#: The envelope signature as the samples carry it: XML-DSig's look, without its namespace.
PLACEHOLDER_SIGNATURE = b"""<Signature>
        <SignedInfo>
          <CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315" />
          <SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1" />
          <Reference URI="">
            <DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1" />
            <DigestValue>FwgIqsSYJshUS2+wlOM61L+q7Aw=</DigestValue>
          </Reference>
        </SignedInfo>
        <SignatureValue>GbVb8n9+qFxz466Ag0sbpVdLPs2R0+9JBekp12UyarAZ</SignatureValue>
        <KeyInfo><X509Data><X509Certificate>MIIFqTCCBJG</X509Certificate></X509Data></KeyInfo>
      </Signature>"""


# --- helpers -------------------------------------------------------------------------------------


def validate(package: Package, **options: object) -> ValidationReport:
    """Validate, and check that every finding speaks the catalogue in both languages."""
    report = validate_package(package, ValidationOptions(**options))  # type: ignore[arg-type]
    for finding in report.findings:
        assert finding.code in CATALOGUE, finding
        assert finding.message_vi.strip(), finding
        assert finding.message_en.strip(), finding
        assert finding.as_dict()["code"] == finding.code
    return report


def triples(findings: object) -> list[tuple[str, Severity, str]]:
    return [(f.code, f.severity, f.path) for f in findings]  # type: ignore[attr-defined]


def only_error(report: ValidationReport, code: str, path: str) -> None:
    """The report holds exactly one error, the expected one, and is invalid."""
    assert triples(report.errors) == [(code, ERROR, path)]
    assert not report.valid
    assert code in report.codes


def with_header(package: Package, **changes: object) -> Package:
    assert package.envelope is not None
    assert package.envelope.header is not None
    header = replace(package.header, **changes)  # type: ignore[arg-type]
    env_header = replace(package.envelope.header, message_header=header)
    return replace(package, envelope=replace(package.envelope, header=env_header))


def with_business(package: Package, business: Business | None) -> Package:
    assert package.envelope is not None
    assert package.envelope.header is not None
    assert package.trace_list is not None
    trace_list = replace(package.trace_list, business=business)
    env_header = replace(package.envelope.header, trace_header_list=trace_list)
    return replace(package, envelope=replace(package.envelope, header=env_header))


def with_traces(package: Package, traces: tuple[TraceHeader, ...]) -> Package:
    assert package.envelope is not None
    assert package.envelope.header is not None
    assert package.trace_list is not None
    trace_list = replace(package.trace_list, trace_headers=traces)
    env_header = replace(package.envelope.header, trace_header_list=trace_list)
    return replace(package, envelope=replace(package.envelope, header=env_header))


def with_references(package: Package, references: tuple[ManifestReference, ...]) -> Package:
    assert package.envelope is not None
    assert package.envelope.body is not None
    assert package.manifest is not None
    manifest = replace(package.manifest, references=references)
    body = replace(package.envelope.body, manifest=manifest)
    return replace(package, envelope=replace(package.envelope, body=body))


def with_attachment(package: Package, index: int, **changes: object) -> Package:
    files = list(package.files)
    source = files[index]
    files[index] = Attachment(  # a fresh value: Attachment caches its decoded bytes
        content_id=changes.get("content_id", source.content_id),  # type: ignore[arg-type]
        attachment_name=changes.get("attachment_name", source.attachment_name),  # type: ignore[arg-type]
        description=source.description,
        content_type=source.content_type,
        encoded=changes.get("encoded", source.encoded),  # type: ignore[arg-type]
    )
    return replace(package, attachments=tuple(files))


def edited_bytes(data: bytes, old: bytes, new: bytes) -> Package:
    """The package read back after replacing ``old`` (which must occur once) by ``new``."""
    assert data.count(old) == 1, old
    return parse_package(data.replace(old, new))


# --- the baseline --------------------------------------------------------------------------------


def test_the_built_package_is_valid(valid_package: Package, valid_package_bytes: bytes) -> None:
    report = validate(valid_package)
    assert report.valid
    assert triples(report.findings) == [NO_SIGNATURE]
    assert triples(validate(parse_package(valid_package_bytes)).findings) == [NO_SIGNATURE]


# --- identifiers ---------------------------------------------------------------------------------


def test_missing_sender_organ_id(valid_package: Package) -> None:
    sender = replace(valid_package.header.from_, organ_id=None)  # type: ignore[type-var]
    only_error(
        validate(with_header(valid_package, from_=sender)), "edxml.missing_field", "From/OrganId"
    )


def test_missing_sender(valid_package: Package) -> None:
    only_error(
        validate(with_header(valid_package, from_=None)), "edxml.missing_field", "From/OrganId"
    )


@pytest.mark.parametrize("organ_id", ["not an id!", "000.00.00.G22;DROP", "x" * 40, "Đ.00.00.G22"])
def test_bad_sender_organ_id(valid_package: Package, organ_id: str) -> None:
    sender = replace(valid_package.header.from_, organ_id=organ_id)  # type: ignore[type-var]
    report = validate(with_header(valid_package, from_=sender))
    only_error(report, "edxml.bad_organ_id", "From/OrganId")


@pytest.mark.parametrize("organ_id", ["28.22.H17", "777.77.04.D77"])
def test_legacy_sender_organ_id_is_a_warning_or_an_error(
    valid_package: Package, organ_id: str
) -> None:
    sender = replace(valid_package.header.from_, organ_id=organ_id)  # type: ignore[type-var]
    package = with_header(valid_package, from_=sender)
    tolerant = validate(package)
    assert tolerant.valid
    assert ("edxml.legacy_organ_id", WARNING, "From/OrganId") in triples(tolerant.warnings)
    assert tolerant.errors == ()
    strict = validate(package, allow_legacy_ids=False)
    only_error(strict, "edxml.bad_organ_id", "From/OrganId")
    assert "edxml.legacy_organ_id" not in strict.codes


def test_bad_recipient_organ_id(valid_package: Package) -> None:
    recipients = (valid_package.header.to[0], Organization(organ_id="??"))
    only_error(
        validate(with_header(valid_package, to=recipients)), "edxml.bad_organ_id", "To[2]/OrganId"
    )


def test_no_recipient(valid_package: Package) -> None:
    only_error(validate(with_header(valid_package, to=())), "edxml.no_recipient", "To")


@pytest.mark.parametrize("spelling", ["000.00.00.H41", " 000.00.00.H41 "])
def test_duplicate_recipient(valid_package: Package, spelling: str) -> None:
    first, second = valid_package.header.to
    again = Organization(organ_id=spelling, organ_name="Lặp lại")
    report = validate(with_header(valid_package, to=(first, second, again)))
    only_error(report, "edxml.duplicate_recipient", "To[3]/OrganId")


# --- required fields, dates, numbers -------------------------------------------------------------


@pytest.mark.parametrize("number", [None, ""])
def test_missing_code_number(valid_package: Package, number: str | None) -> None:
    package = with_header(valid_package, code=Code(number, "VPCP-TTĐT"))
    only_error(validate(package), "edxml.missing_field", "Code/CodeNumber")


def test_missing_code_notation(valid_package: Package) -> None:
    package = with_header(valid_package, code=Code("7816", None))
    only_error(validate(package), "edxml.missing_field", "Code/CodeNotation")


@pytest.mark.parametrize("subject", [None, ""])
def test_missing_subject(valid_package: Package, subject: str | None) -> None:
    only_error(
        validate(with_header(valid_package, subject=subject)), "edxml.missing_field", "Subject"
    )


def test_empty_subject_in_the_bytes(valid_package_bytes: bytes) -> None:
    subject = re.compile(rb"<edXML:Subject>[^<]*</edXML:Subject>")
    assert len(subject.findall(valid_package_bytes)) == 1
    package = parse_package(subject.sub(b"<edXML:Subject/>", valid_package_bytes))
    assert package.header.subject == ""
    only_error(validate(package), "edxml.missing_field", "Subject")


@pytest.mark.parametrize("text", ["2014/02/30", "2015/13/01", "30-09-2015", "hôm nay"])
def test_bad_promulgation_date(valid_package_bytes: bytes, text: str) -> None:
    package = edited_bytes(
        valid_package_bytes,
        b"<edXML:PromulgationDate>2015/09/30<",
        f"<edXML:PromulgationDate>{text}<".encode(),
    )
    report = validate(package)
    only_error(report, "edxml.bad_date", "PromulgationInfo/PromulgationDate")
    assert report.errors[0].detail == text


def test_other_producers_date_order_is_accepted(valid_package_bytes: bytes) -> None:
    package = edited_bytes(
        valid_package_bytes,
        b"<edXML:PromulgationDate>2015/09/30<",
        b"<edXML:PromulgationDate>30/09/2015<",
    )
    assert validate(package).valid
    assert package.header.promulgation_info.promulgation_date == "2015/09/30"  # type: ignore[union-attr]


def test_missing_promulgation_date(valid_package: Package) -> None:
    info = replace(valid_package.header.promulgation_info, promulgation_date=None)  # type: ignore[type-var]
    report = validate(with_header(valid_package, promulgation_info=info))
    only_error(report, "edxml.missing_field", "PromulgationInfo/PromulgationDate")


@pytest.mark.parametrize("text", ["2015/10/32", "2015/02/29", "tomorrow"])
def test_bad_due_date(valid_package: Package, text: str) -> None:
    only_error(validate(with_header(valid_package, due_date=text)), "edxml.bad_date", "DueDate")


@pytest.mark.parametrize("priority", ["7", "-1", "khẩn", "01", "0 1"])
def test_bad_priority(valid_package: Package, priority: str) -> None:
    other = replace(valid_package.header.other_info, priority=priority)  # type: ignore[type-var]
    report = validate(with_header(valid_package, other_info=other))
    only_error(report, "edxml.bad_priority", "OtherInfo/Priority")


@pytest.mark.parametrize("priority", ["0", "1", "2", "3", " 3 "])
def test_good_priorities(valid_package: Package, priority: str) -> None:
    other = replace(valid_package.header.other_info, priority=priority)  # type: ignore[type-var]
    assert validate(with_header(valid_package, other_info=other)).valid


@pytest.mark.parametrize("pages", ["hai", "2.5", "-2", "2 trang"])
def test_non_numeric_page_amount(valid_package: Package, pages: str) -> None:
    other = replace(valid_package.header.other_info, page_amount=pages)  # type: ignore[type-var]
    report = validate(with_header(valid_package, other_info=other))
    only_error(report, "edxml.bad_number", "OtherInfo/PageAmount")


def test_non_numeric_document_type(valid_package: Package) -> None:
    kind = replace(valid_package.header.document_type, type="CV")  # type: ignore[type-var]
    report = validate(with_header(valid_package, document_type=kind))
    only_error(report, "edxml.bad_number", "DocumentType/Type")


@pytest.mark.parametrize(
    "document_id",
    [
        "garbage",
        "000.00.00.G22,2015/09/30",
        "000.00.00.G22,2015/02/30,7816/VPCP-TTĐT",
        ",2015/09/30,7816/VPCP-TTĐT",
        "000.00.00.G22,2015/09/30,7816",
    ],
)
def test_bad_document_id(valid_package: Package, document_id: str) -> None:
    report = validate(with_header(valid_package, document_id=document_id))
    only_error(report, "edxml.bad_document_id", "DocumentId")


def test_missing_document_id(valid_package: Package) -> None:
    only_error(
        validate(with_header(valid_package, document_id=None)), "edxml.missing_field", "DocumentId"
    )


@pytest.mark.parametrize(
    ("document_id", "part"),
    [
        ("000.00.00.G01,2015/09/30,7816/VPCP-TTĐT", "sender"),
        ("000.00.00.G22,2015/09/29,7816/VPCP-TTĐT", "date"),
        ("000.00.00.G22,2015/09/30,7817/VPCP-TTĐT", "number"),
        ("000.00.00.G22,2015/09/30,7816/VPCP-KGVX", "notation"),
    ],
)
def test_document_id_mismatch_is_only_a_warning(
    valid_package: Package, document_id: str, part: str
) -> None:
    report = validate(with_header(valid_package, document_id=document_id))
    assert report.valid
    mismatches = [f for f in report.warnings if f.code == "edxml.document_id_mismatch"]
    assert triples(mismatches) == [("edxml.document_id_mismatch", WARNING, "DocumentId")]
    assert mismatches[0].detail.startswith(f"{part}:")


def test_bad_trace_timestamp(valid_package: Package) -> None:
    traces = (TraceHeader("000.00.00.G22", "2015/09/30 25:61:00"),)
    report = validate(with_traces(valid_package, traces))
    only_error(report, "edxml.bad_timestamp", "TraceHeaderList/TraceHeader[1]/Timestamp")


def test_bad_trace_organ_id(valid_package: Package) -> None:
    traces = (*valid_package.traces, TraceHeader("bad id!", "2015/09/30 11:00:00"))
    report = validate(with_traces(valid_package, traces))
    only_error(report, "edxml.bad_organ_id", "TraceHeaderList/TraceHeader[2]/OrganId")


# --- attachments ---------------------------------------------------------------------------------


def test_manifest_reference_without_attachment(valid_package: Package) -> None:
    package = replace(valid_package, attachments=valid_package.files[:1])
    only_error(validate(package), "edxml.attachment_mismatch", "edXMLManifest/Reference[2]")


def test_attachment_without_manifest_reference(valid_package: Package) -> None:
    assert valid_package.manifest is not None
    package = with_references(valid_package, valid_package.manifest.references[:1])
    only_error(validate(package), "edxml.attachment_mismatch", "AttachmentEncoded/Attachment[2]")


@pytest.mark.parametrize(
    ("in_manifest", "in_attachment"), [("cid:1", "1"), ("1", "cid:1"), ("CID:1", "1")]
)
def test_cid_prefix_in_one_place_only_still_matches(
    valid_package: Package, in_manifest: str, in_attachment: str
) -> None:
    assert valid_package.manifest is not None
    references = valid_package.manifest.references
    first = replace(references[0], content_id=in_manifest)
    package = with_references(valid_package, (first, *references[1:]))
    package = with_attachment(package, 0, content_id=in_attachment)
    report = validate(package)
    assert report.valid
    assert "edxml.attachment_mismatch" not in report.codes


def test_different_content_ids_do_not_match(valid_package: Package) -> None:
    # The control for the test above: a different id is a mismatch, both ways.
    report = validate(with_attachment(valid_package, 0, content_id="cid:9"))
    assert triples(report.errors) == [
        ("edxml.attachment_mismatch", ERROR, "edXMLManifest/Reference[1]"),
        ("edxml.attachment_mismatch", ERROR, "AttachmentEncoded/Attachment[1]"),
    ]


@pytest.mark.parametrize("encoded", ["!!!notbase64", "QUJD=", "QUJ"])
def test_bad_base64(valid_package: Package, encoded: str) -> None:
    package = with_attachment(valid_package, 0, encoded=encoded)
    path = "AttachmentEncoded/Attachment[1]/ContentTransferEncoded"
    only_error(validate(package), "edxml.bad_base64", path)
    assert validate(package, check_payloads=False).valid  # the costly check can be skipped


def test_missing_payload(valid_package: Package) -> None:
    package = with_attachment(valid_package, 0, encoded=None)
    path = "AttachmentEncoded/Attachment[1]/ContentTransferEncoded"
    only_error(validate(package), "edxml.missing_field", path)


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "C:\\Windows\\x.dll", ""])
def test_unsafe_attachment_name(valid_package: Package, name: str) -> None:
    package = with_attachment(valid_package, 0, attachment_name=name)
    path = "AttachmentEncoded/Attachment[1]/AttachmentName"
    only_error(validate(package), "edxml.bad_attachment_name", path)


def test_unsafe_name_in_the_manifest(valid_package: Package) -> None:
    assert valid_package.manifest is not None
    references = valid_package.manifest.references
    bad = replace(references[0], attachment_name="../evil.pdf")
    package = with_references(valid_package, (bad, *references[1:]))
    only_error(
        validate(package), "edxml.bad_attachment_name", "edXMLManifest/Reference[1]/AttachmentName"
    )


def _zip_of(name: str, data: bytes) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@pytest.mark.parametrize(
    ("encoded", "code"),
    [
        (_zip_of("zeros.bin", bytes(2_000_000)), "edxml.zip_bomb"),
        (_zip_of("../evil.pdf", b"%PDF"), "edxml.bad_attachment_name"),
        (base64.b64encode(b"PK\x03\x04 truncated").decode(), "edxml.bad_zip"),
    ],
    ids=["bomb", "traversal", "corrupt"],
)
def test_hostile_zip_payload(valid_package: Package, encoded: str, code: str) -> None:
    package = with_attachment(valid_package, 1, encoded=encoded)
    path = "AttachmentEncoded/Attachment[2]/ContentTransferEncoded"
    only_error(validate(package), code, path)
    assert validate(package, check_payloads=False).valid


def test_too_many_attachments(valid_package: Package) -> None:
    report = validate(valid_package, limits=Limits(max_attachments=1))
    only_error(report, "edxml.too_large", "AttachmentEncoded")


# --- business types ------------------------------------------------------------------------------


def test_revoke_without_target(valid_package: Package) -> None:
    package = with_business(valid_package, Business(business_doc_type="1"))
    only_error(validate(package), "edxml.missing_field", "ResponseFor")


def test_revoke_with_a_target_is_valid(valid_package: Package) -> None:
    target = "000.00.00.G22,2015/09/01,7000/VPCP-TTĐT"
    assert validate(with_business(valid_package, revoke_document(target))).valid
    reference = ResponseFor("000.00.00.G22", "7000/VPCP-TTĐT", "2015/09/01", target)
    by_response = with_header(valid_package, response_for=(reference,))
    assert validate(with_business(by_response, Business(business_doc_type="1"))).valid


def test_update_without_business_document_info(valid_package: Package) -> None:
    package = with_business(valid_package, Business(business_doc_type="2"))
    path = "TraceHeaderList/Bussiness/BussinessDocumentInfo"
    only_error(validate(package), "edxml.missing_field", path)


def test_update_with_business_document_info_is_valid(valid_package: Package) -> None:
    info = BusinessDocumentInfo(document_info="1", document_receiver="0")
    business = Business(business_doc_type="2", document_info=info)
    assert validate(with_business(valid_package, business)).valid


def test_replace_without_replacement_list(valid_package: Package) -> None:
    package = with_business(valid_package, Business(business_doc_type="3"))
    path = "TraceHeaderList/Bussiness/ReplacementInfoList"
    only_error(validate(package), "edxml.missing_field", path)


def test_replace_with_an_item_without_document_id(valid_package: Package) -> None:
    item = ReplacementInfo(document_id=None, organ_ids=("000.00.00.H41",))
    package = with_business(valid_package, Business(business_doc_type="3", replacements=(item,)))
    path = "TraceHeaderList/Bussiness/ReplacementInfoList/ReplacementInfo[1]/DocumentId"
    only_error(validate(package), "edxml.missing_field", path)


@pytest.mark.parametrize("kind", ["9", "x", "-1", "4", "1.0"])
def test_bad_business_type(valid_package: Package, kind: str) -> None:
    package = with_business(valid_package, Business(business_doc_type=kind))
    only_error(
        validate(package), "edxml.bad_business_type", "TraceHeaderList/Bussiness/BussinessDocType"
    )


def test_missing_business_type(valid_package: Package) -> None:
    package = with_business(valid_package, Business(business_doc_reason="?"))
    path = "TraceHeaderList/Bussiness/BussinessDocType"
    only_error(validate(package), "edxml.missing_field", path)


# --- status packages -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def status_package(valid_package: Package) -> Package:
    return build_status(
        sender=Organization(organ_id="000.00.00.H41", organ_name="UBND Tỉnh Nghệ An"),
        original=valid_package.header,
        status=StatusCode.ACCEPTED,
        at=datetime(2015, 10, 1, 8, 30, tzinfo=VIETNAM_TZ),
    )


def test_the_built_status_package_is_valid(status_package: Package) -> None:
    assert status_package.is_status
    report = validate(status_package)
    assert triples(report.findings) == [NO_SIGNATURE]
    assert triples(validate(parse_package(serialize_package(status_package))).findings) == [
        NO_SIGNATURE
    ]


@pytest.mark.parametrize("code", ["99", "7", "00", "abc", "", "011"])
def test_status_with_bad_status_code(status_package: Package, code: str) -> None:
    report = validate(with_header(status_package, status_code=code))
    only_error(report, "edxml.bad_status_code", "StatusCode")


def test_status_missing_timestamp(status_package: Package) -> None:
    only_error(
        validate(with_header(status_package, timestamp=None)), "edxml.missing_field", "Timestamp"
    )


@pytest.mark.parametrize("text", ["2015/02/30 10:00:00", "2015/10/01 24:00:00", "now"])
def test_status_bad_timestamp(status_package: Package, text: str) -> None:
    only_error(
        validate(with_header(status_package, timestamp=text)), "edxml.bad_timestamp", "Timestamp"
    )


@pytest.mark.parametrize("response_for", [(), (ResponseFor(),)], ids=["absent", "empty"])
def test_status_missing_response_for(
    status_package: Package, response_for: tuple[ResponseFor, ...]
) -> None:
    report = validate(with_header(status_package, response_for=response_for))
    only_error(report, "edxml.missing_field", "ResponseFor")


def test_status_response_for_without_document_id(status_package: Package) -> None:
    target = replace(status_package.header.response_for[0], document_id=None)
    report = validate(with_header(status_package, response_for=(target,)))
    only_error(report, "edxml.missing_field", "ResponseFor/DocumentId")


def test_status_bad_sender(status_package: Package) -> None:
    report = validate(with_header(status_package, from_=Organization(organ_id="nope nope")))
    only_error(report, "edxml.bad_organ_id", "From/OrganId")


@pytest.mark.parametrize("code", [StatusCode.REFUSED, StatusCode.RECALL_REQUESTED])
def test_status_needing_a_reason_warns_without_one(
    status_package: Package, code: StatusCode
) -> None:
    report = validate(with_header(status_package, status_code=code.value, description=None))
    assert report.valid
    assert ("edxml.missing_field", WARNING, "Description") in triples(report.warnings)


def test_status_header_named_status_is_read(status_package: Package) -> None:
    data = serialize_package(status_package).replace(b"MessageHeader>", b"Status>")
    assert b"<edXML:Status>" in data
    assert triples(validate(parse_package(data)).findings) == [NO_SIGNATURE]


def test_package_without_message_header() -> None:
    report = validate(Package())
    only_error(report, "edxml.missing_field", "edXMLEnvelope/edXMLHeader/MessageHeader")
    assert Package().header == MessageHeader()


# --- signatures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def placeholder_package(valid_package_bytes: bytes) -> Package:
    end = b"</edXML:edXMLHeader>"
    assert valid_package_bytes.count(end) == 1
    package = parse_package(valid_package_bytes.replace(end, PLACEHOLDER_SIGNATURE + end))
    assert package.signature is not None
    assert package.signature.kind is SignatureKind.PLACEHOLDER
    return package


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (SignaturePolicy.WARN, [("edxml.missing_signature", WARNING, "edXMLHeader/Signature")]),
        (SignaturePolicy.REQUIRE, [("edxml.missing_signature", ERROR, "edXMLHeader/Signature")]),
        (SignaturePolicy.IGNORE, []),
    ],
)
def test_missing_signature_under_each_policy(
    valid_package: Package, policy: SignaturePolicy, expected: list[tuple[str, Severity, str]]
) -> None:
    assert valid_package.signature is None
    report = validate(valid_package, signature_policy=policy)
    assert triples(report.findings) == expected
    assert report.valid is (policy is not SignaturePolicy.REQUIRE)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (SignaturePolicy.WARN, [("edxml.placeholder_signature", WARNING, "edXMLHeader/Signature")]),
        (
            SignaturePolicy.REQUIRE,
            [("edxml.placeholder_signature", ERROR, "edXMLHeader/Signature")],
        ),
        (SignaturePolicy.IGNORE, []),
    ],
)
def test_placeholder_signature_under_each_policy(
    placeholder_package: Package,
    policy: SignaturePolicy,
    expected: list[tuple[str, Severity, str]],
) -> None:
    report = validate(placeholder_package, signature_policy=policy)
    assert triples(report.findings) == expected
    assert report.valid is (policy is not SignaturePolicy.REQUIRE)


def test_xmldsig_signature_is_left_to_the_signing_module(valid_package: Package) -> None:
    assert valid_package.envelope is not None
    assert valid_package.envelope.header is not None
    signature = SignatureBlock(
        SignatureKind.XMLDSIG, '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/>'
    )
    env_header = replace(valid_package.envelope.header, signature=signature)
    package = replace(valid_package, envelope=replace(valid_package.envelope, header=env_header))
    report = validate(package, signature_policy=SignaturePolicy.REQUIRE)
    assert report.findings == ()


# --- notes from reading --------------------------------------------------------------------------


def test_repaired_xml_is_reported_as_a_warning(valid_package_bytes: bytes) -> None:
    broken = valid_package_bytes.replace(b"<edXML:From>", b"<edXML:From><edXML:From>", 1)
    package = parse_package(broken)
    report = validate(package)
    assert report.valid
    assert ("edxml.malformed_xml_repaired", WARNING, "") in triples(report.warnings)
