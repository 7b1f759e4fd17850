"""PDF signing end to end through the library: signer, issuance, attachment, copy, the four
PAdES levels, against a live ``lienthong ca serve`` (timestamps, OCSP), checked with pyHanko's
own validator (signature integrity, difference analysis between revisions)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding
from fpdf import FPDF
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko_certvalidator import ValidationContext

from lienthong.domain.errors import SigningError
from lienthong.domain.vntime import VIETNAM_TZ
from lienthong.signing.appearance import Rect, StampImage
from lienthong.signing.documents import DATE_FIELD, NUMBER_FIELD, GeneratedDocument
from lienthong.signing.fonts import find_font
from lienthong.signing.pdf import (
    ATTACHMENT_FIELD,
    COPY_FIELD,
    ORGANISATION_FIELD,
    SIGNER_FIELD,
    CopyForm,
    Level,
    Placement,
    Services,
    SigningIdentity,
    issue,
    sign_attachment,
    sign_copy,
    sign_signer,
)

if TYPE_CHECKING:
    from conftest import ServedCa

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 26, 7, 30, 5, 999000, tzinfo=UTC)


def context(ca: ServedCa) -> ValidationContext:
    root = asn1_x509.Certificate.load(ca.root.public_bytes(Encoding.DER))
    return ValidationContext(trust_roots=[root], allow_fetching=True)


def statuses(pdf: bytes, ca: ServedCa) -> dict[str, object]:
    reader = PdfFileReader(io.BytesIO(pdf))
    found: dict[str, object] = {}
    for embedded in reader.embedded_signatures:
        if embedded.sig_object.get("/Type") == "/DocTimeStamp":
            found[embedded.field_name] = validate_pdf_timestamp(
                embedded, validation_context=context(ca)
            )
        else:
            found[embedded.field_name] = validate_pdf_signature(
                embedded, signer_validation_context=context(ca), ts_validation_context=context(ca)
            )
    return found


def field_values(pdf: bytes) -> dict[str, str]:
    reader = PdfFileReader(io.BytesIO(pdf))
    return {
        str(ref.get_object()["/T"]): str(ref.get_object().get("/V", ""))
        for ref in reader.root["/AcroForm"]["/Fields"]
    }


def issued_document(  # noqa: PLR0917 -- test helper
    draft: GeneratedDocument, person: SigningIdentity, organisation: SigningIdentity,
    signature: StampImage, seal: StampImage, level: Level, services: Services,
) -> tuple[bytes, object, object]:  # fmt: skip
    signed = sign_signer(draft.pdf, person, signature, now=NOW, level=level, services=services)
    issued = issue(signed.pdf, organisation, seal, number="7", now=NOW, level=level,
                   services=services)  # fmt: skip
    return issued.pdf, signed, issued


def test_signer_then_issuance_keeps_the_first_signature_valid(  # noqa: PLR0917 -- pytest fixtures
    served_signing_ca: ServedCa, draft: GeneratedDocument, person: SigningIdentity,
    organisation: SigningIdentity, signature_image: StampImage, seal_image: StampImage,
) -> None:  # fmt: skip
    pdf, signed, issued = issued_document(
        draft, person, organisation, signature_image, seal_image, Level.B_B,
        served_signing_ca.services(),
    )  # fmt: skip
    found = statuses(pdf, served_signing_ca)
    assert set(found) == {SIGNER_FIELD, ORGANISATION_FIELD}
    first, second = found[SIGNER_FIELD], found[ORGANISATION_FIELD]
    assert first.bottom_line
    assert second.bottom_line
    # Filling in the number and date is form filling, which an approval signature allows.
    assert first.modification_level == ModificationLevel.FORM_FILLING  # type: ignore[attr-defined]
    assert first.docmdp_ok  # type: ignore[attr-defined]
    # The signer's box is found above the printed name, inside the room the draft left.
    assert signed.rect is not None  # type: ignore[attr-defined]
    box = signed.rect  # type: ignore[attr-defined]
    assert box.y0 >= draft.signer_name_box.y1
    assert box.y1 <= draft.signature_box.y1 + 4
    # Number and date filled in; the date is the signing date in Vietnam.
    values = field_values(pdf)
    assert values[NUMBER_FIELD] == "Số: 07/STTTT-VP"
    assert values[DATE_FIELD] == "Nghệ An, ngày 26 tháng 11 năm 2026"
    # The time shown is the time signed (/M), to the second, in +07:00.
    assert issued.text.splitlines()[-1] == "2026-11-26T14:30:05+07:00"  # type: ignore[attr-defined]
    reader = PdfFileReader(io.BytesIO(pdf))
    by_name = {s.field_name: s for s in reader.embedded_signatures}
    signed_at = by_name[ORGANISATION_FIELD].self_reported_timestamp
    assert signed_at is not None
    assert signed_at.astimezone(VIETNAM_TZ).isoformat() == "2026-11-26T14:30:05+07:00"
    # The seal's right edge is one third into the signer's image.
    assert issued.rect.x0 < box.x0 < issued.rect.x1 < box.x1  # type: ignore[attr-defined]


@pytest.mark.parametrize("level", [Level.B_T, Level.B_LT, Level.B_LTA])
def test_levels_add_timestamps_validation_data_and_archive_timestamps(  # noqa: PLR0917 -- pytest fixtures
    level: Level, served_signing_ca: ServedCa, draft: GeneratedDocument, person: SigningIdentity,
    organisation: SigningIdentity, signature_image: StampImage, seal_image: StampImage,
) -> None:  # fmt: skip
    pdf, _, _ = issued_document(
        draft, person, organisation, signature_image, seal_image, level,
        served_signing_ca.services(),
    )  # fmt: skip
    found = statuses(pdf, served_signing_ca)
    for name in (SIGNER_FIELD, ORGANISATION_FIELD):
        status = found[name]
        assert status.bottom_line, (name, status)  # type: ignore[attr-defined]
        assert status.timestamp_validity is not None  # type: ignore[attr-defined]
        assert status.timestamp_validity.intact  # type: ignore[attr-defined]
    reader = PdfFileReader(io.BytesIO(pdf))
    has_dss = "/DSS" in reader.root
    assert has_dss == (level in (Level.B_LT, Level.B_LTA))
    if has_dss:
        assert len(reader.root["/DSS"]["/OCSPs"]) >= 1
    doc_timestamps = [k for k, v in found.items() if k not in (SIGNER_FIELD, ORGANISATION_FIELD)]
    assert bool(doc_timestamps) == (level == Level.B_LTA)
    for name in doc_timestamps:
        assert found[name].valid
        assert found[name].intact


def test_attachment_and_copy_sign_at_the_top_right_with_text(
    served_signing_ca: ServedCa, draft: GeneratedDocument, organisation: SigningIdentity,
) -> None:  # fmt: skip
    services = served_signing_ca.services()
    attached = sign_attachment(
        draft.pdf, organisation, main_number="07/STTTT-VP", now=NOW, level=Level.B_T,
        services=services,
    )  # fmt: skip
    assert attached.text.splitlines() == [
        "07/STTTT-VP",
        "2026-11-26T14:30:05+07:00",
        "Sở Thông tin và Truyền thông tỉnh Nghệ An",
    ]
    assert attached.page == 1
    assert attached.rect is not None
    assert attached.rect.y1 > 800
    assert attached.rect.x1 > 500
    copied = sign_copy(
        attached.pdf, organisation, form=CopyForm.TRICH_SAO, copy_number="03/TS-STTTT",
        now=NOW, level=Level.B_T, services=services,
    )  # fmt: skip
    assert copied.text.splitlines()[0] == "TRÍCH SAO số 03/TS-STTTT"
    found = statuses(copied.pdf, served_signing_ca)
    assert found[ATTACHMENT_FIELD].bottom_line  # type: ignore[attr-defined]
    assert found[COPY_FIELD].bottom_line  # type: ignore[attr-defined]


def test_a_given_rectangle_and_page_are_used_as_given(
    served_signing_ca: ServedCa, draft: GeneratedDocument, person: SigningIdentity,
    signature_image: StampImage,
) -> None:  # fmt: skip
    result = sign_signer(
        draft.pdf, person, signature_image, now=NOW, level=Level.B_B,
        placement=Placement(1, Rect(100, 100, 250, 160)),
    )  # fmt: skip
    assert result.rect == Rect(100, 100, 250, 160)
    with pytest.raises(SigningError) as bad_page:
        sign_signer(draft.pdf, person, signature_image, now=NOW, level=Level.B_B,
                    placement=Placement(9, Rect(100, 100, 250, 160)))  # fmt: skip
    assert bad_page.value.code == "signing.bad_page"


def test_refusals_carry_codes(  # noqa: PLR0917 -- pytest fixtures
    served_signing_ca: ServedCa, draft: GeneratedDocument, person: SigningIdentity,
    organisation: SigningIdentity, signature_image: StampImage, seal_image: StampImage,
) -> None:  # fmt: skip
    def code_of(call: object) -> str:
        with pytest.raises(SigningError) as refused:
            call()  # type: ignore[operator]
        return refused.value.code

    signed = sign_signer(draft.pdf, person, signature_image, now=NOW, level=Level.B_B)
    assert code_of(lambda: sign_signer(signed.pdf, person, signature_image, now=NOW,
                                       level=Level.B_B)) == "signing.field_in_use"  # fmt: skip
    assert code_of(lambda: issue(draft.pdf, organisation, seal_image, number="1", now=NOW,
                                 level=Level.B_B)) == "signing.no_signer_signature"  # fmt: skip
    # A PDF without the number and date fields (not made by our generator).
    plain = FPDF()
    plain.add_page()
    plain.add_font("Serif", "", str(find_font()))
    plain.set_font("Serif", size=14)
    plain.set_xy(120, 200)
    plain.cell(60, 8, "Nguyễn Văn An")
    plain_signed = sign_signer(bytes(plain.output()), person, signature_image, now=NOW,
                               level=Level.B_B)  # fmt: skip
    assert code_of(lambda: issue(plain_signed.pdf, organisation, seal_image, number="1",
                                 now=NOW, level=Level.B_B)) == "signing.no_form_field"  # fmt: skip
    mismatched = lambda: SigningIdentity(person.key, organisation.certificate)  # noqa: E731
    assert code_of(mismatched) == "signing.certificate_mismatch"
    assert code_of(lambda: sign_signer(b"%PDF-1.7 garbage", person, signature_image, now=NOW,
                                       level=Level.B_B)) == "signing.bad_pdf"  # fmt: skip
    unreachable = Services(tsa_url="http://127.0.0.1:9/tsa/none", timeout=2)
    assert code_of(lambda: sign_signer(draft.pdf, person, signature_image, now=NOW,
                                       level=Level.B_T, services=unreachable)
                   ) == "signing.timestamp_failed"  # fmt: skip
    assert code_of(lambda: sign_signer(draft.pdf, person, signature_image, now=NOW,
                                       level=Level.B_LT, services=Services(
                                           tsa_url=served_signing_ca.tsa_url))
                   ) == "signing.revocation_unavailable"  # fmt: skip
