"""What a package does to a document: new, revoke, update, replace (SPEC §2, Bussiness)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from lienthong.domain.edxml import Package
from lienthong.domain.edxml.business import (
    RECEIVER_ADDED,
    RECEIVER_REMOVED,
    RecipientChanges,
    Replacement,
    business_type,
    recipient_changes,
    replacements,
    target_document_id,
)
from lienthong.domain.edxml.model import (
    Business,
    BusinessDocumentInfo,
    BusinessType,
    Envelope,
    EnvelopeHeader,
    MessageHeader,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    TraceHeaderList,
)

pytestmark = pytest.mark.unit

T = "truclienthong-example/"
NEW = T + "resources_edoc_new.edxml"
REVOKE = T + "resources_edoc_revocation.edxml"
UPDATE = T + "resources_edoc_update.edxml"
REPLACE = T + "resources_edoc_replacement.edxml"
GENERATED = T + "xml_dc0bdef0-c7a3-4aaf-b717-777303442973.edxml"
MALFORMED = T + "resources_edoc.edxml"
BKAV_NEW = "edoc-integrator/edoc-service_src_main_resources_edoc_new.edxml"
BKAV_UPDATE = "edoc-integrator/edoc-webapp_src_main_resources_edoc_update.edxml"
STATUS = T + "resources_status_finish_06.edxml"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (NEW, BusinessType.NEW),
        (BKAV_NEW, BusinessType.NEW),
        (GENERATED, BusinessType.NEW),
        (REVOKE, BusinessType.REVOKE),
        (UPDATE, BusinessType.UPDATE),
        (BKAV_UPDATE, BusinessType.UPDATE),
        (REPLACE, BusinessType.REPLACE),
        (MALFORMED, BusinessType.NEW),  # no Bussiness block at all: a new document
    ],
)
def test_business_type_of_each_sample(
    sample: Callable[[str], Package], name: str, expected: BusinessType
) -> None:
    assert business_type(sample(name)) is expected


# --------------------------------------------------------------------------- new
@pytest.mark.parametrize("name", [NEW, BKAV_NEW, GENERATED, MALFORMED])
def test_a_new_document_acts_on_nothing(sample: Callable[[str], Package], name: str) -> None:
    package = sample(name)
    # The samples' Bussiness/DocumentId (an impossible 2014/02/30 id) is not a target.
    assert target_document_id(package) is None
    assert recipient_changes(package) is None
    assert replacements(package) == ()


def test_a_status_acts_on_nothing(sample: Callable[[str], Package]) -> None:
    package = sample(STATUS)
    assert package.business is None
    assert target_document_id(package) is None
    assert recipient_changes(package) is None
    assert replacements(package) == ()


# --------------------------------------------------------------------------- revoke
def test_revoke_targets_its_response_for_document(sample: Callable[[str], Package]) -> None:
    package = sample(REVOKE)
    (response,) = package.header.response_for
    assert response.document_id == "000.00.04.G14,2012/08/06,267/VPCP-TTĐT"
    assert target_document_id(package) == response.document_id
    # Not the package's own DocumentId.
    assert target_document_id(package) != package.header.document_id
    assert recipient_changes(package) is None
    assert replacements(package) == ()


def test_revoke_without_response_for_falls_back_to_the_business_document_id(
    sample: Callable[[str], Package],
) -> None:
    package = _with_header(
        _with_business(sample(REVOKE), document_id="000.00.00.G22,2020/01/02,12/VPCP-TTĐT"),
        response_for=(),
    )
    assert target_document_id(package) == "000.00.00.G22,2020/01/02,12/VPCP-TTĐT"


def test_revoke_skips_an_empty_response_for(sample: Callable[[str], Package]) -> None:
    real = ResponseFor(document_id="000.00.00.G22,2020/01/02,12/VPCP-TTĐT")
    package = _with_header(sample(REVOKE), response_for=(ResponseFor("", "", "", ""), real))
    assert target_document_id(package) == real.document_id


# --------------------------------------------------------------------------- update
def test_update_lists_added_and_removed_recipients(sample: Callable[[str], Package]) -> None:
    package = sample(UPDATE)
    changes = recipient_changes(package)
    # ReceiverType 1 adds the agency, 0 removes it (business.RECEIVER_ADDED/REMOVED).
    assert (RECEIVER_ADDED, RECEIVER_REMOVED) == ("1", "0")
    assert changes == RecipientChanges(
        info_changed=True,
        recipients_changed=True,
        added=("000.00.00.H14",),
        removed=("000.00.00.H41",),
    )
    assert recipient_changes(sample(BKAV_UPDATE)) == changes


def test_update_targets_the_business_document_id(sample: Callable[[str], Package]) -> None:
    package = sample(UPDATE)
    assert package.header.response_for == ()
    assert target_document_id(package) == "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT"
    assert replacements(package) == ()


def test_update_without_details_changes_nothing(sample: Callable[[str], Package]) -> None:
    package = _with_business(sample(UPDATE), document_info=None)
    assert recipient_changes(package) == RecipientChanges(
        info_changed=False, recipients_changed=False, added=(), removed=()
    )


def test_update_ignores_receivers_without_id_or_with_another_type(
    sample: Callable[[str], Package],
) -> None:
    info = BusinessDocumentInfo(
        document_info="0",
        document_receiver=" 1 ",
        receivers=(
            Receiver("000.00.00.H01", "1"),
            Receiver(None, "1"),
            Receiver("", "0"),
            Receiver("000.00.00.H02", "2"),
            Receiver("000.00.00.H03", "0"),
        ),
    )
    changes = recipient_changes(_with_business(sample(UPDATE), document_info=info))
    assert changes == RecipientChanges(
        info_changed=False,
        recipients_changed=True,
        added=("000.00.00.H01",),
        removed=("000.00.00.H03",),
    )


# --------------------------------------------------------------------------- replace
def test_replace_lists_the_replaced_documents(sample: Callable[[str], Package]) -> None:
    package = sample(REPLACE)
    replaced = Replacement(
        "000.00.00.G22,2014/01/30,7806/VPCP-TTĐT", ("000.00.00.H41", "000.00.00.H14")
    )
    assert replacements(package) == (replaced, replaced)  # the sample lists it twice
    assert target_document_id(package) == replaced.document_id
    assert recipient_changes(package) is None


def test_replace_skips_entries_without_a_document_id(sample: Callable[[str], Package]) -> None:
    package = _with_business(
        sample(REPLACE),
        replacements=(
            ReplacementInfo(None, ("000.00.00.H41",)),
            ReplacementInfo("000.00.00.G22,2020/01/02,12/VPCP-TTĐT", None),
            ReplacementInfo("000.00.00.G22,2020/01/03,13/VPCP-TTĐT", ("000.00.00.H14",)),
        ),
    )
    assert replacements(package) == (
        Replacement("000.00.00.G22,2020/01/02,12/VPCP-TTĐT", ()),
        Replacement("000.00.00.G22,2020/01/03,13/VPCP-TTĐT", ("000.00.00.H14",)),
    )


# --------------------------------------------------------------------------- bad types
@pytest.mark.parametrize("text", ["4", "-1", "x", "", " 2 "])
def test_business_type_text(sample: Callable[[str], Package], text: str) -> None:
    package = _with_business(sample(UPDATE), business_doc_type=text)
    expected = BusinessType.UPDATE if text.strip() == "2" else None
    assert business_type(package) is expected
    if expected is None:
        assert target_document_id(package) is None
        assert recipient_changes(package) is None
        assert replacements(package) == ()


def test_a_bare_package_is_new() -> None:
    package = Package(
        envelope=Envelope(
            header=EnvelopeHeader(
                message_header=MessageHeader(document_id="x"),
                trace_header_list=TraceHeaderList(),
            )
        )
    )
    assert business_type(package) is BusinessType.NEW
    assert business_type(Package()) is BusinessType.NEW
    assert target_document_id(Package()) is None


# --------------------------------------------------------------------------- helpers
def _with_business(package: Package, **changes: object) -> Package:
    envelope = package.envelope
    assert envelope is not None
    assert envelope.header is not None
    trace_list = envelope.header.trace_header_list
    assert trace_list is not None
    assert trace_list.business is not None
    business: Business = dataclasses.replace(trace_list.business, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(
        package,
        envelope=dataclasses.replace(
            envelope,
            header=dataclasses.replace(
                envelope.header,
                trace_header_list=dataclasses.replace(trace_list, business=business),
            ),
        ),
    )


def _with_header(package: Package, **changes: object) -> Package:
    envelope = package.envelope
    assert envelope is not None
    assert envelope.header is not None
    assert envelope.header.message_header is not None
    header = dataclasses.replace(envelope.header.message_header, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(
        package,
        envelope=dataclasses.replace(
            envelope, header=dataclasses.replace(envelope.header, message_header=header)
        ),
    )
