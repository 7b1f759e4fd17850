"""Building packages: what the clerk knows in, DocumentId, trace and manifest derived."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lienthong.domain.edxml import Package, parse_package, serialize_package
from lienthong.domain.edxml.builder import (
    DocumentDraft,
    FileToAttach,
    build_document,
    build_status,
    new_document,
    revoke_document,
    with_trace,
)
from lienthong.domain.edxml.business import business_type, target_document_id
from lienthong.domain.edxml.document_id import parse_document_id
from lienthong.domain.edxml.model import (
    BusinessType,
    Organization,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    TraceHeader,
    strip_cid,
)
from lienthong.domain.priority import Priority
from lienthong.domain.status import StatusCode
from lienthong.domain.vntime import VIETNAM_TZ

from .strategies import leaf_text

pytestmark = pytest.mark.unit

SENDER = Organization(
    organ_id="000.00.00.G22",
    organization_in_charge="Văn phòng Chính phủ",
    organ_name="Văn phòng Chính phủ",
    organ_add="Số 1 Hoàng Hoa Thám, Quận Ba Đình, Hà Nội",
    email="vpcp@gov.vn",
)
NGHE_AN = Organization(organ_id="000.00.00.H41", organ_name="UBND Tỉnh Nghệ An")
CAO_BANG = Organization(organ_id="000.00.00.H14", organ_name="UBND Tỉnh Cao Bằng")
PDF = b"%PDF-1.7\n% c\xc3\xb4ng v\xc4\x83n\n%%EOF\n"
#: 2026-11-26 17:30 UTC is already 27 November in Vietnam.
NOW = datetime(2026, 11, 26, 17, 30, tzinfo=UTC)


def _zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


APPENDIX = _zip("phu-luc.pdf", PDF * 3)


def _draft(**changes: object) -> DocumentDraft:
    draft = DocumentDraft(
        sender=SENDER,
        recipients=[NGHE_AN, CAO_BANG],
        code_number="7816",
        code_notation="VPCP-TTĐT",
        promulgation_date=date(2026, 11, 26),
        place="Hà Nội",
        subject="V/v kết nối, liên thông phần mềm quản lý văn bản",
        signer=SignerInfo("TL. BỘ TRƯỞNG", "Cục trưởng", "Nguyễn Văn A"),
        files=[
            FileToAttach("cong-van.pdf", PDF),
            FileToAttach("phu-luc.zip", APPENDIX, "application/zip", "Phụ lục kèm theo"),
        ],
    )
    return dataclasses.replace(draft, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def built() -> Package:
    return build_document(_draft(), now=NOW)


# --------------------------------------------------------------------------- header
def test_document_id_is_derived_from_sender_date_number_and_notation(built: Package) -> None:
    assert built.header.document_id == "000.00.00.G22,2026/11/26,7816/VPCP-TTĐT"
    ref = parse_document_id(built.header.document_id)
    assert ref.organ_id == "000.00.00.G22"
    assert ref.promulgation_date == date(2026, 11, 26)
    assert (ref.code_number, ref.code_notation) == ("7816", "VPCP-TTĐT")


def test_header_carries_the_draft(built: Package) -> None:
    header = built.header
    assert built.kind == "document"
    assert header.from_ == SENDER
    assert header.to == (NGHE_AN, CAO_BANG)
    assert header.code is not None
    assert str(header.code) == "7816/VPCP-TTĐT"
    assert header.promulgation_info is not None
    assert header.promulgation_info.place == "Hà Nội"
    assert header.promulgation_info.promulgation_date == "2026/11/26"
    assert header.promulgation_info.date == date(2026, 11, 26)
    assert header.document_type is not None
    assert header.document_type.type_name == "Công văn"
    assert header.subject == "V/v kết nối, liên thông phần mềm quản lý văn bản"
    assert header.content == header.subject  # no content given: the subject
    assert header.signer_info == SignerInfo("TL. BỘ TRƯỞNG", "Cục trưởng", "Nguyễn Văn A")
    assert header.due_date is None
    assert header.to_places is None
    assert header.response_for == ()
    assert header.steering_type == "1"
    assert header.other_info is not None
    assert header.other_info.priority == "0"
    assert header.other_info.urgency is Priority.NORMAL
    assert header.other_info.appendixes is None
    assert header.status_code is None


def test_optional_draft_fields_are_written() -> None:
    package = build_document(
        _draft(
            content="Nội dung",
            priority=Priority.FLASH,
            due_date=date(2026, 12, 1),
            to_places=["Các bộ", "UBND các tỉnh"],
            appendixes=["Phụ lục I"],
            promulgation_amount=2,
            page_amount=22,
            sphere_of_promulgation="Liên thông văn bản quốc gia",
        ),
        now=NOW,
    )
    header = package.header
    assert header.content == "Nội dung"
    assert header.due_date == "2026/12/01"
    assert header.to_places == ("Các bộ", "UBND các tỉnh")
    assert header.other_info is not None
    assert header.other_info.priority == "3"
    assert header.other_info.urgency is Priority.FLASH
    assert header.other_info.appendixes == ("Phụ lục I",)
    assert header.other_info.promulgation_amount == "2"
    assert header.other_info.page_amount == "22"
    assert parse_package(serialize_package(package)) == package


# --------------------------------------------------------------------------- trace
def test_one_trace_entry_by_the_sender_in_vietnam_time(built: Package) -> None:
    assert built.traces == (TraceHeader("000.00.00.G22", "2026/11/27 00:30:00"),)
    assert built.traces[0].at == NOW
    assert built.traces[0].at is not None
    assert built.traces[0].at.tzinfo == VIETNAM_TZ


@pytest.mark.parametrize(
    ("now", "written"),
    [
        (datetime(2026, 11, 26, 17, 30, tzinfo=UTC), "2026/11/27 00:30:00"),
        (datetime(2026, 11, 27, 0, 30, tzinfo=VIETNAM_TZ), "2026/11/27 00:30:00"),
        (datetime(2026, 11, 27, 2, 30, tzinfo=timezone(timedelta(hours=9))), "2026/11/27 00:30:00"),
        (datetime(2026, 12, 31, 16, 59, 59, 999_999, tzinfo=UTC), "2026/12/31 23:59:59"),
        (datetime(2026, 12, 31, 17, 0, tzinfo=UTC), "2027/01/01 00:00:00"),
    ],
)
def test_trace_timestamp_is_vietnam_local_time(now: datetime, written: str) -> None:
    assert build_document(_draft(), now=now).traces[0].timestamp == written


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_document(_draft(), now=datetime(2026, 11, 26, 17, 30))


def test_business_block_is_a_new_document_by_default(built: Package) -> None:
    assert built.business == new_document()
    assert business_type(built) is BusinessType.NEW
    assert target_document_id(built) is None


# --------------------------------------------------------------------------- attachments
def test_manifest_lists_each_attachment_by_content_id(built: Package) -> None:
    manifest = built.manifest
    assert manifest is not None
    assert manifest.version == "1.0"
    references = manifest.references
    assert len(references) == len(built.files) == 2
    assert len({strip_cid(r.content_id) for r in references}) == 2
    for reference, attachment in zip(references, built.files, strict=True):
        assert strip_cid(reference.content_id) == strip_cid(attachment.content_id)
        assert reference.attachment_name == attachment.attachment_name
        assert reference.content_type == attachment.content_type
        assert reference.description == attachment.description
    assert [r.attachment_name for r in references] == ["cong-van.pdf", "phu-luc.zip"]
    assert [r.content_type for r in references] == ["application/pdf", "application/zip"]
    # No description given: the file name.
    assert [r.description for r in references] == ["cong-van.pdf", "Phụ lục kèm theo"]


def test_attachments_decode_to_the_files(built: Package) -> None:
    pdf, appendix = built.files
    assert base64.b64decode(pdf.encoded or "", validate=True) == PDF
    assert pdf.data() == PDF
    assert pdf.size == len(PDF)
    assert pdf.sha256 == hashlib.sha256(PDF).hexdigest()
    assert appendix.data() == APPENDIX
    assert appendix.data().startswith(b"PK\x03\x04")
    assert appendix.size == len(APPENDIX)


def test_no_files_gives_an_empty_manifest() -> None:
    package = build_document(_draft(files=[]), now=NOW)
    assert package.manifest is not None
    assert package.manifest.references == ()
    assert package.files == ()
    assert parse_package(serialize_package(package)) == package


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 57, 1000])
def test_attachment_of_any_length_round_trips(size: int) -> None:
    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    package = build_document(
        _draft(files=[FileToAttach("x.bin", data, "application/octet-stream")]), now=NOW
    )
    (attachment,) = parse_package(serialize_package(package)).files
    assert attachment.data() == data
    assert attachment.size == size


# --------------------------------------------------------------------------- round trip
def test_built_document_round_trips(built: Package) -> None:
    written = serialize_package(built)
    again = parse_package(written)
    assert again == built
    assert again.notes == ()
    assert serialize_package(again) == written


@settings(max_examples=40, deadline=None)
@given(
    subject=leaf_text.filter(bool),
    number=st.integers(1, 99999).map("{:02d}".format),
    files=st.lists(st.binary(max_size=64), max_size=3),
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    now=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2099, 12, 31),
        timezones=st.sampled_from([UTC, VIETNAM_TZ, timezone(timedelta(hours=-5))]),
    ),
)
def test_random_built_documents_round_trip(
    subject: str, number: str, files: list[bytes], day: date, now: datetime
) -> None:
    draft = _draft(
        subject=subject,
        code_number=number,
        promulgation_date=day,
        files=[FileToAttach(f"f{i}.bin", data) for i, data in enumerate(files)],
    )
    package = build_document(draft, now=now)
    assert parse_package(serialize_package(package)) == package
    assert package.header.document_id == f"000.00.00.G22,{day:%Y/%m/%d},{number}/VPCP-TTĐT"
    assert package.traces[0].at == now.replace(microsecond=0)
    assert [f.data() for f in package.files] == files


# --------------------------------------------------------------------------- revoke
def test_revoke_names_the_document_in_business_and_response_for() -> None:
    target = "000.00.00.G22,2026/11/20,7700/VPCP-TTĐT"
    package = build_document(
        _draft(
            code_number="7817",
            business=revoke_document(target),
            response_for=[
                ResponseFor("000.00.00.G22", "7700/VPCP-TTĐT", "2026/11/20", target),
            ],
        ),
        now=NOW,
    )
    assert business_type(package) is BusinessType.REVOKE
    assert package.business is not None
    assert package.business.document_id == target
    assert package.business.business_doc_reason == "Thu hồi văn bản điện tử"
    assert target_document_id(package) == target
    assert parse_package(serialize_package(package)) == package


# --------------------------------------------------------------------------- status
@pytest.fixture(scope="module")
def status(built: Package) -> Package:
    return build_status(
        sender=NGHE_AN,
        original=built.header,
        status=StatusCode.ACCEPTED,
        at=datetime(2026, 11, 27, 8, 5, 9, tzinfo=VIETNAM_TZ),
        staff=StaffInfo("Văn thư", "Nguyễn Thị B", "vt@nghean.gov.vn", "0912000001"),
    )


def test_status_is_addressed_to_the_original_sender(built: Package, status: Package) -> None:
    assert status.kind == "status"
    assert status.is_status
    header = status.header
    assert header.from_ == NGHE_AN
    (response,) = header.response_for
    assert response.organ_id == "000.00.00.G22"
    assert response.code == "7816/VPCP-TTĐT"
    assert response.promulgation_date == "2026/11/26"
    assert response.document_id == built.header.document_id
    assert header.status_code == "03"
    assert header.description == "Đã tiếp nhận"  # the standard's label when none is given
    assert header.timestamp == "2026/11/27 08:05:09"
    assert header.staff_info is not None
    assert header.staff_info.staff == "Nguyễn Thị B"
    assert header.to == ()


def test_status_has_no_trace_body_or_attachments(status: Package) -> None:
    assert status.trace_list is None
    assert status.manifest is None
    assert status.files == ()
    assert status.signature is None


def test_status_round_trips(status: Package) -> None:
    written = serialize_package(status)
    assert parse_package(written) == status
    assert b"<edXML:StatusCode>03</edXML:StatusCode>" in written


def test_status_description_and_time_zone(built: Package) -> None:
    package = build_status(
        sender=CAO_BANG,
        original=built.header,
        status=StatusCode.REFUSED,
        at=datetime(2026, 11, 26, 17, 30, tzinfo=UTC),
        description="Sai nơi nhận",
    )
    assert package.header.status_code == "02"
    assert package.header.description == "Sai nơi nhận"
    assert package.header.timestamp == "2026/11/27 00:30:00"


def test_status_about_a_sample_document(sample: Callable[[str], Package]) -> None:
    original = sample("truclienthong-example/resources_edoc_update.edxml").header
    package = build_status(sender=NGHE_AN, original=original, status=StatusCode.DONE, at=NOW)
    (response,) = package.header.response_for
    assert response.organ_id == "000.00.00.G22"
    assert response.code == "7816/VPCP-TTĐT"
    assert response.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert package.header.status_code == "06"


def test_naive_status_time_is_refused(built: Package) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_status(
            sender=NGHE_AN,
            original=built.header,
            status=StatusCode.ARRIVED,
            at=datetime(2026, 11, 27, 8, 0),
        )


# --------------------------------------------------------------------------- with_trace
def test_with_trace_appends_one_hop_and_changes_nothing_else(built: Package) -> None:
    hop = datetime(2026, 11, 27, 1, 0, 5, tzinfo=UTC)
    relayed = with_trace(built, "000.00.00.H41", hop)
    assert relayed.traces == (
        *built.traces,
        TraceHeader("000.00.00.H41", "2026/11/27 08:00:05"),
    )
    # Removing the new hop gives the original back, field for field.
    assert relayed.envelope is not None
    assert relayed.envelope.header is not None
    trace_list = relayed.envelope.header.trace_header_list
    assert trace_list is not None
    undone = dataclasses.replace(
        relayed,
        envelope=dataclasses.replace(
            relayed.envelope,
            header=dataclasses.replace(
                relayed.envelope.header,
                trace_header_list=dataclasses.replace(
                    trace_list, trace_headers=trace_list.trace_headers[:-1]
                ),
            ),
        ),
    )
    assert undone == built
    assert relayed.business == built.business
    assert relayed.header == built.header
    assert relayed.files == built.files
    assert built.traces == (TraceHeader("000.00.00.G22", "2026/11/27 00:30:00"),)  # unchanged
    assert parse_package(serialize_package(relayed)) == relayed


def test_with_trace_keeps_the_hops_in_order(built: Package) -> None:
    package = built
    for hour, organ in enumerate(["000.00.00.H41", "000.00.01.H41", "000.00.02.H41"], start=1):
        package = with_trace(package, organ, datetime(2026, 11, 27, hour, tzinfo=VIETNAM_TZ))
    assert [t.organ_id for t in package.traces] == [
        "000.00.00.G22",
        "000.00.00.H41",
        "000.00.01.H41",
        "000.00.02.H41",
    ]
    assert [t.timestamp for t in package.traces][1:] == [
        "2026/11/27 01:00:00",
        "2026/11/27 02:00:00",
        "2026/11/27 03:00:00",
    ]


def test_with_trace_on_a_parsed_sample_keeps_its_notes(sample: Callable[[str], Package]) -> None:
    original = sample("truclienthong-example/resources_edoc.edxml")
    relayed = with_trace(original, "000.00.00.G22", NOW)
    assert relayed.notes == original.notes
    assert len(relayed.traces) == len(original.traces) + 1


def test_with_trace_refuses_a_naive_time(built: Package) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        with_trace(built, "000.00.00.H41", datetime(2026, 11, 27, 1, 0))


def test_built_text_is_stripped_like_the_parser_reads_it() -> None:
    from datetime import UTC, date, datetime

    from lienthong.domain.edxml import parse_package, serialize_package
    from lienthong.domain.edxml.builder import DocumentDraft, build_document
    from lienthong.domain.edxml.model import Organization

    draft = DocumentDraft(
        sender=Organization(organ_id=" 000.00.00.G22 ", organ_name=" Văn phòng Chính phủ "),
        recipients=[Organization(organ_id="000.00.00.H41", organ_name="  UBND tỉnh Nghệ An ")],
        code_number=" 12 ",
        code_notation=" VPCP-TTĐT",
        promulgation_date=date(2026, 1, 2),
        place=" Hà Nội",
        subject=" V/v thử ",
        to_places=[" Như trên "],
    )
    package = build_document(draft, now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert package.header.document_id == "000.00.00.G22,2026/01/02,12/VPCP-TTĐT"
    assert package.header.subject == "V/v thử"
    assert package.header.to[0].organ_name == "UBND tỉnh Nghệ An"
    assert package.header.to_places == ("Như trên",)
    assert parse_package(serialize_package(package)) == package
