"""Content-addressed blob store (kho tệp) on the local file system.

A blob is kept under its SHA-256: ``root/ab/cd/abcd…`` (two levels of fan-out keep directories
small). Writing is atomic and durable: a temporary file in the target directory, ``fsync``,
``os.replace`` onto the final name, then ``fsync`` of the directory, so that after :meth:`put`
returns the blob survives a crash or power loss, and a reader never sees half a file. Storing
the same bytes twice is a no-op, which makes resends free.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Final

from lienthong.domain.errors import StoreError

_SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
_TEMP_PREFIX: Final = ".tmp-"


def is_sha256(value: object) -> bool:
    """Whether ``value`` is a blob key: a SHA-256 as 64 lowercase hex digits."""
    return isinstance(value, str) and _SHA256_HEX.fullmatch(value) is not None


class BlobStore:
    """Blobs on disk under ``root``, named by the lowercase hex SHA-256 of their content."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put(self, data: bytes) -> str:
        """Store ``data`` durably and return its SHA-256 (hex); idempotent."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.path_of(sha)
        if path.is_file():
            # A writer that crashed between its rename and its directory fsync leaves a blob
            # that is visible but maybe not durable; one more fsync makes the resend safe.
            _fsync_dir(path.parent)
            return sha
        self._make_dirs(path.parent)
        fd, temp_name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            # Atomic on POSIX: a reader sees either no blob or the whole blob. A concurrent
            # put of the same bytes replaces identical content, which is harmless.
            Path(temp_name).replace(path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                Path(temp_name).unlink()
            raise
        # The rename is durable only once the directory entry is on disk.
        _fsync_dir(path.parent)
        return sha

    def get(self, sha: str) -> bytes:
        """Return the blob ``sha``; ``store.not_found`` if absent, ``store.corrupt`` if damaged."""
        path = self.path_of(sha)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise StoreError("store.not_found", f"blob {sha}") from exc
        # Cheap next to the disk read, and the only way to notice bit rot or a hand edit.
        if hashlib.sha256(data).hexdigest() != sha:
            raise StoreError("store.corrupt", f"blob {sha} does not match its hash")
        return data

    def exists(self, sha: str) -> bool:
        """Whether the blob ``sha`` is stored."""
        return self.path_of(sha).is_file()

    def path_of(self, sha: str) -> Path:
        """Where the blob ``sha`` lives (whether or not it exists).

        ``sha`` must be 64 lowercase hex digits; anything else raises ``store.bad_key``, so that
        a key taken from a request can never point outside :attr:`root`.
        """
        if not is_sha256(sha):
            raise StoreError("store.bad_key", f"not a lowercase hex SHA-256: {sha!r:.80}")
        return self.root / sha[:2] / sha[2:4] / sha

    def _make_dirs(self, directory: Path) -> None:
        # Create missing levels top-down and fsync each parent, so that a new fan-out
        # directory is itself durable before a blob is renamed into it.
        missing: list[Path] = []
        current = directory
        while not current.is_dir():
            missing.append(current)
            if current.parent == current:
                break
            current = current.parent
        for level in reversed(missing):
            # Another writer may create it first; fsyncing the parent again is cheap and keeps
            # us correct if that writer crashed before its own fsync.
            with contextlib.suppress(FileExistsError):
                level.mkdir()
            _fsync_dir(level.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
