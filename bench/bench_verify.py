"""Verification (issue 4): two-signature PDFs with revocation checking, and envelope signatures.

Goals, on the project's 2-core machine:

* **≤ 20 ms per document** for a PDF signed by the leader and the organisation (PAdES B-T, a
  timestamp each), verified with OCSP from ``lienthong ca serve`` on 127.0.0.1 and the
  appearance checks; **≥ 100 documents/s** in batch mode on both cores.
  Baseline in the same run: pyHanko's ``async_validate_pdf_signature`` alone on the same
  documents (one shared validation context, no appearance checks, no report).
* **XML envelope sign/verify** for a 5 KB and a 5 MB package. Baseline: ``parse_package`` of
  the same bytes (verification parses them too).

Run: ``make bench`` (or ``.venv/bin/python bench/bench_verify.py``); about a minute.
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from lienthong.authority.service import init_directory
from lienthong.domain.edxml import Organization, parse_package, serialize_package
from lienthong.domain.edxml.builder import DocumentDraft, FileToAttach, build_document
from lienthong.pki.keystore import load_pem_key
from lienthong.signing.appearance import StampImage
from lienthong.signing.documents import generate_document, sample_spec
from lienthong.signing.images import seal_png, signature_png
from lienthong.signing.pdf import Services, SigningIdentity, issue, sign_signer
from lienthong.signing.verify import Verifier, VerifyOptions, verify_batch
from lienthong.signing.xmldsig import check_envelope, sign_envelope

PASSPHRASE = "bench-passphrase"
DOCUMENTS = 20  #: distinct documents, each verified several times
BATCH = 400  #: files in the batch run


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _timed(action: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _identity(directory: Path, name: str) -> SigningIdentity:
    sub = x509.load_pem_x509_certificate((directory / "nghe-an/ca.pem").read_bytes())
    return SigningIdentity(
        load_pem_key(directory / f"issued/{name}.key.pem", PASSPHRASE),
        x509.load_pem_x509_certificate((directory / f"issued/{name}.pem").read_bytes()),
        (sub,),
    )


def _pdfs(directory: Path, port: int) -> list[bytes]:
    root = x509.load_pem_x509_certificate((directory / "root/ca.pem").read_bytes())
    services = Services(tsa_url=f"http://127.0.0.1:{port}/tsa/nghe-an", trust_roots=(root,))
    leader, organisation = (
        _identity(directory, "nguyen-van-an"),
        _identity(directory, "so-tttt-nghe-an"),
    )
    signature, seal = StampImage(signature_png("Nguyễn Văn An")), StampImage(seal_png("SỞ TTTT"))
    now = datetime.now(UTC)
    made = []
    for index in range(DOCUMENTS):
        doc = generate_document(sample_spec(index, signer="Nguyễn Văn An"))
        one = sign_signer(doc.pdf, leader, signature, now=now, services=services,
                          anchor="Nguyễn Văn An")  # fmt: skip
        made.append(issue(one.pdf, organisation, seal, number=str(index + 1), now=now,
                          services=services).pdf)  # fmt: skip
    return made


def _pyhanko_only(pdfs: list[bytes], root: Path) -> list[float]:
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization

    anchor = asn1_x509.Certificate.load(
        x509.load_pem_x509_certificate(root.read_bytes()).public_bytes(serialization.Encoding.DER)
    )
    context = ValidationContext(
        trust_roots=[anchor], allow_fetching=True, revocation_mode="hard-fail"
    )

    async def run(data: bytes) -> None:
        for signature in PdfFileReader(io.BytesIO(data)).embedded_signatures:
            await async_validate_pdf_signature(signature, context)

    async def all_of_them() -> list[float]:
        times = []
        for _ in range(3):
            for data in pdfs:
                start = time.perf_counter()
                await run(data)
                times.append((time.perf_counter() - start) * 1000)
        return times

    return asyncio.run(all_of_them())[len(pdfs) :]  # the first round warms the caches


def _package(size: int, directory: Path) -> tuple[bytes, SigningIdentity]:
    identity = _identity(directory, "so-tttt-nghe-an")
    payload = (
        os.urandom(max(0, size * 3 // 4 - 3000)) if size > 10_000 else b"%PDF-1.4\n" + b"x" * 600
    )
    draft = DocumentDraft(
        sender=Organization(organ_id="000.00.12.H41", organ_name="Sở TTTT Nghệ An"),
        recipients=[Organization(organ_id="000.00.00.G22", organ_name="Văn phòng Chính phủ")],
        code_number="1", code_notation="STTTT-VP", promulgation_date=datetime.now(UTC).date(),
        place="Nghệ An", subject="Đo hiệu năng", files=[FileToAttach("a.pdf", payload)],
    )  # fmt: skip
    return serialize_package(build_document(draft, now=datetime.now(UTC))), identity


def main() -> None:
    """Print the verification tables."""
    print()
    print(f"## Verification (issue 4) — {os.cpu_count()} CPUs")
    print()
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as temp:
        directory = Path(temp) / "ca"
        port = _port()
        init_directory(directory, passphrase=PASSPHRASE, now=datetime.now(UTC),
                       base_url=f"http://127.0.0.1:{port}")  # fmt: skip
        binary = Path(sys.executable).with_name("lienthong")
        server = subprocess.Popen(
            [str(binary), "ca", "serve", str(directory), "--port", str(port)],
            env={**os.environ, "LIENTHONG_CA_PASSPHRASE": PASSPHRASE,
                 "LIENTHONG_OPERATOR_TOKEN": "t"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for _ in range(150):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            _run(directory, port, Path(temp))
        finally:
            server.terminate()
            server.wait(timeout=10)


def _run(directory: Path, port: int, work: Path) -> None:
    pdfs = _pdfs(directory, port)
    root = directory / "root/ca.pem"
    options = VerifyOptions.from_pem_files([root])
    print("| two-signature PDF (B-T), OCSP from `ca serve` | p50 ms | p90 ms | docs/s | goal |")
    print("|---|---:|---:|---:|---|")
    base = _pyhanko_only(pdfs, root)
    print(f"| baseline: pyHanko `async_validate_pdf_signature` ×2, shared context | "
          f"{statistics.median(base):.1f} | {statistics.quantiles(base, n=10)[8]:.1f} | "
          f"{1000 / statistics.mean(base):.0f} | |")  # fmt: skip
    with Verifier(options) as verifier:
        for data in pdfs:  # warm: fetch OCSP once per certificate
            assert verifier.verify_bytes(data, "warm.pdf").passed
        times = []
        for _ in range(3):
            for data in pdfs:
                start = time.perf_counter()
                verifier.verify_bytes(data, "doc.pdf")
                times.append((time.perf_counter() - start) * 1000)
    p50 = statistics.median(times)
    print(f"| `Verifier.verify_bytes` (report, appearance), 1 process | {p50:.1f} | "
          f"{statistics.quantiles(times, n=10)[8]:.1f} | {1000 / statistics.mean(times):.0f} | "
          f"≤ 20 ms: {'met' if p50 <= 20 else 'not met'} |")  # fmt: skip
    files = []
    for index in range(BATCH):
        path = work / f"doc-{index}.pdf"
        path.write_bytes(pdfs[index % len(pdfs)])
        files.append(path)
    for workers in (1, 2):
        start = time.perf_counter()
        reports = verify_batch(files, options, workers=workers)
        elapsed = time.perf_counter() - start
        assert all(r.passed for r in reports)
        rate = len(files) / elapsed
        goal = f"≥ 100/s: {'met' if rate >= 100 else 'not met'}" if workers == 2 else ""
        print(f"| `verify_batch`, {len(files)} files, {workers} process(es) (incl. start-up) | | | "
              f"{rate:.0f} | {goal} |")  # fmt: skip
    print()
    print("| envelope (XML-DSig) | package | sign ms | verify ms | baseline `parse_package` ms |")
    print("|---|---:|---:|---:|---:|")
    for size in (5_000, 5_000_000):
        raw, identity = _package(size, directory)
        repeat = 30 if size < 100_000 else 5
        signed = sign_envelope(raw, identity.key, identity.certificate, identity.chain)
        sign_ms = _timed(lambda raw=raw, identity=identity: sign_envelope(
            raw, identity.key, identity.certificate, identity.chain), repeat)  # fmt: skip
        verify_ms = _timed(lambda signed=signed: check_envelope(signed), repeat)
        parse_ms = _timed(lambda signed=signed: parse_package(signed), repeat)
        assert check_envelope(signed).sub_indication is None
        print(f"| `sign_envelope` / `check_envelope` (crypto, no chain) | "
              f"{len(signed) / 1000:,.0f} kB | "
              f"{statistics.median(sign_ms):.1f} | {statistics.median(verify_ms):.1f} | "
              f"{statistics.median(parse_ms):.1f} |")  # fmt: skip
    print()
    print("Command: `make bench` (or `.venv/bin/python bench/bench_verify.py`).")


if __name__ == "__main__":
    main()
