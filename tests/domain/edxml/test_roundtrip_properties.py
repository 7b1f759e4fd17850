"""Nothing is lost on a round trip: unknown content, variants, and random packages (SPEC §2).

The example-based tests edit real samples as text (adding what a producer might add) and
check where the reader keeps it and that the writer gives it back. The properties check
``parse(serialize(p)) == p`` on random packages built by :mod:`.strategies`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lienthong.domain.edxml import (
    EDXML_NS,
    Extras,
    Package,
    parse_package,
    serialize_package,
)
from lienthong.domain.edxml.model import NO_EXTRAS, Attachment

from .strategies import (
    FOREIGN_NS,
    document_packages,
    extra_elements,
    instances,
    status_packages,
)

pytestmark = pytest.mark.unit

UPDATE = "truclienthong-example/resources_edoc_update.edxml"
STATUS = "truclienthong-example/resources_status_finish_06.edxml"
X = "urn:example:x"


def without_extras(value: Any) -> Any:
    """``value`` with every :class:`Extras` in it emptied (to compare the known content)."""
    if isinstance(value, tuple):
        return tuple(without_extras(item) for item in value)
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return value
    changes = {}
    for field in dataclasses.fields(value):
        if not field.init or field.name.startswith("_"):
            continue
        item = getattr(value, field.name)
        changes[field.name] = NO_EXTRAS if isinstance(item, Extras) else without_extras(item)
    return dataclasses.replace(value, **changes)


def _edit(data: bytes, *replacements: tuple[str, str]) -> bytes:
    """Apply text replacements, each of which must match exactly once."""
    text = data.decode("utf-8")
    for old, new in replacements:
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
        text = text.replace(old, new)
    return text.encode("utf-8")


def _round_trip(package: Package) -> tuple[Package, bytes]:
    written = serialize_package(package)
    again = parse_package(written)
    assert again == package
    assert serialize_package(again) == written
    return again, written


# --------------------------------------------------------------------------- unknown content
@pytest.fixture(scope="module")
def decorated(sample_bytes: Callable[[str], bytes]) -> tuple[bytes, Package]:
    """The update sample with unknown elements and attributes added all over."""
    data = _edit(
        sample_bytes(UPDATE),
        (
            '<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">',
            (
                '<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016" producer="root-attr">'
                "<RootNote>root-edxml</RootNote>"
                f'<x:RootNote xmlns:x="{X}" x:level="root-foreign-attr">root-foreign</x:RootNote>'
            ),
        ),
        (
            "<edXML:MessageHeader>",
            (
                '<edXML:MessageHeader hint="header-attr">'
                '<edXML:Classification level="mật">header-edxml</edXML:Classification>'
                f'<x:Tracking xmlns:x="{X}"><x:Id>header-foreign</x:Id></x:Tracking>'
            ),
        ),
        (
            "<edXML:From>",
            (
                f'<edXML:From xmlns:x="{X}" x:ref="from-attr">'
                "<edXML:TaxCode>from-edxml</edXML:TaxCode>"
                "<x:Badge>from-foreign</x:Badge>"
            ),
        ),
        (
            "<edXML:ToPlaces>",
            (
                "<edXML:ToPlaces>"
                "<edXML:Note>places-edxml</edXML:Note>"
                f'<x:Place xmlns:x="{X}">places-foreign</x:Place>'
            ),
        ),
        (
            '<edXML:edXMLManifest version="1.0">',
            '<edXML:edXMLManifest version="1.0" build="manifest-attr">',
        ),
        (
            "<Attachment>",
            (
                '<Attachment origin="attachment-attr">'
                '<Checksum algorithm="sha256">attachment-edxml</Checksum>'
                f'<x:Scan xmlns:x="{X}" dpi="300">attachment-foreign</x:Scan>'
            ),
        ),
    )
    return data, parse_package(data)


def test_unknown_content_does_not_disturb_known_fields(
    decorated: tuple[bytes, Package], sample: Callable[[str], Package]
) -> None:
    _, package = decorated
    assert package.notes == ()
    assert without_extras(package) == sample(UPDATE)


def test_unknown_content_is_kept_where_it_was(decorated: tuple[bytes, Package]) -> None:
    _, package = decorated
    header = package.header
    assert header.from_ is not None
    assert package.manifest is not None
    (attachment,) = package.files

    assert package.extras.attributes == (("producer", "root-attr"),)
    assert [where for where, _ in package.extras.elements] == ["", ""]
    assert "root-edxml" in package.extras.elements[0][1]
    assert EDXML_NS in package.extras.elements[0][1]
    assert "root-foreign" in package.extras.elements[1][1]
    assert "root-foreign-attr" in package.extras.elements[1][1]

    assert header.extras.attributes == (("hint", "header-attr"),)
    header_extras = header.extras.elements
    # In the order they are written back: what sat in ToPlaces goes back into it, the
    # ones from the top of MessageHeader after its known children.
    assert [where for where, _ in header_extras] == ["ToPlaces", "ToPlaces", "", ""]
    assert "places-edxml" in header_extras[0][1]
    assert "places-foreign" in header_extras[1][1]
    assert "header-edxml" in header_extras[2][1]
    assert 'level="mật"' in header_extras[2][1]
    assert "header-foreign" in header_extras[3][1]
    assert header.to_places == ("Cac bo va co quan ngang bo", "Uy ban nhan dan cac tinh, TP")

    assert header.from_.extras.attributes == ((f"{{{X}}}ref", "from-attr"),)
    assert [xml for _, xml in header.from_.extras.elements] == [
        f'<edXML:TaxCode xmlns:edXML="{EDXML_NS}">from-edxml</edXML:TaxCode>',
        f'<ns1:Badge xmlns:ns1="{X}">from-foreign</ns1:Badge>',
    ]
    assert header.from_.organ_id == "000.00.00.G22"

    assert package.manifest.extras.attributes == (("build", "manifest-attr"),)
    assert package.manifest.version == "1.0"

    assert attachment.extras.attributes == (("origin", "attachment-attr"),)
    assert [xml for _, xml in attachment.extras.elements] == [
        (
            f'<edXML:Checksum xmlns:edXML="{EDXML_NS}" algorithm="sha256">'
            "attachment-edxml</edXML:Checksum>"
        ),
        f'<ns1:Scan xmlns:ns1="{X}" dpi="300">attachment-foreign</ns1:Scan>',
    ]
    assert attachment.data().startswith(b"PK\x03\x04")


def test_unknown_content_survives_a_round_trip(decorated: tuple[bytes, Package]) -> None:
    _, package = decorated
    _, written = _round_trip(package)
    for value in (
        "root-attr",
        "root-edxml",
        "root-foreign",
        "root-foreign-attr",
        "header-attr",
        "header-edxml",
        "mật",
        "header-foreign",
        "from-attr",
        "from-edxml",
        "from-foreign",
        "places-edxml",
        "places-foreign",
        "manifest-attr",
        "attachment-attr",
        "attachment-edxml",
        "attachment-foreign",
    ):
        assert value.encode() in written, value
    assert X.encode() in written


def test_unknown_content_round_trips_without_indentation(decorated: tuple[bytes, Package]) -> None:
    _, package = decorated
    assert parse_package(serialize_package(package, pretty=False)) == package


@pytest.mark.parametrize(
    ("wrapper", "item"),
    [("ToPlaces", "Place"), ("Appendixes", "Appendix"), ("ReceiverList", "Receiver")],
)
def test_unknown_elements_before_and_inside_a_wrapper_round_trip(
    sample_bytes: Callable[[str], bytes], wrapper: str, item: str
) -> None:
    # Regression: the reader kept them in document order, the writer puts the wrapper's
    # own back inside it (before the rest), so the first round trip reordered Extras.
    data = _edit(
        sample_bytes(UPDATE),
        (f"<edXML:{wrapper}>", f"<edXML:ExtBefore>before</edXML:ExtBefore><edXML:{wrapper}>"),
        (f"</edXML:{wrapper}>", f"<edXML:ExtInside>inside</edXML:ExtInside></edXML:{wrapper}>"),
    )
    package = parse_package(data)
    kept = _all_extra_elements(package)
    assert len(kept) == 2
    assert {xml.split(">")[1].split("<")[0] for xml in kept} == {"before", "inside"}
    _, written = _round_trip(package)
    inside = written.decode().split(f"<edXML:{wrapper}>")[1].split(f"</edXML:{wrapper}>")[0]
    assert "inside" in inside
    assert "before" not in inside
    assert f"<edXML:{item}>" in inside or f"<edXML:{item} " in inside


def test_unknown_element_in_no_namespace_survives(sample_bytes: Callable[[str], bytes]) -> None:
    data = _edit(
        sample_bytes(STATUS),
        ("<edXML:MessageHeader>", '<edXML:MessageHeader><Legacy xmlns="">no-namespace</Legacy>'),
    )
    package = parse_package(data)
    assert package.header.extras.elements == (("", "<Legacy>no-namespace</Legacy>"),)
    _round_trip(package)


def test_a_second_subject_is_kept(
    sample_bytes: Callable[[str], bytes], sample: Callable[[str], Package]
) -> None:
    first = "V/v kết nối, liên thông phần mềm quản lý văn bản"
    data = _edit(
        sample_bytes(UPDATE),
        (
            f"<edXML:Subject>{first}</edXML:Subject>",
            f"<edXML:Subject>{first}</edXML:Subject><edXML:Subject>Chủ đề thứ hai</edXML:Subject>",
        ),
    )
    package = parse_package(data)
    assert package.header.subject == first
    assert package.header.extras.elements == (
        ("", f'<edXML:Subject xmlns:edXML="{EDXML_NS}">Chủ đề thứ hai</edXML:Subject>'),
    )
    assert without_extras(package) == sample(UPDATE)
    _, written = _round_trip(package)
    assert written.count(b"</edXML:Subject>") == 2
    assert first.encode() in written
    assert "Chủ đề thứ hai".encode() in written


def test_a_second_from_is_kept(sample_bytes: Callable[[str], bytes]) -> None:
    from_element = (
        "<edXML:From>"
        "<edXML:OrganId>000.00.00.H42</edXML:OrganId>"
        "<edXML:OrganName>Second sender</edXML:OrganName>"
        "</edXML:From>"
    )
    data = _edit(
        sample_bytes(STATUS),
        ("<edXML:ResponseFor>", from_element + "<edXML:ResponseFor>"),
    )
    package = parse_package(data)
    assert package.header.from_ is not None
    assert package.header.from_.organ_id == "000.00.00.H41"
    _, written = _round_trip(package)
    assert b"000.00.00.H42" in written
    assert b"Second sender" in written


def test_status_header_named_status_is_read_and_written_as_message_header(
    sample_bytes: Callable[[str], bytes], sample: Callable[[str], Package]
) -> None:
    data = _edit(
        sample_bytes(STATUS),
        ("<edXML:MessageHeader>", "<edXML:Status>"),
        ("</edXML:MessageHeader>", "</edXML:Status>"),
    )
    package = parse_package(data)
    assert package.kind == "status"
    assert package.header.status_code == "06"
    assert package == sample(STATUS)
    _, written = _round_trip(package)
    assert b"<edXML:MessageHeader>" in written
    assert b"Status>" not in written.replace(b"StatusCode>", b"")


def test_dd_mm_yyyy_dates_are_read_and_written_as_yyyy_mm_dd(
    sample_bytes: Callable[[str], bytes], sample: Callable[[str], Package]
) -> None:
    data = _edit(
        sample_bytes(STATUS),
        (
            "<edXML:PromulgationDate>2015/09/30</edXML:PromulgationDate>",
            "<edXML:PromulgationDate>30/09/2015</edXML:PromulgationDate>",
        ),
        (
            "<edXML:Timestamp>2015/09/20 11:08:36</edXML:Timestamp>",
            "<edXML:Timestamp>20/09/2015 11:08:36</edXML:Timestamp>",
        ),
    )
    package = parse_package(data)
    assert package.header.response_for[0].promulgation_date == "2015/09/30"
    assert package.header.timestamp == "2015/09/20 11:08:36"
    assert package == sample(STATUS)
    _, written = _round_trip(package)
    assert b"2015/09/30" in written
    assert b"30/09/2015" not in written
    assert b"20/09/2015" not in written


def test_unreadable_dates_are_kept_as_written(sample_bytes: Callable[[str], bytes]) -> None:
    data = _edit(
        sample_bytes(STATUS),
        (
            "<edXML:PromulgationDate>2015/09/30</edXML:PromulgationDate>",
            "<edXML:PromulgationDate>30/02/2015</edXML:PromulgationDate>",
        ),
        (
            "<edXML:Timestamp>2015/09/20 11:08:36</edXML:Timestamp>",
            "<edXML:Timestamp>hôm qua</edXML:Timestamp>",
        ),
    )
    package = parse_package(data)
    assert package.header.response_for[0].promulgation_date == "30/02/2015"
    assert package.header.timestamp == "hôm qua"
    _round_trip(package)


# --------------------------------------------------------------------------- properties
_PROPERTY = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _check_round_trip(package: Package) -> None:
    written = serialize_package(package)
    again = parse_package(written)
    assert again == package
    assert again.kind == package.kind
    assert again.notes == ()
    assert serialize_package(again) == written
    assert parse_package(serialize_package(package, pretty=False)) == package


@_PROPERTY
@given(document_packages())
def test_random_documents_round_trip(package: Package) -> None:
    assert package.kind == "document"
    _check_round_trip(package)


@_PROPERTY
@given(status_packages())
def test_random_statuses_round_trip(package: Package) -> None:
    assert package.kind == "status"
    _check_round_trip(package)


@settings(_PROPERTY, max_examples=40)
@given(instances(Package))
def test_random_field_combinations_round_trip(package: Package) -> None:
    # Any combination of fields, including a status code next to recipients and attachments.
    _check_round_trip(package)


_INSERTION_POINTS = {
    "root": ('<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">', "after"),
    "envelope": ("<edXML:edXMLHeader>", "before"),
    "header": ("<edXML:MessageHeader>", "after"),
    "from": ("<edXML:From>", "after"),
    "response_for": ("</edXML:ResponseFor>", "before"),
    "staff": ("</edXML:StaffInfo>", "before"),
}


@settings(max_examples=50, deadline=None)
@given(
    st.sampled_from(sorted(_INSERTION_POINTS)),
    st.lists(extra_elements((EDXML_NS, FOREIGN_NS)), min_size=1, max_size=3),
)
def test_unknown_elements_anywhere_in_a_status_survive(
    sample_bytes: Callable[[str], bytes], where: str, elements: list[str]
) -> None:
    anchor, side = _INSERTION_POINTS[where]
    inserted = "".join(elements)
    replacement = anchor + inserted if side == "after" else inserted + anchor
    package = parse_package(_edit(sample_bytes(STATUS), (anchor, replacement)))
    kept = _all_extra_elements(package)
    assert kept == elements
    _round_trip(package)


def _all_extra_elements(value: Any) -> list[str]:
    found: list[str] = []
    if isinstance(value, tuple):
        for item in value:
            found += _all_extra_elements(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            if isinstance(item, Extras):
                found += [xml for _, xml in item.elements]
            elif not field.name.startswith("_") and field.name != "notes":
                found += _all_extra_elements(item)
    return found


def test_attachments_compare_by_content_not_by_decoding_cache() -> None:
    first = Attachment(content_id="cid:1", encoded="UEsDBA==")
    second = Attachment(content_id="cid:1", encoded="UEsDBA==")
    assert first.data() == b"PK\x03\x04"
    assert first == second  # one decoded, the other not
