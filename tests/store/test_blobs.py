"""The content-addressed blob store: layout, idempotency, durability steps, refusals."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from lienthong.domain.errors import StoreError
from lienthong.store.blobs import BlobStore

pytestmark = pytest.mark.unit

PDF = b"%PDF-1.7\n% c\xc3\xb4ng v\xc4\x83n\n"
PDF_SHA = hashlib.sha256(PDF).hexdigest()


def _files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_put_returns_the_sha256_and_get_returns_the_bytes(blob_store: BlobStore) -> None:
    sha = blob_store.put(PDF)

    assert sha == PDF_SHA
    assert blob_store.get(sha) == PDF
    assert blob_store.exists(sha)


def test_blobs_fan_out_by_the_first_two_bytes_of_the_hash(blob_store: BlobStore) -> None:
    sha = blob_store.put(PDF)

    expected = blob_store.root / sha[:2] / sha[2:4] / sha
    assert blob_store.path_of(sha) == expected
    assert expected.read_bytes() == PDF


def test_putting_the_same_bytes_twice_stores_one_file(blob_store: BlobStore) -> None:
    first = blob_store.put(PDF)
    mtime = blob_store.path_of(first).stat().st_mtime_ns

    second = blob_store.put(PDF)

    assert second == first
    assert _files(blob_store.root) == [blob_store.path_of(first)]
    assert blob_store.path_of(first).stat().st_mtime_ns == mtime


def test_the_empty_blob_is_a_blob(blob_store: BlobStore) -> None:
    sha = blob_store.put(b"")

    assert sha == hashlib.sha256(b"").hexdigest()
    assert blob_store.get(sha) == b""


def test_a_missing_blob_is_not_found(blob_store: BlobStore) -> None:
    with pytest.raises(StoreError) as caught:
        blob_store.get(PDF_SHA)

    assert caught.value.code == "store.not_found"
    assert not blob_store.exists(PDF_SHA)


def test_a_damaged_blob_is_reported_corrupt(blob_store: BlobStore) -> None:
    sha = blob_store.put(PDF)
    blob_store.path_of(sha).write_bytes(PDF + b"tampered")

    with pytest.raises(StoreError) as caught:
        blob_store.get(sha)

    assert caught.value.code == "store.corrupt"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        PDF_SHA.upper(),
        PDF_SHA[:-1],
        PDF_SHA + "0",
        "g" * 64,
        "../" * 21 + "a",
        "../../../../etc/passwd",
        "/" + PDF_SHA[1:],
        PDF_SHA[:2] + "/" + PDF_SHA[3:],
        PDF_SHA + "\n",
        " " + PDF_SHA[1:],
    ],
    ids=repr,
)
def test_a_key_that_is_not_a_lowercase_sha256_is_refused(blob_store: BlobStore, bad: str) -> None:
    for operation in (blob_store.get, blob_store.exists, blob_store.path_of):
        with pytest.raises(StoreError) as caught:
            operation(bad)
        assert caught.value.code == "store.bad_key"


def test_put_fsyncs_the_file_then_renames_then_fsyncs_the_directory(
    blob_store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, str]] = []
    real_fsync = os.fsync
    real_replace = Path.replace

    def fsync(fd: int) -> None:
        mode = os.fstat(fd).st_mode
        events.append(("fsync", "dir" if stat.S_ISDIR(mode) else "file"))
        real_fsync(fd)

    def replace(self: Path, target: str | os.PathLike[str]) -> Path:
        events.append(("replace", Path(target).name))
        return real_replace(self, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(Path, "replace", replace)

    sha = blob_store.put(PDF)

    # Directory fsyncs before the file are the new fan-out directories being made durable.
    file_sync = events.index(("fsync", "file"))
    assert all(kind == "dir" for _, kind in events[:file_sync])
    assert events[file_sync:] == [("fsync", "file"), ("replace", sha), ("fsync", "dir")]


def test_a_failed_write_leaves_no_blob_and_no_temporary_file(
    blob_store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync

    def failing_fsync(fd: int) -> None:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)

    with pytest.raises(OSError, match="Input/output error"):
        blob_store.put(PDF)

    assert _files(blob_store.root) == []
    assert not blob_store.exists(PDF_SHA)


def test_blobs_survive_a_new_store_on_the_same_root(tmp_path: Path) -> None:
    sha = BlobStore(tmp_path / "blobs").put(PDF)

    assert BlobStore(tmp_path / "blobs").get(sha) == PDF
