"""ZIP-wrapped payloads are unwrapped in memory, within bounds, or refused with a code.

Archives are built here with :mod:`zipfile` (and patched byte by byte where a hostile producer
would lie); nothing is read from or written to disk.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import random
import struct
import tracemalloc
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Sequence

import pytest

from lienthong.domain.edxml.attachments import (
    check_payload,
    is_safe_name,
    is_zip,
    payload_files,
    unzip_bounded,
)
from lienthong.domain.edxml.limits import DEFAULT_LIMITS, Limits
from lienthong.domain.edxml.model import Attachment
from lienthong.domain.errors import CATALOGUE, EdxmlError

pytestmark = pytest.mark.unit

#: Lowered bounds for the size tests, so archives stay small and the tests fast.
SMALL = Limits(max_unzipped_bytes=1_000_000, max_zip_ratio=1_000_000, max_zip_members=10)


def make_zip(members: Sequence[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members:
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buffer.getvalue()


def attachment_of(data: bytes, name: str = "payload.zip") -> Attachment:
    return Attachment(
        content_id="cid:1",
        attachment_name=name,
        content_type="application/zip",
        encoded=base64.b64encode(data).decode("ascii"),
    )


def refused(data: bytes, code: str, limits: Limits = DEFAULT_LIMITS) -> EdxmlError:
    """``data`` must be refused with ``code`` by every entry point (nothing else raised)."""
    with pytest.raises(EdxmlError) as info:
        unzip_bounded(data, limits)
    assert info.value.code == code, f"{info.value.code} ({info.value.detail})"
    assert info.value.code in CATALOGUE
    for entry_point in (payload_files, check_payload):
        with pytest.raises(EdxmlError) as again:
            entry_point(attachment_of(data), limits)
        assert again.value.code == code
    return info.value


# The offsets of the fields we patch (APPNOTE.TXT §4.3.7 and §4.3.12).
LOCAL_FLAGS, LOCAL_METHOD, LOCAL_CSIZE, LOCAL_USIZE, LOCAL_NAME = 6, 8, 18, 22, 30
CENTRAL_FLAGS, CENTRAL_METHOD, CENTRAL_CSIZE, CENTRAL_USIZE, CENTRAL_NAME = 8, 10, 20, 24, 46


def patch(data: bytes, central: dict[int, bytes], local: dict[int, bytes]) -> bytes:
    """Overwrite fields of the first member's central and local headers."""
    out = bytearray(data)
    start = out.rfind(b"PK\x01\x02")
    assert start > 0
    assert out.startswith(b"PK\x03\x04")
    for offset, value in central.items():
        out[start + offset : start + offset + len(value)] = value
    for offset, value in local.items():
        out[offset : offset + len(value)] = value
    return bytes(out)


def u32(value: int) -> bytes:
    return struct.pack("<I", value)


def u16(value: int) -> bytes:
    return struct.pack("<H", value)


@pytest.fixture(scope="module")
def zeros_bomb() -> bytes:
    """50 MB of zeros deflated to about 50 KB (a ratio of about 1000)."""
    return make_zip([("zeros.bin", bytes(50 * 1024 * 1024))])


# --- the normal case ---------------------------------------------------------------------------


def test_normal_zip_unwraps_with_names_bytes_and_digests() -> None:
    members = [
        ("Quyết định 123.pdf", b"%PDF-1.4 decision" * 100),
        ("Phụ lục.docx", bytes(range(256)) * 10),
        ("empty.txt", b""),
    ]
    files = payload_files(attachment_of(make_zip(members)))
    assert [(f.name, f.data, f.from_zip) for f in files] == [(n, d, True) for n, d in members]
    for file, (_, data) in zip(files, members, strict=True):
        assert file.size == len(data)
        assert file.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_stored_and_deflated_members_are_accepted(method: int) -> None:
    data = random.Random(0).randbytes(10_000)  # incompressible: any ratio is fine
    (file,) = unzip_bounded(make_zip([("a.txt", data)], method))
    assert file.data == data


def test_directories_are_skipped() -> None:
    files = unzip_bounded(make_zip([("folder/", b""), ("a.txt", b"a")]))
    assert [f.name for f in files] == ["a.txt"]


def test_empty_archive_carries_no_file() -> None:
    data = make_zip([])
    assert is_zip(data)
    assert unzip_bounded(data) == ()


def test_plain_file_is_returned_as_it_is() -> None:
    pdf = b"%PDF-1.7 not a zip"
    (file,) = payload_files(attachment_of(pdf, "Quyết định 123.pdf"))
    assert (file.name, file.data, file.from_zip) == ("Quyết định 123.pdf", pdf, False)
    check_payload(attachment_of(pdf))  # no error


def test_zip_is_recognised_by_magic_not_content_type() -> None:
    wrapped = make_zip([("inner.pdf", b"%PDF")])
    attachment = Attachment(
        attachment_name="x.pdf",
        content_type="application/pdf",
        encoded=base64.b64encode(wrapped).decode(),
    )
    (file,) = payload_files(attachment)
    assert (file.name, file.from_zip) == ("inner.pdf", True)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"PK\x03\x04rest", True),
        (b"PK\x05\x06" + bytes(18), True),
        (b"%PDF-1.4", False),
        (b"", False),
        (b"PK", False),
        (b"pk\x03\x04", False),
    ],
)
def test_is_zip(data: bytes, expected: bool) -> None:
    assert is_zip(data) is expected


# --- bombs ---------------------------------------------------------------------------------------


def test_bomb_is_refused_by_ratio_with_default_limits(zeros_bomb: bytes) -> None:
    assert len(zeros_bomb) < 100_000  # the test is about the ratio, not the size
    error = refused(zeros_bomb, "edxml.zip_bomb")
    assert "zeros.bin" in error.detail


def test_ratio_just_under_the_limit_is_accepted() -> None:
    data = make_zip([("zeros.bin", bytes(100_000))])
    compressed = zipfile.ZipFile(io.BytesIO(data)).infolist()[0].compress_size
    ratio = 100_000 // compressed + 1
    (file,) = unzip_bounded(data, Limits(max_zip_ratio=ratio))
    assert file.size == 100_000
    refused(data, "edxml.zip_bomb", Limits(max_zip_ratio=ratio - 2))


def test_bomb_is_refused_by_total_size() -> None:
    chunk = bytes(range(256)) * 2_400  # 614 400 bytes, compresses poorly enough
    assert len(unzip_bounded(make_zip([("a.bin", chunk)]), SMALL)) == 1
    error = refused(make_zip([("a.bin", chunk), ("b.bin", chunk)]), "edxml.zip_bomb", SMALL)
    assert "1228800" in error.detail


def test_bomb_is_refused_by_member_count() -> None:
    ten = [(f"f{i}.txt", b"x") for i in range(10)]
    assert len(unzip_bounded(make_zip(ten), SMALL)) == 10
    error = refused(make_zip([*ten, ("f10.txt", b"x")]), "edxml.zip_bomb", SMALL)
    assert "11" in error.detail


def test_directories_count_as_members() -> None:
    # Each entry costs zipfile a central-directory record to read, file or not.
    entries = [(f"d{i}/", b"") for i in range(10)] + [("a.txt", b"x")]
    refused(make_zip(entries), "edxml.zip_bomb", SMALL)


def _peak_bytes(action: Callable[[], object]) -> int:
    """The most memory Python allocated while ``action`` ran (a refusal is fine)."""
    tracemalloc.start()
    try:
        with contextlib.suppress(EdxmlError):
            action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_member_whose_sizes_lie_never_expands_beyond_the_bound(zeros_bomb: bytes) -> None:
    # The headers claim 1 000 bytes; the deflate stream holds 50 MB of zeros.
    lying = patch(
        zeros_bomb,
        central={CENTRAL_USIZE: u32(1_000)},
        local={LOCAL_USIZE: u32(1_000)},
    )
    outcome: list[object] = []

    def unwrap() -> None:
        try:
            outcome.append(unzip_bounded(lying))
        except EdxmlError as exc:
            outcome.append(exc)
            raise

    peak = _peak_bytes(unwrap)
    assert peak < 4 * 1024 * 1024, f"{peak} bytes allocated for a 1 000-byte member"
    (result,) = outcome
    if isinstance(result, EdxmlError):
        assert result.code in ("edxml.bad_zip", "edxml.zip_bomb")
    else:
        assert isinstance(result, tuple)
        assert sum(f.size for f in result) <= 1_000


def test_member_claiming_a_larger_compressed_size_is_refused(zeros_bomb: bytes) -> None:
    # A large declared compressed size would loosen the ratio bound; the stream then runs
    # past its data into the central directory and breaks.
    lying = patch(
        zeros_bomb,
        central={CENTRAL_CSIZE: u32(len(zeros_bomb) * 1_000)},
        local={LOCAL_CSIZE: u32(len(zeros_bomb) * 1_000)},
    )
    with pytest.raises(EdxmlError) as info:
        unzip_bounded(lying)
    assert info.value.code in ("edxml.bad_zip", "edxml.zip_bomb")


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_methods_without_a_streaming_bound_are_refused(method: int) -> None:
    # 20 MB of zeros in a few hundred bytes; the headers then claim 100 bytes. zipfile hands
    # bzip2 and LZMA a whole compressed chunk at once: only refusing the method bounds it.
    data = make_zip([("zeros.bin", bytes(20 * 1024 * 1024))], method)
    lying = patch(data, central={CENTRAL_USIZE: u32(100)}, local={LOCAL_USIZE: u32(100)})
    peak = _peak_bytes(lambda: unzip_bounded(lying))
    assert peak < 4 * 1024 * 1024, f"{peak} bytes allocated"
    refused(lying, "edxml.bad_zip")
    refused(make_zip([("small.txt", b"hello")], method), "edxml.bad_zip")


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["../evil", "../../etc/passwd", "/abs", "/etc/cron.d/x", "C:\\x", "C:x", "a/b", "a\\b", ".."],
)
def test_member_names_with_paths_are_refused(name: str) -> None:
    error = refused(make_zip([("ok.txt", b"fine"), (name, b"evil")]), "edxml.bad_attachment_name")
    assert error.detail  # says which name


@pytest.mark.parametrize(
    "name",
    [
        "Quyết định 123.pdf",
        "Phụ lục (kèm theo).docx",
        "Báo cáo_2024-01.xlsx",
        "report.final.v2.pdf",
        ".hidden",
        "..double-dot-prefix.txt",
        "a b",
        "文件.pdf",
        "x" * 255,
    ],
)
def test_safe_names(name: str) -> None:
    assert is_safe_name(name)


def test_vietnamese_names_are_safe_in_both_normal_forms() -> None:
    name = "Quyết định số 123/QĐ-UBND.pdf".replace("/", "-")
    assert is_safe_name(unicodedata.normalize("NFC", name))
    assert is_safe_name(unicodedata.normalize("NFD", name))  # combining marks are letters


@pytest.mark.parametrize(
    "name",
    [
        None,
        "",
        ".",
        "..",
        "../evil",
        "..\\evil",
        "/abs",
        "\\\\server\\share",
        "C:\\x",
        "C:x",
        "a/b",
        "a\\b",
        "~user",
        " leading",
        "trailing ",
        "trailing\n",
        "nul\x00.pdf",
        "tab\there",
        "bell\x07",
        "invoice\u202efdp.exe",  # right-to-left override: looks like invoiceexe.pdf
        "zero\u200bwidth",
        "x" * 256,
    ],
)
def test_unsafe_names(name: str | None) -> None:
    assert not is_safe_name(name)


# --- corrupt archives -----------------------------------------------------------------------------


def test_encrypted_member_is_refused() -> None:
    data = make_zip([("secret.txt", b"hello")])
    flags = zipfile.ZipFile(io.BytesIO(data)).infolist()[0].flag_bits | 0x1
    refused(patch(data, {CENTRAL_FLAGS: u16(flags)}, {LOCAL_FLAGS: u16(flags)}), "edxml.bad_zip")


@pytest.mark.parametrize("cut", [4, 30, 100, -30, -1])
def test_truncated_zip_is_refused(cut: int) -> None:
    data = make_zip([("a.txt", bytes(range(256)) * 40)])
    refused(data[:cut], "edxml.bad_zip")


def test_corrupt_compressed_data_is_refused() -> None:
    data = bytearray(make_zip([("a.txt", bytes(range(256)) * 40)]))
    start = LOCAL_NAME + len("a.txt")
    for offset in range(start, start + 40):
        data[offset] ^= 0xFF
    refused(bytes(data), "edxml.bad_zip")


def test_wrong_crc_is_refused() -> None:
    data = make_zip([("a.txt", b"hello world")])
    info = zipfile.ZipFile(io.BytesIO(data)).infolist()[0]
    wrong = u32(info.CRC ^ 0xFFFFFFFF)
    refused(patch(data, {16: wrong}, {14: wrong}), "edxml.bad_zip")


def test_unknown_compression_method_is_refused() -> None:
    data = make_zip([("a.txt", b"hello")])
    refused(patch(data, {CENTRAL_METHOD: u16(99)}, {LOCAL_METHOD: u16(99)}), "edxml.bad_zip")


def test_local_name_that_is_not_utf8_is_refused() -> None:
    data = make_zip([("ab.txt", b"x")])
    utf8 = u16(0x800)
    refused(patch(data, {}, {LOCAL_FLAGS: utf8, LOCAL_NAME: b"\xff\xfe"}), "edxml.bad_zip")


def test_central_name_that_is_not_utf8_is_refused() -> None:
    data = make_zip([("ab.txt", b"x")])
    refused(
        patch(data, {CENTRAL_FLAGS: u16(0x800), CENTRAL_NAME: b"\xff\xfe"}, {}), "edxml.bad_zip"
    )


def test_local_and_central_names_that_differ_are_refused() -> None:
    data = make_zip([("ab.txt", b"x")])
    refused(patch(data, {}, {LOCAL_NAME: b"zz"}), "edxml.bad_zip")


@pytest.mark.parametrize(
    "data",
    [b"PK\x03\x04", b"PK\x03\x04" + bytes(100), b"PK\x05\x06", b"PK\x05\x06" + b"\xff" * 18],
)
def test_garbage_after_the_magic_is_refused(data: bytes) -> None:
    refused(data, "edxml.bad_zip")


@pytest.mark.parametrize("encoded", ["not base64!", "QUJD=", "QQ=", "=QUJD", "QU JD\x00"])
def test_invalid_base64_is_refused(encoded: str) -> None:
    attachment = Attachment(attachment_name="a.pdf", encoded=encoded)
    for entry_point in (payload_files, check_payload):
        with pytest.raises(EdxmlError) as info:
            entry_point(attachment)
        assert info.value.code == "edxml.bad_base64"


def test_zlib_stream_inside_stored_member_is_not_inflated() -> None:
    # A stored member is returned as it is, however compressible its content looks.
    inner = zlib.compress(bytes(1_000_000))
    (file,) = unzip_bounded(make_zip([("blob.z", inner)], zipfile.ZIP_STORED))
    assert file.data == inner
