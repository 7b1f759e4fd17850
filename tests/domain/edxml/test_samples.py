"""Every real sample package parses and re-serialises without loss (SPEC §2, §3)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from lienthong.domain.edxml import Package, SignatureKind, parse_package, serialize_package
from lienthong.domain.edxml.business import business_type
from lienthong.domain.edxml.model import BusinessType
from lienthong.domain.edxml.parser import parse_package_tree
from lienthong.domain.errors import EdxmlError

from .strategies import SAMPLES_DIR, sample_paths

pytestmark = pytest.mark.unit

NEW = "truclienthong-example/resources_edoc_new.edxml"
UPDATE = "truclienthong-example/resources_edoc_update.edxml"
MALFORMED = "truclienthong-example/resources_edoc.edxml"
GENERATED = "truclienthong-example/xml_dc0bdef0-c7a3-4aaf-b717-777303442973.edxml"
FINISH = "truclienthong-example/resources_status_finish_06.edxml"
BKAV_NEW = "edoc-integrator/edoc-service_src_main_resources_edoc_new.edxml"
VPCP_DOCUMENT = "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"


def _sample_params() -> list[object]:
    paths = sample_paths()
    if not paths:
        # An empty parameter list would skip silently: fail instead.
        return [pytest.param(SAMPLES_DIR / "missing", id="samples-missing")]
    return [pytest.param(path, id=f"{path.parent.name}/{path.name}") for path in paths]


@pytest.fixture(params=_sample_params())
def sample_file(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    if not path.is_file():
        pytest.fail(f"edXML samples not found under {SAMPLES_DIR}")
    return path


def test_the_samples_folder_is_complete() -> None:
    assert SAMPLES_DIR.is_dir(), f"edXML samples not found at {SAMPLES_DIR}"
    folders = {path.parent.name for path in sample_paths()}
    assert folders == {"truclienthong-example", "edoc-integrator"}
    assert len(sample_paths()) == 19


# --------------------------------------------------------------------------- every sample
def test_sample_parses(sample_file: Path) -> None:
    package = parse_package(sample_file.read_bytes())
    expected_kind = "status" if "_status" in sample_file.name else "document"
    assert package.kind == expected_kind
    assert package.header.from_ is not None
    assert package.header.from_.organ_id
    if package.kind == "document":
        assert package.header.to, "a document has recipients"
        assert package.header.document_id
        assert package.traces
        assert package.signature is not None
        assert package.manifest is not None
        assert len(package.files) == len(package.manifest.references) == 1
    else:
        assert package.header.status_code is not None
        assert len(package.header.response_for) == 1
        assert package.trace_list is None
        assert package.files == ()
    # Only the deliberately malformed sample needs repairing.
    if sample_file.name == Path(MALFORMED).name:
        assert [code for code, _ in package.notes] == ["edxml.malformed_xml_repaired"]
    else:
        assert package.notes == ()


def test_sample_round_trips(sample_file: Path) -> None:
    package = parse_package(sample_file.read_bytes())
    again = parse_package(serialize_package(package))
    assert again == package
    assert again.notes == ()  # what we write is well-formed


def test_sample_round_trips_without_indentation(sample_file: Path) -> None:
    package = parse_package(sample_file.read_bytes())
    assert parse_package(serialize_package(package, pretty=False)) == package


def test_sample_serialisation_is_idempotent(sample_file: Path) -> None:
    package = parse_package(sample_file.read_bytes())
    first = serialize_package(package)
    assert serialize_package(package) == first
    assert serialize_package(parse_package(first)) == first
    assert first.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<edXML ')


# --------------------------------------------------------------------------- named samples
def test_update_sample(sample: Callable[[str], Package]) -> None:
    package = sample(UPDATE)
    header = package.header
    assert package.kind == "document"
    assert header.from_ is not None
    assert header.from_.organ_id == "000.00.00.G22"
    assert [to.organ_id for to in header.to] == ["000.00.00.H41", "000.00.00.H14", "000.00.00.G17"]
    assert [to.organ_name for to in header.to] == [
        "UBND Tỉnh Nghệ An",
        "UBND Tỉnh Cao Bằng",
        "Sở Thông tin truyền thông Hải Phòng",
    ]
    assert header.document_id == VPCP_DOCUMENT
    assert header.code is not None
    assert str(header.code) == "7816/VPCP-TTĐT"
    assert header.promulgation_info is not None
    assert header.promulgation_info.promulgation_date == "2018/09/28"
    assert header.to_places == ("Cac bo va co quan ngang bo", "Uy ban nhan dan cac tinh, TP")
    assert header.other_info is not None
    assert header.other_info.appendixes == (
        "Công văn về việc kết nối, liên thông phần mềm quản lý văn bản",
    )
    assert business_type(package) is BusinessType.UPDATE
    business = package.business
    assert business is not None
    assert business.document_info is not None
    assert business.document_info.receivers is not None
    assert [(r.organ_id, r.receiver_type) for r in business.document_info.receivers] == [
        ("000.00.00.H41", "0"),
        ("000.00.00.H14", "1"),
    ]
    assert [(t.organ_id, t.timestamp) for t in package.traces] == [
        ("000.00.00.G22", "2018/09/28 00:00:00")
    ]
    assert package.signature is not None
    assert package.signature.kind is SignatureKind.PLACEHOLDER


def test_new_document_sample_with_a_legacy_recipient(sample: Callable[[str], Package]) -> None:
    package = sample(NEW)
    assert package.header.from_ is not None
    assert package.header.from_.organ_id == "000.00.00.A80"
    assert [to.organ_id for to in package.header.to] == ["28.22.H17"]
    recipient = package.header.to[0].agency
    assert recipient is not None
    assert recipient.is_legacy
    assert business_type(package) is BusinessType.NEW


def test_finished_status_sample(sample: Callable[[str], Package]) -> None:
    package = sample(FINISH)
    header = package.header
    assert package.kind == "status"
    assert package.is_status
    assert header.status_code == "06"
    assert header.from_ is not None
    assert header.from_.organ_id == "000.00.00.H41"
    (response,) = header.response_for
    assert response.organ_id == "000.00.00.G22"
    assert response.code == "7816/VPCP-TTĐT"
    assert response.promulgation_date == "2015/09/30"
    assert response.document_id == VPCP_DOCUMENT
    assert header.staff_info is not None
    assert header.staff_info.staff == "Nguyen thi ngoc tram"
    assert header.description == "Văn thư: Ban hành văn bản đến, hoàn thành xử lý"
    assert header.timestamp == "2015/09/20 11:08:36"
    assert header.to == ()
    assert package.manifest is None
    assert package.signature is None


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("truclienthong-example/resources_status.edxml", "01"),
        ("truclienthong-example/resources_status_inbox_ 01.edxml", "01"),
        ("truclienthong-example/resources_status_rejection_02.edxml", "02"),
        ("truclienthong-example/resources_status_acceptance_03.edxml", "03"),
        ("truclienthong-example/resources_status_assignment_04.edxml", "04"),
        ("truclienthong-example/resources_status_processing_05.edxml", "05"),
        ("edoc-integrator/edoc-service_src_main_resources_status_processing_05.edxml", "05"),
        ("truclienthong-example/resources_status_finish_06.edxml", "06"),
        ("truclienthong-example/resources_status_cancellation_13.edxml", "13"),
        ("truclienthong-example/resources_status_change-acceptance_15.edxml", "15"),
        ("truclienthong-example/resources_status_change-rejection_16.edxml", "16"),
    ],
)
def test_status_samples_carry_their_code(
    sample: Callable[[str], Package], name: str, code: str
) -> None:
    package = sample(name)
    assert package.header.status_code == code
    assert package.header.response_for[0].document_id == VPCP_DOCUMENT


def test_malformed_sample_is_repaired(sample: Callable[[str], Package]) -> None:
    package = sample(MALFORMED)
    assert package.notes
    assert package.notes[0][0] == "edxml.malformed_xml_repaired"
    assert package.envelope is not None
    env_header = package.envelope.header
    assert env_header is not None
    header = env_header.message_header
    assert header is not None
    # The doubled <From> start tag is undone: one From, with its fields, nothing nested.
    assert header.from_ is not None
    assert header.from_.organ_id == "777.77.04.D77"
    assert header.from_.organ_name == "Văn phòng Chính phủ"
    assert not header.from_.extras
    assert [to.organ_id for to in header.to] == ["777.77.03.D77"]
    assert header.document_id == "9fbfbad2-f1f8-4256-a2eb-50fb1061cddb"
    assert header.subject == "Văn bản liên thông chỉ đạo - 190701"
    assert header.to_places == ("Các bộ",)
    assert len(header.response_for) == 1
    assert header.response_for[0].is_empty
    assert not header.extras
    # Trace list and signature are back under edXMLHeader, the manifest under edXMLBody.
    assert env_header.trace_header_list is not None
    assert [(t.organ_id, t.timestamp) for t in env_header.trace_header_list.trace_headers] == [
        ("01.02.G22", "2018/06/20 16:35:56")
    ]
    assert env_header.signature is not None
    assert env_header.signature.kind is SignatureKind.XMLDSIG
    assert not env_header.extras
    assert package.envelope.body is not None
    manifest = package.envelope.body.manifest
    assert manifest is not None
    assert manifest.version == "1.0"
    assert [r.attachment_name for r in manifest.references] == ["GUIDE_INSTALL OPENVPN.SIGNED.PDF"]
    assert not package.envelope.extras
    # Its attachment is a JMeter placeholder, not base64.
    (attachment,) = package.files
    assert attachment.encoded == "${__StringFromFile(test.txt,,,)}"
    with pytest.raises(ValueError, match="base64"):
        attachment.data()


def test_malformed_sample_is_refused_without_repair(
    sample_bytes: Callable[[str], bytes],
) -> None:
    with pytest.raises(EdxmlError) as info:
        parse_package(sample_bytes(MALFORMED), repair=False)
    assert info.value.code == "edxml.not_xml"


def test_business_before_trace_header_reads_the_same_block(
    sample: Callable[[str], Package], sample_bytes: Callable[[str], bytes]
) -> None:
    raw = sample_bytes(GENERATED).decode()
    assert raw.index("<edXML:Bussiness>") < raw.index("<edXML:TraceHeader>")
    package = sample(GENERATED)
    assert package.business is not None
    assert package.business == sample(NEW).business
    assert package.business.business_doc_type == "0"
    assert package.business.document_id == "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT"
    assert [(t.organ_id, t.timestamp) for t in package.traces] == [
        ("000.00.00.G22", "2019/04/11 00:00:00")
    ]
    # Written back in the order of the other samples: TraceHeader first.
    written = serialize_package(package).decode()
    assert written.index("<edXML:TraceHeader>") < written.index("<edXML:Bussiness>")


@pytest.mark.parametrize("name", [NEW, BKAV_NEW, GENERATED, UPDATE])
def test_attachment_decodes_to_a_zip(
    sample: Callable[[str], Package], sample_bytes: Callable[[str], bytes], name: str
) -> None:
    # Decode the payload straight from the file, independently of the parser.
    raw = sample_bytes(name).decode()
    match = re.search(r"<edXML:ContentTransferEncoded[^>]*>([^<]*)<", raw)
    assert match is not None
    expected = base64.b64decode("".join(match.group(1).split()), validate=True)
    (attachment,) = sample(name).files
    data = attachment.data()
    assert data == expected
    assert data.startswith(b"PK\x03\x04")
    assert attachment.size == len(expected)
    assert attachment.sha256 == hashlib.sha256(expected).hexdigest()
    assert attachment.content_type == "application/zip"
    manifest = sample(name).manifest
    assert manifest is not None
    assert [r.content_id for r in manifest.references] == [attachment.content_id]


def test_dd_mm_yyyy_promulgation_date_is_read_and_written_as_yyyy_mm_dd(
    sample: Callable[[str], Package], sample_bytes: Callable[[str], bytes]
) -> None:
    assert b"<edXML:PromulgationDate>30/10/2020</edXML:PromulgationDate>" in sample_bytes(BKAV_NEW)
    package = sample(BKAV_NEW)
    info = package.header.promulgation_info
    assert info is not None
    assert info.promulgation_date == "2020/10/30"
    written = serialize_package(package)
    assert b"2020/10/30" in written
    assert b"30/10/2020" not in written
    # An empty date stays empty (present, not dropped).
    assert package.header.due_date == ""
    assert re.search(rb"<edXML:DueDate(></edXML:DueDate>|/>)", written)


# --------------------------------------------------------------------------- the tree, once
def test_the_tree_is_given_only_when_it_holds_exactly_the_bytes(sample_file: Path) -> None:
    """``parse_package_tree`` hands its tree to the envelope signature check instead of a
    second parse: only when nothing was repaired and the parser dropped nothing, and the
    tree is then what a parser keeping comments and PIs reads from the same bytes."""
    data = sample_file.read_bytes()
    package, tree = parse_package_tree(data)
    assert package == parse_package(data)
    dropped = b"<!--" in data or data.count(b"<?") > (1 if data.startswith(b"<?xml") else 0)
    if package.notes or dropped or not data.startswith(b"<"):
        assert tree is None
        return
    assert tree is not None
    keeping = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    assert etree.tostring(tree) == etree.tostring(etree.fromstring(data, keeping))


def _inside_root(data: bytes, insert: bytes) -> bytes:
    """``insert`` just after the root's start tag."""
    root = data.index(b"<edXML")
    end = data.index(b">", root) + 1
    return data[:end] + insert + data[end:]


def _utf16(data: bytes) -> bytes:
    text = data.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"', 1)
    return text.encode("utf-16")


EDITS: list[tuple[str, Callable[[bytes], bytes]]] = [
    ("a comment", lambda d: _inside_root(d, b"<!-- x -->")),
    ("a processing instruction", lambda d: _inside_root(d, b"<?pi x?>")),
    ("UTF-16", _utf16),
    ("another encoding", lambda d: d.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"', 1)),
]


@pytest.mark.parametrize(("what", "edit"), EDITS, ids=[e[0] for e in EDITS])
def test_no_tree_when_the_parser_dropped_or_could_not_see(
    sample_bytes: Callable[[str], bytes], what: str, edit: Callable[[bytes], bytes]
) -> None:
    data = sample_bytes(NEW)
    assert parse_package_tree(data)[1] is not None
    edited = edit(data)
    assert edited != data, what
    assert parse_package_tree(edited)[1] is None, what


def test_no_tree_for_a_repaired_package(sample_bytes: Callable[[str], bytes]) -> None:
    package, tree = parse_package_tree(sample_bytes(MALFORMED))
    assert package.notes
    assert tree is None
