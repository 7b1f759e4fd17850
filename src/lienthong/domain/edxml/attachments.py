"""Attached files: safe names, and ZIP-wrapped payloads unwrapped within bounds.

Producers send each file either as it is or wrapped in a ZIP archive (``application/zip``;
SPEC §2). We detect the ZIP by its magic number rather than trusting ``ContentType``, and
unwrap it in memory only, refusing archives that would expand beyond the limits (ZIP
bombs) or whose member names carry paths.
"""

from __future__ import annotations

import hashlib
import io
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass

from lienthong.domain.edxml.limits import DEFAULT_LIMITS, Limits
from lienthong.domain.edxml.model import Attachment, base64_problem
from lienthong.domain.errors import EdxmlError

ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_MAX_NAME = 255
_CHUNK = 1 << 16
#: Compression methods we unwrap: those with a streaming bound (stored, deflated).
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


def is_safe_name(name: str | None) -> bool:
    """True if ``name`` is a plain file name: no directory part, no ``..``, no control chars."""
    if not name or len(name) > _MAX_NAME or name.strip() != name or name in (".", ".."):
        return False
    if "/" in name or "\\" in name or ":" in name or name.startswith("~"):
        return False
    if name.isprintable():  # C-speed, and true of almost every real name
        return True
    return not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in name)


def is_zip(data: bytes) -> bool:
    """True if ``data`` starts like a ZIP archive."""
    return data.startswith((ZIP_MAGIC, _EMPTY_ZIP_MAGIC))


@dataclass(frozen=True, slots=True)
class PayloadFile:
    """One file carried by an attachment (the attachment itself, or a member of its ZIP)."""

    name: str
    data: bytes
    from_zip: bool

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)

    @property
    def sha256(self) -> str:
        """SHA-256 of the file (hex)."""
        return hashlib.sha256(self.data).hexdigest()


def payload_files(
    attachment: Attachment, limits: Limits = DEFAULT_LIMITS
) -> tuple[PayloadFile, ...]:
    """The files an attachment carries, unwrapping a ZIP safely.

    Raises :class:`EdxmlError`: ``edxml.bad_base64``, ``edxml.bad_zip``, ``edxml.zip_bomb``
    or ``edxml.bad_attachment_name``.
    """
    try:
        data = attachment.data()
    except ValueError as exc:
        raise EdxmlError("edxml.bad_base64", str(exc)) from None
    name = attachment.attachment_name or ""
    if not is_zip(data):
        return (PayloadFile(name, data, from_zip=False),)
    return unzip_bounded(data, limits)


def check_payload(attachment: Attachment, limits: Limits = DEFAULT_LIMITS) -> None:
    """Check an attachment's transfer encoding, and its ZIP if it is one, without keeping it.

    A plain file (a PDF) is only checked syntactically — decoding it is left to whoever needs
    its bytes; a ZIP is unwrapped within ``limits`` since only that proves it is no bomb.
    Raises the same coded errors as :func:`payload_files`.
    """
    if not attachment.has_valid_encoding():
        raise EdxmlError("edxml.bad_base64", base64_problem(attachment.encoded or "") or "")
    if is_zip(attachment.head(4)):
        unzip_bounded(attachment.data(), limits)


def unzip_bounded(data: bytes, limits: Limits = DEFAULT_LIMITS) -> tuple[PayloadFile, ...]:
    """Read every member of a ZIP archive held in memory, within ``limits``."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError) as exc:
        raise EdxmlError("edxml.bad_zip", str(exc)) from None
    # Directories count too: a million empty ones cost as much to list as files.
    if len(entries) > limits.max_zip_members:
        raise EdxmlError("edxml.zip_bomb", f"{len(entries)} members")
    members = [info for info in entries if not info.is_dir()]
    declared = sum(info.file_size for info in members)
    if declared > limits.max_unzipped_bytes:
        raise EdxmlError("edxml.zip_bomb", f"declares {declared} bytes")
    files: list[PayloadFile] = []
    budget = limits.max_unzipped_bytes
    with archive:
        for info in members:
            if not is_safe_name(info.filename):
                raise EdxmlError("edxml.bad_attachment_name", repr(info.filename[:80]))
            if info.compress_type not in _METHODS:
                # bzip2 and LZMA inflate a whole compressed chunk in one call, past the
                # streaming bound (178 bytes of bzip2 are 200 MB of zeros); producers on
                # java.util.zip write only stored and deflated members.
                method = info.compress_type
                raise EdxmlError("edxml.bad_zip", f"{info.filename!r}: compression {method}")
            content = _read_member(archive, info, budget, limits)
            budget -= len(content)
            files.append(PayloadFile(info.filename, content, from_zip=True))
    return tuple(files)


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int, limits: Limits
) -> bytes:
    # Never trust the declared sizes alone: read in chunks and stop at the bounds.
    ceiling = min(budget, max(info.compress_size, 1) * limits.max_zip_ratio)
    if info.file_size > ceiling:
        raise EdxmlError("edxml.zip_bomb", f"{info.filename!r} ratio or size")
    out = bytearray()
    try:
        with archive.open(info) as stream:
            while len(out) <= ceiling and (chunk := stream.read(_CHUNK)):
                out += chunk
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        NotImplementedError,
        RuntimeError,
        OSError,
        ValueError,
    ) as exc:
        # RuntimeError: encrypted member; zlib errors surface as BadZipFile/OSError;
        # ValueError: a negative header offset, or a local name flagged UTF-8 that is not.
        raise EdxmlError("edxml.bad_zip", str(exc)) from None
    if len(out) > ceiling:
        raise EdxmlError("edxml.zip_bomb", f"{info.filename!r} expands beyond bounds")
    return bytes(out)
