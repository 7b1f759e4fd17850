"""Fixtures for the hostile-input tests: one valid package, built (not hand-written), and its bytes.

Session-scoped so that hypothesis tests may use them (packages are immutable values).
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime

import pytest

from lienthong.domain.edxml.builder import DocumentDraft, FileToAttach, build_document
from lienthong.domain.edxml.model import Organization, Package
from lienthong.domain.edxml.serializer import serialize_package
from lienthong.domain.vntime import VIETNAM_TZ

SENDER = Organization(organ_id="000.00.00.G22", organ_name="Văn phòng Chính phủ")
RECIPIENTS = (
    Organization(organ_id="000.00.00.H41", organ_name="UBND Tỉnh Nghệ An"),
    Organization(organ_id="000.00.11.H53", organ_name="Sở Nội vụ Tây Ninh"),
)
NOW = datetime(2015, 9, 30, 10, 15, 0, tzinfo=VIETNAM_TZ)
PDF = b"%PDF-1.4\n% Quy\xe1\xba\xbft \xc4\x91\xe1\xbb\x8bnh\n%%EOF\n"


def _zipped(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def valid_package() -> Package:
    """A document package with two recipients, a PDF and a ZIP-wrapped appendix."""
    draft = DocumentDraft(
        sender=SENDER,
        recipients=RECIPIENTS,
        code_number="7816",
        code_notation="VPCP-TTĐT",
        promulgation_date=date(2015, 9, 30),
        place="Hà Nội",
        subject="Về việc triển khai liên thông văn bản điện tử",
        due_date=date(2015, 10, 15),
        page_amount=2,
        promulgation_amount=3,
        files=(
            FileToAttach("Quyết định 123.pdf", PDF),
            FileToAttach(
                "phu-luc.zip",
                _zipped("Phụ lục 1.pdf", PDF * 3),
                content_type="application/zip",
            ),
        ),
    )
    return build_document(draft, now=NOW)


@pytest.fixture(scope="session")
def valid_package_bytes(valid_package: Package) -> bytes:
    """The valid package as the serialiser writes it (UTF-8, with declaration)."""
    return serialize_package(valid_package)
