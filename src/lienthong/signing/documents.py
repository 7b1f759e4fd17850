# mypy: allow-untyped-calls
"""Realistic Vietnamese administrative documents for tests, demos and benchmarks.

The layout follows Decree 30/2020 Appendix I (thể thức văn bản hành chính) closely enough
to look right: A4, margins 20/15/20/30 mm; the issuing agency (its parent above it) on the
left and the national motto on the right; the number line ``Số: …/…`` and the place and
date; the type and subject; the body; ``Nơi nhận:`` bottom left and the signer block bottom
right (competence, position, room for the signature, full name).

The number and the place-and-date line are **form fields** (AcroForm text fields named
:data:`NUMBER_FIELD` and :data:`DATE_FIELD`), empty at drafting: the issuing office fills
them in when it issues the document, in the same incremental update as its signature, so
the signer's signature stays valid (:func:`lienthong.signing.pdf.issue`). Documents are
produced with fpdf2 (Liberation Serif, Times-compatible, full Vietnamese coverage); they
never stand in for an agency's real documents.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from datetime import date

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer

from lienthong.signing.appearance import Rect, mm, text_field_appearance
from lienthong.signing.fonts import find_font, stamp_font

__all__ = [
    "DATE_FIELD",
    "NUMBER_FIELD",
    "DocumentSpec",
    "GeneratedDocument",
    "date_line",
    "generate_document",
    "number_line",
    "sample_spec",
]

#: Name of the text field holding ``Số: 125/STTTT-VP`` (số, ký hiệu).
NUMBER_FIELD = "SoKyHieu"
#: Name of the text field holding ``Nghệ An, ngày 26 tháng 11 năm 2026`` (địa danh, ngày).
DATE_FIELD = "NgayBanHanh"
#: Font sizes of the two fields (Decree 30: 13 pt, the date in italics).
NUMBER_SIZE = 13.0
DATE_SIZE = 13.0

_PAGE_HEIGHT_MM = 297.0
_LEFT, _TOP, _RIGHT, _BOTTOM = 30.0, 20.0, 15.0, 20.0
_LEFT_COLUMN = 72.0  # mm, the agency block and the number line
_RIGHT_COLUMN_X = _LEFT + 68.0


@dataclass(frozen=True)
class DocumentSpec:
    """What a generated document says."""

    agency: str = "Sở Thông tin và Truyền thông"
    parent_agency: str = "Ủy ban nhân dân tỉnh Nghệ An"
    notation: str = "STTTT-VP"  #: ký hiệu, the part after ``/`` in the number line
    place: str = "Nghệ An"
    year: int = 2026
    document_type: str = "Công văn"  #: letters show ``V/v subject``; others a centred title
    subject: str = "Về việc triển khai kết nối, liên thông văn bản điện tử"
    addressees: tuple[str, ...] = ("Các sở, ban, ngành cấp tỉnh", "Ủy ban nhân dân các huyện")
    body: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ("Như trên", "Ủy ban nhân dân tỉnh (để b/c)", "Lưu: VT, VP")
    competence: str = ""  #: e.g. ``KT. GIÁM ĐỐC`` (thẩm quyền ký); empty when signing directly
    position: str = "Giám đốc"
    signer: str = "Nguyễn Văn An"


@dataclass(frozen=True)
class GeneratedDocument:
    """A generated PDF and where its parts are (PDF points, page indexes from 0)."""

    pdf: bytes
    spec: DocumentSpec
    pages: int
    signer_page: int
    signer_name_box: Rect  #: the printed full name (the anchor for the signature)
    signature_box: Rect  #: the room left for the signature, between position and name
    number_box: Rect
    date_box: Rect


def number_line(number: str, notation: str) -> str:
    """``Số: 125/STTTT-VP``; numbers below 10 get a leading zero (Decree 30)."""
    shown = number.zfill(2) if number.isdigit() else number
    return f"Số: {shown}/{notation}"


def date_line(place: str, day: date | None, year: int | None = None) -> str:
    """``Nghệ An, ngày 05 tháng 02 năm 2026``; blanks before issuance (``day`` is None).

    Decree 30 writes days below 10 and months below 3 with a leading zero.
    """
    if day is None:
        return f"{place}, ngày      tháng      năm {year or ''}".rstrip()
    month = f"{day.month:02d}" if day.month < 3 else str(day.month)
    return f"{place}, ngày {day.day:02d} tháng {month} năm {day.year}"


_SUBJECTS = (
    "Về việc triển khai kết nối, liên thông văn bản điện tử",
    "Về việc báo cáo tình hình ứng dụng chữ ký số chuyên dùng",
    "Về việc tăng cường bảo đảm an toàn thông tin mạng",
    "Về việc rà soát, cập nhật mã định danh điện tử của các cơ quan",
    "Về việc hướng dẫn gửi, nhận văn bản điện tử qua Trục liên thông",
)
_PARAGRAPHS = (
    (
        "Thực hiện Quyết định số 28/2018/QĐ-TTg ngày 12 tháng 7 năm 2018 của Thủ tướng Chính phủ "
        "về việc gửi, nhận văn bản điện tử giữa các cơ quan trong hệ thống hành chính nhà nước, "
        "Sở Thông tin và Truyền thông đề nghị các cơ quan, đơn vị triển khai một số nội dung sau:"
    ),
    (
        "Rà soát, hoàn thiện hệ thống quản lý văn bản và điều hành, bảo đảm kết nối liên thông "
        "bốn cấp chính quyền; cập nhật đầy đủ mã định danh điện tử theo Quyết định số "
        "20/2020/QĐ-TTg ngày 22 tháng 7 năm 2020."
    ),
    (
        "Sử dụng chữ ký số chuyên dùng Chính phủ đối với văn bản điện tử gửi đi; văn bản phải được "
        "ký số đúng thể thức theo quy định tại Nghị định số 30/2020/NĐ-CP ngày 05 tháng 3 năm 2020 "
        "của Chính phủ về công tác văn thư."
    ),
    (
        "Cập nhật trạng thái xử lý văn bản (đã đến, đã tiếp nhận, phân công, đang xử lý, hoàn "
        "thành) đầy đủ, kịp thời lên hệ thống để phục vụ công tác theo dõi, đôn đốc, báo cáo."
    ),
    (
        "Định kỳ hằng quý, báo cáo kết quả thực hiện về Sở Thông tin và Truyền thông trước ngày "
        "20 của tháng cuối quý để tổng hợp, báo cáo Ủy ban nhân dân tỉnh."
    ),
    (
        "Trong quá trình thực hiện, nếu có khó khăn, vướng mắc, đề nghị các cơ quan, đơn vị phản "
        "ánh về Sở Thông tin và Truyền thông (qua Phòng Công nghệ thông tin, điện thoại "
        "0238.3598.666) để được hướng dẫn, giải quyết./."
    ),
)
_SIGNERS = (
    ("Nguyễn Văn An", "Giám đốc", ""),
    ("Trần Thị Bích Ngọc", "Phó Giám đốc", "KT. GIÁM ĐỐC"),
    ("Lê Hữu Phước", "Phó Giám đốc", "KT. GIÁM ĐỐC"),
)


def sample_spec(index: int = 0, *, paragraphs: int = 4, signer: str | None = None) -> DocumentSpec:
    """A varied, plausible letter (công văn): the same ``index`` gives the same document."""
    rng = random.Random(index)  # noqa: S311 -- sample text, not a secret
    name, position, competence = _SIGNERS[index % len(_SIGNERS)]
    body = [_PARAGRAPHS[0], *rng.sample(_PARAGRAPHS[1:-1], k=min(3, paragraphs - 2))]
    while len(body) < paragraphs - 1:
        body.append(rng.choice(_PARAGRAPHS[1:-1]))
    body.append(_PARAGRAPHS[-1])
    return DocumentSpec(
        subject=_SUBJECTS[index % len(_SUBJECTS)],
        body=tuple(body),
        signer=signer or name,
        position=position,
        competence=competence,
    )


class _Pdf(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        for style, name in (
            ("", "LiberationSerif-Regular.ttf"),
            ("B", "LiberationSerif-Bold.ttf"),
            ("I", "LiberationSerif-Italic.ttf"),
            ("BI", "LiberationSerif-BoldItalic.ttf"),
        ):
            self.add_font("Serif", style, str(find_font(name)))
        self.set_margins(_LEFT, _TOP, _RIGHT)
        self.set_auto_page_break(auto=True, margin=_BOTTOM)
        self.set_creator("lienthong document generator (test and demo data)")
        self.set_author("lienthong")


def _box(x: float, top: float, width: float, height: float) -> Rect:
    """A box given in fpdf2 millimetres from the top left, in PDF points."""
    return Rect(mm(x), mm(_PAGE_HEIGHT_MM - top - height), mm(x + width),
                mm(_PAGE_HEIGHT_MM - top))  # fmt: skip


def generate_document(spec: DocumentSpec | None = None) -> GeneratedDocument:  # noqa: PLR0915 -- the page is laid out top to bottom
    """Lay out ``spec`` as a PDF with empty number and date fields."""
    spec = spec or sample_spec()
    body = spec.body or sample_spec().body
    pdf = _Pdf()
    pdf.add_page()
    width = 210 - _LEFT - _RIGHT
    # -- header: agency (left), national motto (right)
    top = _TOP
    pdf.set_xy(_LEFT - 10, top)
    pdf.set_font("Serif", "", 12)
    pdf.cell(_LEFT_COLUMN, 5.5, spec.parent_agency.upper(), align=Align.C)
    pdf.set_xy(_LEFT - 10, top + 5.5)
    pdf.set_font("Serif", "B", 12)
    pdf.multi_cell(_LEFT_COLUMN, 5.5, spec.agency.upper(), align=Align.C)
    agency_bottom = pdf.get_y()
    line_x = _LEFT - 10 + _LEFT_COLUMN / 2
    pdf.line(line_x - 12, agency_bottom + 0.8, line_x + 12, agency_bottom + 0.8)
    motto_x = _RIGHT_COLUMN_X - 4
    motto_w = 210 - _RIGHT - motto_x + 4
    pdf.set_xy(motto_x, top)
    pdf.set_font("Serif", "B", 12)
    pdf.cell(motto_w, 5.5, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", align=Align.C)
    pdf.set_xy(motto_x, top + 5.5)
    pdf.set_font("Serif", "B", 13)
    pdf.cell(motto_w, 6, "Độc lập - Tự do - Hạnh phúc", align=Align.C)
    motto_width = pdf.get_string_width("Độc lập - Tự do - Hạnh phúc")
    centre = motto_x + motto_w / 2
    pdf.line(centre - motto_width / 2, top + 12, centre + motto_width / 2, top + 12)
    # -- number line (left) and place-and-date line (right): fields, drawn later
    row = max(agency_bottom + 3.5, top + 15)
    number_box = _box(_LEFT - 10, row, _LEFT_COLUMN, 7)
    date_box = _box(motto_x, row, motto_w, 7)
    y = row + 7
    if spec.document_type.casefold() == "công văn":
        pdf.set_xy(_LEFT - 10, y + 0.5)
        pdf.set_font("Serif", "", 12)
        pdf.multi_cell(_LEFT_COLUMN, 5, spec.subject.replace("Về việc", "V/v", 1), align=Align.C)
        y = max(pdf.get_y(), y + 6) + 6
        if spec.addressees:
            pdf.set_font("Serif", "", 14)
            pdf.set_xy(_LEFT + 20, y)
            pdf.cell(15, 7, "Kính gửi:")
            for index, addressee in enumerate(spec.addressees):
                pdf.set_xy(_LEFT + 42, y + 7 * index)
                pdf.cell(width - 42, 7, f"- {addressee};" if len(spec.addressees) > 1
                         else addressee + ".")  # fmt: skip
            y += 7 * len(spec.addressees) + 4
    else:
        y += 6
        pdf.set_xy(_LEFT, y)
        pdf.set_font("Serif", "B", 14)
        pdf.cell(width, 7, spec.document_type.upper(), align=Align.C,
                 new_x=XPos.LMARGIN, new_y=YPos.NEXT)  # fmt: skip
        pdf.set_font("Serif", "B", 14)
        pdf.multi_cell(width, 6.5, spec.subject, align=Align.C)
        y = pdf.get_y() + 6
    # -- body
    pdf.set_xy(_LEFT, y)
    pdf.set_font("Serif", "", 14)
    with pdf.text_columns(text_align="J", line_height=1.15) as columns:
        for paragraph in body:
            with columns.paragraph(first_line_indent=10, bottom_margin=2.5) as par:
                par.write(paragraph)
    y = pdf.get_y() + 4
    # -- recipients (left) and signer block (right); a new page when they do not fit
    block_height = 60.0
    if y + block_height > _PAGE_HEIGHT_MM - _BOTTOM:
        pdf.add_page()
        y = _TOP
    pdf.set_xy(_LEFT, y)
    pdf.set_font("Serif", "BI", 12)
    pdf.cell(60, 5.5, "Nơi nhận:", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Serif", "", 11)
    for index, recipient in enumerate(spec.recipients):
        end = "./." if index == len(spec.recipients) - 1 else ";"
        pdf.cell(72, 5, f"- {recipient}{end}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    block_x = _RIGHT_COLUMN_X + 4
    block_w = 210 - _RIGHT - block_x
    pdf.set_xy(block_x, y)
    pdf.set_font("Serif", "B", 14)
    if spec.competence:
        pdf.cell(block_w, 6.5, spec.competence.upper(), align=Align.C)
        pdf.set_xy(block_x, y + 6.5)
    pdf.cell(block_w, 6.5, spec.position.upper(), align=Align.C)
    position_bottom = pdf.get_y() + 6.5
    name_top = position_bottom + 30
    pdf.set_xy(block_x, name_top)
    pdf.cell(block_w, 6.5, spec.signer, align=Align.C)
    name_width = pdf.get_string_width(spec.signer)
    signer_page = pdf.page_no() - 1
    name_box = _box(block_x + (block_w - name_width) / 2, name_top + 1, name_width, 5)
    signature_box = _box(block_x + 5, position_bottom + 2, block_w - 10, 26)
    raw = bytes(pdf.output())
    pages = pdf.page_no()
    data = _add_fields(raw, spec, number_box, date_box)
    return GeneratedDocument(
        pdf=data, spec=spec, pages=pages, signer_page=signer_page, signer_name_box=name_box,
        signature_box=signature_box, number_box=number_box, date_box=date_box,
    )  # fmt: skip


def _add_fields(raw: bytes, spec: DocumentSpec, number_box: Rect, date_box: Rect) -> bytes:
    """Add the number and date text fields (with their empty-looking appearances)."""
    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(raw)))
    page_ref, _ = writer.find_page_for_modification(0)
    regular = stamp_font("LiberationSerif-Regular.ttf")
    italic = stamp_font("LiberationSerif-Italic.ttf")
    fields = generic.ArrayObject()
    for name, box, text, font, size, align in (
        (NUMBER_FIELD, number_box, f"Số:        /{spec.notation}", regular, NUMBER_SIZE, "center"),
        (DATE_FIELD, date_box, date_line(spec.place, None, spec.year), italic, DATE_SIZE, "center"),
    ):
        appearance = text_field_appearance(
            writer, font, text, box.width, box.height, size, align=align
        )
        widget = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Annot"),
                pdf_name("/Subtype"): pdf_name("/Widget"),
                pdf_name("/FT"): pdf_name("/Tx"),
                pdf_name("/T"): generic.TextStringObject(name),
                pdf_name("/TU"): generic.TextStringObject(
                    "Số, ký hiệu văn bản" if name == NUMBER_FIELD else "Địa danh, ngày ban hành"
                ),
                pdf_name("/V"): generic.TextStringObject(text),
                pdf_name("/DA"): generic.TextStringObject(f"/Helv {size:g} Tf 0 g"),
                pdf_name("/Q"): generic.NumberObject(1),
                pdf_name("/F"): generic.NumberObject(4),  # print
                pdf_name("/Rect"): generic.ArrayObject(
                    generic.FloatObject(round(v, 3)) for v in box.as_tuple()
                ),
                pdf_name("/P"): page_ref,
                pdf_name("/AP"): generic.DictionaryObject({pdf_name("/N"): appearance}),
            }
        )
        widget_ref = writer.add_object(widget)
        writer.register_annotation(page_ref, widget_ref)
        fields.append(widget_ref)
    helvetica = writer.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Font"),
                pdf_name("/Subtype"): pdf_name("/Type1"),
                pdf_name("/BaseFont"): pdf_name("/Helvetica"),
            }
        )
    )
    writer.root[pdf_name("/AcroForm")] = writer.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Fields"): fields,
                pdf_name("/DR"): generic.DictionaryObject(
                    {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/Helv"): helvetica})}
                ),
                pdf_name("/DA"): generic.TextStringObject("/Helv 0 Tf 0 g"),
            }
        )
    )
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
