"""The report model: indications combine worst-first, findings carry both languages, JSON
round-trips, and the scope rule is read from real certificates."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime

import pytest

from lienthong.domain.errors import Severity
from lienthong.pki.ca import CertificateAuthority, MemoryRegistry, ca_subject, create_root
from lienthong.pki.keys import generate_key
from lienthong.pki.profiles import OrganizationSubject, Profile
from lienthong.signing.report import (
    CertificateInfo,
    Finding,
    Indication,
    SignatureReport,
    SubIndication,
    indication_for,
    make_file_report,
    scope_findings,
    worst,
)

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 26, tzinfo=UTC)


def _signature(indication: Indication, sub: SubIndication | None) -> SignatureReport:
    return SignatureReport(kind="pdf", name="f", role="signer", indication=indication,
                           sub_indication=sub)  # fmt: skip


def test_indication_for_each_sub_indication() -> None:
    assert indication_for(None) is Indication.TOTAL_PASSED
    assert indication_for(SubIndication.HASH_FAILURE) is Indication.TOTAL_FAILED
    assert indication_for(SubIndication.REVOKED) is Indication.TOTAL_FAILED
    assert indication_for(SubIndication.REVOKED_NO_POE) is Indication.INDETERMINATE
    assert indication_for(SubIndication.CHAIN_CONSTRAINTS_FAILURE) is Indication.INDETERMINATE


def test_worst_wins() -> None:
    passed = (Indication.TOTAL_PASSED, None)
    unsure = (Indication.INDETERMINATE, SubIndication.TRY_LATER)
    failed = (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)
    assert worst([]) == passed
    assert worst([passed, unsure]) == unsure
    assert worst([unsure, failed, passed]) == failed


def test_file_report_combines_signatures_findings_and_attachments() -> None:
    good = _signature(Indication.TOTAL_PASSED, None)
    assert make_file_report("a.pdf", "pdf", signatures=[good]).passed
    policy = Finding("verify.appearance_no_time", Severity.ERROR, "Org",
                     SubIndication.SIG_CONSTRAINTS_FAILURE)  # fmt: skip
    report = make_file_report("a.pdf", "pdf", signatures=[good], findings=[policy])
    assert (report.indication, report.sub_indication) == (
        Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE,
    )  # fmt: skip
    warning = Finding("verify.no_timestamp", Severity.WARNING)
    assert make_file_report("a.pdf", "pdf", signatures=[good], findings=[warning]).passed
    bad_attachment = make_file_report(
        "p#a.pdf",
        "pdf",
        signatures=[_signature(Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)],
    )
    package = make_file_report("p.edxml", "edxml", signatures=[good], attachments=[bad_attachment])
    assert package.indication is Indication.TOTAL_FAILED
    # Nothing signed is nothing verified.
    empty = make_file_report("x.pdf", "pdf")
    assert empty.sub_indication is SubIndication.SIGNED_DATA_NOT_FOUND


def test_json_is_bilingual_and_plain() -> None:
    finding = Finding("verify.revoked", Severity.ERROR, "detail", SubIndication.REVOKED_NO_POE)
    signature = SignatureReport(
        kind="xmldsig", name="edXMLHeader/Signature", role="envelope",
        indication=Indication.INDETERMINATE, sub_indication=SubIndication.REVOKED_NO_POE,
        signing_time=NOW, findings=(finding,),
    )  # fmt: skip
    report = make_file_report("p.edxml", "edxml", signatures=[signature])
    data = json.loads(json.dumps(report.to_dict()))
    assert data["passed"] is False
    assert data["indication"] == "INDETERMINATE"
    item = data["signatures"][0]["findings"][0]
    assert item["vi"] == "Chứng thư số đã bị thu hồi"
    assert item["en"] == "The certificate is revoked"
    assert data["signatures"][0]["signing_time"] == "2026-11-26T00:00:00+00:00"
    # Reports cross process boundaries in batch mode.
    assert pickle.loads(pickle.dumps(report)) == report


def test_scope_rule_on_real_certificates() -> None:
    root_key, sub_key = generate_key(), generate_key()
    root = create_root("root", root_key, common_name="Root", now=NOW)
    ca = CertificateAuthority("root", root, root_key, MemoryRegistry())
    sub = ca.issue(sub_key.public_key(), ca_subject("CA H41"), Profile.SUB_CA, now=NOW,
                   scope=("H41",)).certificate  # fmt: skip
    delegated = CertificateAuthority("sub", sub, sub_key, MemoryRegistry(), chain=[root])
    inside = delegated.issue_organization(
        generate_key().public_key(), OrganizationSubject("000.00.12.H41", "Sở"), now=NOW
    ).certificate
    delegated.scope = None  # the CA ignores its own scope
    outside = delegated.issue_organization(
        generate_key().public_key(), OrganizationSubject("000.00.11.H53", "Sở khác"), now=NOW
    ).certificate
    assert scope_findings([inside, sub, root]) == []
    found = scope_findings([outside, sub, root])
    assert [f.code for f in found] == ["verify.out_of_scope"]
    assert found[0].sub_indication is SubIndication.CHAIN_CONSTRAINTS_FAILURE
    info = CertificateInfo.of(sub)
    assert info.scope == ("H41",)
    assert not info.is_person
