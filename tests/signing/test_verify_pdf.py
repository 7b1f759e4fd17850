"""PDF verification: the Decree 30 appearance rules read from the widgets, B-LT documents
verified offline from their embedded revocation data, and the report's details."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from test_adversarial import NOW, Pki, _signed_pdf, pki  # noqa: F401 - the module's fixture

from lienthong.signing.appearance import Rect, StampImage
from lienthong.signing.documents import generate_document, sample_spec
from lienthong.signing.images import seal_png, signature_png
from lienthong.signing.pdf import Level, Placement, sign_attachment, sign_signer
from lienthong.signing.report import Indication, RevocationStatus, SubIndication
from lienthong.signing.verify import Verifier, VerifyOptions

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("verify-ca")]


@pytest.fixture(scope="module")
def verifier(pki: Pki) -> Iterator[Verifier]:  # noqa: F811
    with Verifier(pki.options()) as verifier:
        yield verifier


def test_report_details_of_a_good_document(pki: Pki, verifier: Verifier) -> None:  # noqa: F811
    report = verifier.verify_bytes(_signed_pdf(pki), "vb.pdf")
    assert report.passed, report.to_dict()
    signer, organisation = report.signatures
    assert signer.signer is not None
    assert signer.signer.title == "Giám đốc"
    assert organisation.signer is not None
    assert organisation.signer.agency_code == "000.00.12.H41"
    for signature in report.signatures:
        assert [c.common_name for c in signature.chain][1:] == [
            "CA tỉnh Nghệ An",
            "RootCA lienthong (thử nghiệm)",
        ]
        assert signature.revocation is not None
        assert signature.revocation.status is RevocationStatus.GOOD
        assert signature.revocation.source in ("ocsp", "crl", "ocsp+crl")
        assert signature.timestamp is not None
        assert signature.timestamp.valid
        assert signature.intact
        assert signature.valid
    assert signer.changes_after == "form filling"  # the number and date, filled at issuance
    assert organisation.covers == "the entire file"


def test_organisation_stamp_without_seal_or_time(pki: Pki, verifier: Verifier) -> None:  # noqa: F811
    doc = generate_document(sample_spec(signer="Nguyễn Văn An"))
    one = sign_signer(doc.pdf, pki.identities["nguyen-van-an"],
                      StampImage(signature_png("Nguyễn Văn An")), now=NOW,
                      services=pki.services, anchor="Nguyễn Văn An")  # fmt: skip
    identity = pki.identities["so-tttt-nghe-an"]
    writer = IncrementalPdfFileWriter(io.BytesIO(one.pdf))
    # pyHanko's own text stamp, far from the signer: no seal image, no ISO time.
    out = signers.sign_pdf(
        writer, signers.PdfSignatureMetadata(field_name="Org"), signer=identity.signer,
        new_field_spec=fields.SigFieldSpec("Org", box=(50, 50, 200, 100), on_page=0),
    )  # fmt: skip
    report = verifier.verify_bytes(out.getvalue(), "stamp.pdf")
    assert report.indication is Indication.INDETERMINATE
    assert report.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE
    codes = {f.code for f in report.findings}
    assert {"verify.appearance_no_seal", "verify.appearance_no_time"} <= codes


def test_seal_not_over_the_signer_image(pki: Pki, verifier: Verifier) -> None:  # noqa: F811
    doc = generate_document(sample_spec(signer="Nguyễn Văn An"))
    one = sign_signer(doc.pdf, pki.identities["nguyen-van-an"],
                      StampImage(signature_png("Nguyễn Văn An")), now=NOW,
                      services=pki.services, anchor="Nguyễn Văn An")  # fmt: skip
    # The organisation signs "as a signer" would, somewhere else on the page: an image, but
    # not over the left third of the signer's image.
    elsewhere = sign_signer(one.pdf, pki.identities["so-tttt-nghe-an"],
                            StampImage(seal_png("SỞ TTTT NGHỆ AN")), now=NOW,
                            services=pki.services, field_name="Org",
                            placement=Placement(1, Rect(40, 40, 140, 140)))  # fmt: skip
    report = verifier.verify_bytes(elsewhere.pdf, "misplaced.pdf")
    codes = {f.code for f in report.findings}
    assert "verify.appearance_seal_misplaced" in codes
    assert not report.passed


def test_attachment_signature_top_right(pki: Pki, verifier: Verifier) -> None:  # noqa: F811
    signed = sign_attachment(generate_document(sample_spec(1)).pdf,
                             pki.identities["so-tttt-nghe-an"], main_number="12/STTTT-VP",
                             now=NOW, services=pki.services)  # fmt: skip
    report = verifier.verify_bytes(signed.pdf, "phu-luc.pdf")
    assert report.passed, report.to_dict()


def test_b_lt_verifies_offline_from_embedded_data(pki: Pki) -> None:  # noqa: F811
    doc = generate_document(sample_spec(signer="Nguyễn Văn An"))
    signed = sign_signer(doc.pdf, pki.identities["nguyen-van-an"],
                         StampImage(signature_png("Nguyễn Văn An")), now=NOW,
                         services=pki.services, anchor="Nguyễn Văn An",
                         level=Level.B_LT)  # fmt: skip
    options = VerifyOptions(pki.options().trust_roots, online=False)
    with Verifier(options) as offline:
        report = offline.verify_bytes(signed.pdf, "lt.pdf")
        b_t = sign_signer(doc.pdf, pki.identities["nguyen-van-an"],
                          StampImage(signature_png("Nguyễn Văn An")), now=NOW,
                          services=pki.services, anchor="Nguyễn Văn An")  # fmt: skip
        without = offline.verify_bytes(b_t.pdf, "t.pdf")
    signature = report.signatures[0]
    assert signature.indication is Indication.TOTAL_PASSED, report.to_dict()
    assert signature.revocation is not None
    assert signature.revocation.source == "embedded"
    # Without embedded data and without the network, revocation cannot be established.
    assert without.signatures[0].indication is Indication.INDETERMINATE
