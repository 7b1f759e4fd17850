"""The document generator, the demo images, fonts and the appearance geometry (no network)."""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader

from lienthong.domain.errors import SigningError
from lienthong.signing.anchor import find_text
from lienthong.signing.appearance import (
    Rect,
    StampImage,
    corner_appearance,
    iso_vietnam,
    mm,
    seal_appearance,
    signer_rect_above,
)
from lienthong.signing.documents import (
    DATE_FIELD,
    NUMBER_FIELD,
    DocumentSpec,
    GeneratedDocument,
    date_line,
    generate_document,
    number_line,
)
from lienthong.signing.fonts import find_font, stamp_font
from lienthong.signing.images import seal_png, signature_png

pytestmark = pytest.mark.unit


def pdftotext(data: bytes, tmp_path: Path) -> str:
    source = tmp_path / "in.pdf"
    source.write_bytes(data)
    done = subprocess.run(
        ["pdftotext", "-layout", str(source), "-"], capture_output=True, check=True
    )
    return done.stdout.decode("utf-8")


def test_generated_document_has_the_decree_30_parts(
    draft: GeneratedDocument, tmp_path: Path
) -> None:
    text = pdftotext(draft.pdf, tmp_path)
    for part in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "ỦY BAN NHÂN DÂN TỈNH NGHỆ AN",
        "Kính gửi:",
        "Nơi nhận:",
        "GIÁM ĐỐC",
        "Nguyễn Văn An",
        "V/v triển khai kết nối",
    ):
        assert part in text, part
    assert draft.pages == 1
    reader = PdfFileReader(io.BytesIO(draft.pdf))
    fields = {
        str(ref.get_object()["/T"]): ref.get_object() for ref in reader.root["/AcroForm"]["/Fields"]
    }
    assert set(fields) == {NUMBER_FIELD, DATE_FIELD}
    assert str(fields[NUMBER_FIELD]["/V"]).endswith("/STTTT-VP")
    assert str(fields[DATE_FIELD]["/V"]).startswith("Nghệ An, ngày")


def test_long_bodies_push_the_signer_block_to_a_new_page() -> None:
    spec = DocumentSpec(body=tuple(["Nội dung văn bản hành chính rất dài. " * 12] * 8))
    document = generate_document(spec)
    assert document.pages == 2
    assert document.signer_page == 1
    page, box = find_text(PdfFileReader(io.BytesIO(document.pdf)), spec.signer)
    assert page == 1
    assert abs(box.x0 - document.signer_name_box.x0) < 1.5


def test_the_anchor_finds_the_printed_name_where_the_generator_put_it(
    draft: GeneratedDocument,
) -> None:
    reader = PdfFileReader(io.BytesIO(draft.pdf))
    page, box = find_text(reader, "nguyễn  văn AN")  # case and spacing do not matter
    expected = draft.signer_name_box
    assert page == draft.signer_page
    assert abs(box.x0 - expected.x0) < 1.5
    assert abs(box.x1 - expected.x1) < 1.5
    assert expected.y0 - 3 < box.y0 < expected.y1
    with pytest.raises(SigningError) as missing:
        find_text(reader, "Trần Văn Không Có")
    assert missing.value.code == "signing.anchor_not_found"
    with pytest.raises(SigningError) as bad_page:
        find_text(reader, "Nguyễn Văn An", page_index=3)
    assert bad_page.value.code == "signing.bad_page"


def test_number_and_date_lines_follow_the_decree() -> None:
    assert number_line("7", "STTTT-VP") == "Số: 07/STTTT-VP"
    assert number_line("125", "QĐ-UBND") == "Số: 125/QĐ-UBND"
    assert date_line("Nghệ An", date(2026, 2, 5)) == "Nghệ An, ngày 05 tháng 02 năm 2026"
    assert date_line("Hà Nội", date(2026, 11, 26)) == "Hà Nội, ngày 26 tháng 11 năm 2026"
    assert date_line("Huế", None, 2026) == "Huế, ngày      tháng      năm 2026"


def test_iso_time_is_vietnam_time_to_the_second() -> None:
    moment = datetime(2026, 11, 26, 7, 30, 5, 123456, tzinfo=UTC)
    assert iso_vietnam(moment) == "2026-11-26T14:30:05+07:00"
    with pytest.raises(SigningError):
        iso_vietnam(datetime(2026, 11, 26, 7, 30))


def test_demo_images_are_transparent_coloured_and_carry_their_size() -> None:
    signature = Image.open(io.BytesIO(signature_png("Nguyễn Văn An")))
    seal = Image.open(io.BytesIO(seal_png("Sở Thông tin và Truyền thông", diameter_mm=36)))
    for image in (signature, seal):
        assert image.mode == "RGBA"
        assert image.getpixel((0, 0))[3] == 0  # transparent corner
        assert round(image.info["dpi"][0]) == 300
    inked = [p for p in signature.get_flattened_data() if p[3] > 200]
    assert inked
    assert all(p[2] > p[0] + 80 for p in inked)
    red = [p for p in seal.get_flattened_data() if p[3] > 200]
    assert red
    assert all(p[0] > p[2] + 80 for p in red)
    width, height = StampImage(seal_png("Sở Thông tin và Truyền thông")).real_size
    assert abs(width - mm(36)) < 1
    assert abs(height - mm(36)) < 1


def test_images_without_transparency_or_not_images_are_refused() -> None:
    opaque = io.BytesIO()
    Image.new("RGB", (20, 20), (0, 0, 255)).save(opaque, format="PNG")
    for data in (opaque.getvalue(), b"not a picture"):
        with pytest.raises(SigningError) as refused:
            StampImage(data, what="seal")
        assert refused.value.code == "signing.bad_image"


def test_fonts_cover_vietnamese_and_refuse_what_they_cannot_show() -> None:
    font = stamp_font()
    text = "Sở Thông tin và Truyền thông tỉnh Nghệ An — ắ ằ ẳ ẵ ặ ế ề ể ễ ệ ố ồ ổ ỗ ộ ớ ờ"
    text += " ở ỡ ợ ứ ừ ử ữ ự đ Đ"
    assert font.width(text, 10) > 0
    assert len(font.encode("ệ")) == 2
    with pytest.raises(SigningError) as missing:
        font.encode("漢")
    assert missing.value.code == "signing.missing_glyph"
    with pytest.raises(SigningError) as absent:
        find_font("NoSuchFont-Regular.ttf")
    assert absent.value.code == "signing.font_not_found"


def test_the_seal_covers_the_left_third_of_the_signer_image() -> None:
    seal = StampImage(seal_png("Sở Thông tin và Truyền thông", diameter_mm=36))
    signer = Rect(350, 260, 494, 322)
    moment = datetime(2026, 11, 26, 7, 30, 5, tzinfo=UTC)
    appearance = seal_appearance(signer, seal, "Sở Thông tin và Truyền thông", moment, stamp_font())
    assert appearance.image_box is not None
    seal_on_page = Rect(
        appearance.rect.x0 + appearance.image_box.x0, appearance.rect.y0 + appearance.image_box.y0,
        appearance.rect.x0 + appearance.image_box.x1, appearance.rect.y0 + appearance.image_box.y1,
    )  # fmt: skip
    assert abs(seal_on_page.x1 - (signer.x0 + signer.width / 3)) <= 1
    assert abs((seal_on_page.y0 + seal_on_page.y1) / 2 - (signer.y0 + signer.y1) / 2) <= 1
    assert abs(seal_on_page.width - mm(36)) <= 1
    assert appearance.text.splitlines()[-1] == "2026-11-26T14:30:05+07:00"


def test_corner_boxes_sit_at_the_top_right_inside_the_margin() -> None:
    page = Rect(0, 0, 595.28, 841.89)
    texts = [
        "125/STTTT-VP",
        "2026-11-26T14:30:05+07:00",
        "Sở Thông tin và Truyền thông tỉnh Nghệ An",
    ]
    appearance = corner_appearance(page, texts, stamp_font())
    assert appearance.rect.x1 <= page.x1 - mm(10) + 1
    assert appearance.rect.y1 <= page.y1 - mm(4) + 1
    assert appearance.rect.y0 >= page.y1 - mm(20)  # inside the decree's top margin
    assert [line.size for line in appearance.lines] == [10.0, 10.0, 10.0]
    assert appearance.text.splitlines() == texts


def test_the_signer_box_sits_above_the_name() -> None:
    image = StampImage(signature_png("Nguyễn Văn An"))
    name = Rect(373, 241, 469, 255)
    box = signer_rect_above(name, image)
    assert box.y0 >= name.y1
    assert abs((box.x0 + box.x1) / 2 - (name.x0 + name.x1) / 2) <= 1
