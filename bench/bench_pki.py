"""The CA over HTTP: OCSP responses per second and certificate issuances per second.

Goals (issue 3), on the project's 2-core machine:

* **OCSP ≥ 3,000 responses/s** from ``lienthong ca serve`` (the real entry point, in a
  subprocess), loaded by ``wrk`` (2 threads, 64 connections) with the demo organisation's
  request: GET and POST without a nonce (the responder's cache path), POST with a nonce (a
  fresh P-256 signature each time). Baseline in the same run: ``cryptography`` building and
  signing the same response in one process, with the P-256 responder key and an RSA-2048 key.
* **Issuance ≥ 500 certificates/s** through the registration API (``POST /v1/requests`` then
  ``POST /v1/requests/{id}/approve``), 16 concurrent ``httpx`` clients, a pool of 200 P-256
  CSRs reused. Baseline: ``CertificateAuthority.issue_organization`` in one process with an
  in-memory registry, and ``AuthorityService.submit`` + ``approve`` without HTTP.

One response (before and after the load) is checked with ``openssl ocsp -verify``, and one issued
certificate with ``openssl verify``, so the figures count real answers.

Run: ``make bench`` (or ``.venv/bin/python bench/bench_pki.py``); about 90 s.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cryptography
import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from lienthong.authority.service import AuthorityService, init_directory
from lienthong.pki.ca import CertificateAuthority, MemoryRegistry
from lienthong.pki.keystore import load_pem_key
from lienthong.pki.profiles import OrganizationSubject

OCSP_GOAL = 3_000
ISSUE_GOAL = 500
PASSPHRASE = "bench-passphrase"
TOKEN = "bench-operator-token"
CA = "nghe-an"
AGENCY = ("000.00.12.H41", "Sở Thông tin và Truyền thông tỉnh Nghệ An", "Nghệ An")
WRK_SECONDS = 7
WRK_CONNECTIONS = 64
ISSUE_COUNT = 1_000
ISSUE_SECONDS = 12.0
BATCH = 100  #: requests per batch approval call
ISSUE_CONCURRENCY = 16
CSR_POOL = 200
BIN = Path(sys.executable).parent  # the venv's bin: lienthong, python


# --------------------------------------------------------------------------- helpers
def rate(func: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``func`` over about ``seconds``, after a warm-up call."""
    func()
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(10):
            func()
        count += 10
    return count / elapsed


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A running ``lienthong ca serve``."""

    url: str
    process: subprocess.Popen[bytes]
    label: str
    note: str  #: why an earlier way of starting it failed, if one did


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=8)
    # Its own session, started here: anything left of it (uvicorn's workers) goes too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=5)


@contextlib.contextmanager
def serve(directory: Path, workers: int, log: Path) -> Iterator[Server | str]:
    """``lienthong ca serve DIR --workers K`` on a free port; the reason if it does not start."""
    env = {
        **os.environ,
        "LIENTHONG_CA_PASSPHRASE": PASSPHRASE,
        "LIENTHONG_OPERATOR_TOKEN": TOKEN,
    }
    attempts = [("ca serve", [str(BIN / "lienthong"), "ca", "serve", str(directory)])]
    reasons: list[str] = []
    for label, command in attempts:
        port = free_port()
        # ``ca serve`` runs one process by default; ask for more only when wanted.
        extra = ["--workers", str(workers)] if workers > 1 else []
        with log.open("ab") as output:
            process = subprocess.Popen(
                [*command, "--port", str(port), *extra],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while process.poll() is None and time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                time.sleep(0.2)
            if process.poll() is not None or time.monotonic() >= deadline:
                lines = [line.strip("│╭╮╰╯─ ") for line in log.read_text().splitlines()]
                said = [line for line in lines if line][-1:]
                reasons.append(f"{label} exit {process.poll()}: {' '.join(said)[:120]}")
                continue
            time.sleep(0.5 if workers == 1 else 2.0)  # every worker up and listening
            yield Server(url, process, label, "; ".join(reasons))
            return
        finally:
            _stop(process)
    yield "; ".join(reasons)


# --------------------------------------------------------------------------- OCSP
def ocsp_request(leaf: x509.Certificate, issuer: x509.Certificate, *, nonce: bool) -> bytes:
    """A DER OCSP request for ``leaf`` (SHA-256 CertID), with a 16-byte nonce or none."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA256())
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(os.urandom(16)), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def check_ocsp(
    url: str, request: bytes, directory: Path, leaf: x509.Certificate, work: Path, *, get: bool
) -> str:
    """Fetch one answer; ``openssl ocsp`` must verify it, and it must say ``good`` for leaf."""
    if get:
        encoded = base64.b64encode(request).decode()
        response = httpx.get(f"{url}/ocsp/{CA}/{encoded}", timeout=10)
    else:
        headers = {"Content-Type": "application/ocsp-request"}
        response = httpx.post(f"{url}/ocsp/{CA}", content=request, headers=headers, timeout=10)
    response.raise_for_status()
    answer = ocsp.load_der_ocsp_response(response.content)
    assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.serial_number == leaf.serial_number
    assert answer.certificate_status is ocsp.OCSPCertStatus.GOOD
    (work / "check-req.der").write_bytes(request)
    (work / "check-resp.der").write_bytes(response.content)
    result = subprocess.run(
        ["openssl", "ocsp", "-respin", str(work / "check-resp.der"),
         "-reqin", str(work / "check-req.der"),
         "-CAfile", str(directory / "root" / "ca.pem"),
         "-verify_other", str(directory / CA / "ca.pem")],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    if result.returncode != 0 or "Response verify OK" not in result.stderr + result.stdout:
        raise RuntimeError(f"openssl ocsp does not verify the response: {result.stderr}")
    return "verified"


@dataclass(frozen=True)
class WrkResult:
    """What one ``wrk`` run printed."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  #: non-2xx responses plus socket errors and timeouts


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def run_wrk(url: str, script: Path | None) -> WrkResult:
    """``wrk`` for :data:`WRK_SECONDS`: 2 threads, :data:`WRK_CONNECTIONS` connections."""
    command = ["wrk", "-t2", f"-c{WRK_CONNECTIONS}", f"-d{WRK_SECONDS}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=WRK_SECONDS + 30
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors += int(non_2xx.group(1)) if non_2xx else 0
    return WrkResult(
        rps,
        _ms(p50.group(1)) if p50 else float("nan"),
        _ms(p99.group(1)) if p99 else float("nan"),
        errors,
    )


def post_script(path: Path, body: bytes) -> Path:
    """A wrk Lua script that POSTs ``body`` as an OCSP request."""
    literal = "".join(f"\\{byte:03d}" for byte in body)
    path.write_text(
        'wrk.method = "POST"\n'
        f'wrk.body = "{literal}"\n'
        'wrk.headers["Content-Type"] = "application/ocsp-request"\n'
    )
    return path


def raw_sign_rates(directory: Path, leaf: x509.Certificate) -> dict[str, float]:
    """Responses/s that ``cryptography`` builds and signs in one process, per key."""
    responder = x509.load_pem_x509_certificate((directory / CA / "ocsp.pem").read_bytes())
    sub_ca = x509.load_pem_x509_certificate((directory / CA / "ca.pem").read_bytes())
    keys = {
        "P-256": (load_pem_key(directory / CA / "ocsp.key.pem", PASSPHRASE), responder),
        "RSA-2048": (load_pem_key(directory / CA / "ca.key.pem", PASSPHRASE), sub_ca),
    }
    rates = {}
    for label, (key, signer) in keys.items():
        assert key.private_key is not None

        def build(key=key.private_key, signer=signer) -> bytes:  # type: ignore[no-untyped-def]
            now = datetime.now(UTC)
            return (
                ocsp.OCSPResponseBuilder()
                .add_response(
                    cert=leaf,
                    issuer=sub_ca,
                    algorithm=hashes.SHA256(),
                    cert_status=ocsp.OCSPCertStatus.GOOD,
                    this_update=now,
                    next_update=now + timedelta(hours=4),
                    revocation_time=None,
                    revocation_reason=None,
                )
                .responder_id(ocsp.OCSPResponderEncoding.HASH, signer)
                .certificates([signer])
                .add_extension(x509.OCSPNonce(b"0123456789abcdef"), critical=False)
                .sign(key, hashes.SHA256())
                .public_bytes(serialization.Encoding.DER)
            )

        rates[label] = rate(build, 1.5)
    return rates


# --------------------------------------------------------------------------- issuance
def csr_pool(count: int) -> list[str]:
    """``count`` P-256 CSRs, PEM (the CA takes only their keys; reusing them is fine)."""
    pool = []
    for n in range(count):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"bench {n}")])
        csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
        pool.append(csr.public_bytes(serialization.Encoding.PEM).decode())
    return pool


@dataclass(frozen=True)
class IssueResult:
    """Issuances through the API: rate, approve latencies, one certificate checked."""

    count: int
    seconds: float
    approve_ms: list[float]
    submit_ms: list[float]
    failures: int
    checked: str


async def _issue_over_http(  # noqa: PLR0915 - one load generator, two modes
    url: str, pool: list[str], count: int, concurrency: int, batch: int
) -> tuple[int, float, list, list, int, str]:
    body = {
        "ca": CA, "profile": "organization", "agency_code": AGENCY[0],
        "agency_name": AGENCY[1], "province": AGENCY[2],
    }  # fmt: skip
    operator = {"Authorization": f"Bearer {TOKEN}", "X-Operator": "bench"}
    approve_ms: list[float] = []
    submit_ms: list[float] = []
    failures = 0
    issued = 0
    next_index = 0
    last_serial = ""
    submitted_ids: asyncio.Queue[int | None] = asyncio.Queue()
    limits = httpx.Limits(max_connections=concurrency + 1)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        deadline = time.perf_counter() + ISSUE_SECONDS

        async def worker() -> None:
            nonlocal next_index, failures, last_serial, issued
            while next_index < count and time.perf_counter() < deadline:
                index = next_index
                next_index += 1
                started = time.perf_counter()
                submitted = await client.post(
                    "/v1/requests",
                    json={**body, "csr_pem": pool[index % len(pool)]},
                    headers={"X-Requested-By": "bench"},
                )
                approving = time.perf_counter()
                if submitted.status_code != 201:
                    failures += 1
                    continue
                submit_ms.append((approving - started) * 1e3)
                if batch:
                    submitted_ids.put_nowait(submitted.json()["id"])
                    continue
                approved = await client.post(
                    f"/v1/requests/{submitted.json()['id']}/approve", headers=operator
                )
                done = time.perf_counter()
                if approved.status_code != 200 or approved.json()["status"] != "issued":
                    failures += 1
                    continue
                issued += 1
                approve_ms.append((done - approving) * 1e3)
                last_serial = approved.json()["serial_hex"]

        async def approver() -> None:
            # Approves what has been submitted so far, up to ``batch`` per call, until told
            # that submitting is over.
            nonlocal failures, last_serial, issued
            finished = False
            while not finished:
                ids = []
                item = await submitted_ids.get()
                while True:
                    if item is None:
                        finished = True
                    else:
                        ids.append(item)
                    if finished or len(ids) >= batch or submitted_ids.empty():
                        break
                    item = submitted_ids.get_nowait()
                if not ids:
                    continue
                started = time.perf_counter()
                answer = await client.post(
                    "/v1/requests/approve", json={"ids": ids}, headers=operator
                )
                approve_ms.append((time.perf_counter() - started) * 1e3)
                if answer.status_code != 200:
                    failures += len(ids)
                    continue
                for result in answer.json()["results"]:
                    if result.get("status") == "issued":
                        issued += 1
                        last_serial = result["serial_hex"]
                    else:
                        failures += 1

        start = time.perf_counter()
        if batch:
            approving = asyncio.create_task(approver())
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            submitted_ids.put_nowait(None)
            await approving
        else:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - start
        pem = (await client.get(f"/v1/certificates/{CA}/{last_serial}")).content
    return issued, seconds, approve_ms, submit_ms, failures, pem.decode()


def issue_over_http(
    url: str,
    pool: list[str],
    directory: Path,
    work: Path,
    *,
    count: int = ISSUE_COUNT,
    concurrency: int = ISSUE_CONCURRENCY,
    batch: int = 0,
) -> IssueResult:
    """Submit and approve up to ``count`` requests (at most :data:`ISSUE_SECONDS`) from
    ``concurrency`` clients; check the last certificate with ``openssl verify``. With
    ``batch``, the clients only submit, and one operator approves what has arrived, up to
    ``batch`` requests per call (``POST /v1/requests/approve``)."""
    count, seconds, approve_ms, submit_ms, failures, pem = asyncio.run(
        _issue_over_http(url, pool, count, concurrency, batch)
    )
    leaf = work / "issued.pem"
    leaf.write_text(pem)
    result = subprocess.run(
        ["openssl", "verify", "-CAfile", str(directory / "root" / "ca.pem"),
         "-untrusted", str(directory / CA / "ca.pem"), str(leaf)],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"openssl verify refuses the issued certificate: {result.stderr}")
    certificate = x509.load_pem_x509_certificate(pem.encode())
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    keys = {x509.load_pem_x509_csr(c.encode()).public_key().public_bytes(*spki) for c in pool}
    assert certificate.public_key().public_bytes(*spki) in keys
    return IssueResult(count, seconds, approve_ms, submit_ms, failures, "verified")


def issue_with_wrk(url: str, csr_pem: str, work: Path, batch: int) -> tuple[int, float, int]:
    """Issuances/s with wrk as the client (``bench/issue.lua``): what the server sustains
    when the load generator costs little CPU. Returns issued, seconds, refused."""
    body = work / "submission.json"
    body.write_text(
        json.dumps(
            {
                "ca": CA,
                "profile": "organization",
                "csr_pem": csr_pem,
                "agency_code": AGENCY[0],
                "agency_name": AGENCY[1],
                "province": AGENCY[2],
            }
        )
    )
    script = Path(__file__).with_name("issue.lua")
    out = subprocess.run(
        ["wrk", "-t2", f"-c{ISSUE_CONCURRENCY}", f"-d{ISSUE_SECONDS:.0f}s", "-s", str(script),
         url, "--", str(batch), str(body), TOKEN],
        capture_output=True, text=True, check=True, timeout=ISSUE_SECONDS + 60,
    ).stdout  # fmt: skip
    found = re.search(r"ISSUED (\d+) SUBMITTED \d+ REFUSED (\d+) SECONDS ([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"wrk printed no summary: {out}")
    return int(found[1]), float(found[3]), int(found[2])


def in_process_issue_rates(directory: Path, pool: list[str]) -> tuple[float, float]:
    """Issuances/s: ``issue_organization`` with a memory registry; service submit + approve."""
    service = AuthorityService(directory, PASSPHRASE)
    try:
        real = service.ca(CA)
        memory = CertificateAuthority(
            CA, real.certificate, real.key, MemoryRegistry(), real.urls, chain=real.chain
        )
        keys = [x509.load_pem_x509_csr(c.encode()).public_key() for c in pool]
        subject = OrganizationSubject(*AGENCY)
        counter = iter(range(10**9))

        def memory_issue() -> None:
            key = keys[next(counter) % len(keys)]
            memory.issue_organization(key, subject, now=datetime.now(UTC))  # type: ignore[arg-type]

        def service_issue() -> None:
            now = datetime.now(UTC)
            request = service.submit(
                ca=CA, profile="organization", csr_pem=pool[next(counter) % len(pool)],
                agency_code=AGENCY[0], agency_name=AGENCY[1], full_name=None, title=None,
                citizen_id=None, province=AGENCY[2], requested_by="bench", now=now,
            )  # fmt: skip
            service.approve(request.id, operator="bench", now=now)

        return rate(memory_issue, 2.0), rate(service_issue, 2.0)
    finally:
        service.close()


def in_process_ocsp_rates(directory: Path, cached: bytes, nonced: bytes) -> tuple[float, float]:
    """Responses/s of ``AuthorityService.ocsp`` (two registry reads each) without HTTP."""
    service = AuthorityService(directory, PASSPHRASE)
    try:
        return (
            rate(lambda: service.ocsp(CA, cached, now=datetime.now(UTC)), 1.5),
            rate(lambda: service.ocsp(CA, nonced, now=datetime.now(UTC)), 1.5),
        )
    finally:
        service.close()


# --------------------------------------------------------------------------- main
def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


@dataclass(frozen=True)
class Setup:
    """The CA directory and what the load generators send."""

    work: Path
    directory: Path
    leaf: x509.Certificate
    cached: bytes  #: DER request without a nonce
    nonced: bytes  #: DER request with a nonce
    scripts: dict[str, Path]


def prepare(work: Path) -> Setup:
    """``init_directory`` in ``work``, the two OCSP requests and the wrk POST scripts."""
    directory = work / "ca"
    init_directory(directory, passphrase=PASSPHRASE, now=datetime.now(UTC))
    leaf = x509.load_pem_x509_certificate(
        (directory / "issued" / "so-tttt-nghe-an.pem").read_bytes()
    )
    issuer = x509.load_pem_x509_certificate((directory / CA / "ca.pem").read_bytes())
    cached = ocsp_request(leaf, issuer, nonce=False)
    nonced = ocsp_request(leaf, issuer, nonce=True)
    scripts = {
        "cached": post_script(work / "post.lua", cached),
        "nonce": post_script(work / "post-nonce.lua", nonced),
    }
    return Setup(work, directory, leaf, cached, nonced, scripts)


def load_ocsp(setup: Setup, server: Server, workers: int) -> None:
    """Check answers, run the three wrk loads, check again; print a row per load."""
    name = "" if server.label == "ca serve" else f" ({server.label})"
    get_path = f"/ocsp/{CA}/" + base64.b64encode(setup.cached).decode()
    post_url = f"{server.url}/ocsp/{CA}"

    def check() -> None:
        for request, get in ((setup.cached, True), (setup.nonced, False)):
            check_ocsp(server.url, request, setup.directory, setup.leaf, setup.work, get=get)

    check()
    for label, url, script in (
        ("GET, cache path", server.url + get_path, None),
        ("POST, cache path", post_url, setup.scripts["cached"]),
        ("POST, nonce (signs)", post_url, setup.scripts["nonce"]),
    ):
        result = run_wrk(url, script)
        verdict = "met" if result.rps >= OCSP_GOAL else "missed"
        print(
            f"| HTTP {label}{name} | {workers} | {result.rps:,.0f} | {result.p50_ms:.1f} | "
            f"{result.p99_ms:.1f} | {result.errors} | {verdict} (≥ {OCSP_GOAL:,}) |"
        )
    check()


def main() -> None:
    """Print the OCSP and issuance tables."""
    if shutil.which("wrk") is None or shutil.which("openssl") is None:
        print("## PKI — skipped: needs wrk and openssl on PATH")
        return
    print()  # after the previous benchmark's table (``bench/run.py``)
    print(
        f"## PKI over HTTP — Python {platform.python_version()}, "
        f"cryptography {cryptography.__version__}, {os.cpu_count()} CPUs"
    )
    print()
    with tempfile.TemporaryDirectory(prefix="bench-pki-") as temp:
        setup = prepare(Path(temp))
        pool = csr_pool(CSR_POOL)
        print("| OCSP | workers | responses/s | p50 ms | p99 ms | errors | goal |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for label, value in raw_sign_rates(setup.directory, setup.leaf).items():
            print(f"| baseline: cryptography build+sign, {label} | 1 process | {value:,.0f} |||||")
        cached, nonced = in_process_ocsp_rates(setup.directory, setup.cached, setup.nonced)
        print(f"| `AuthorityService.ocsp`, no HTTP, cache path | 1 thread | {cached:,.0f} |||||")
        print(f"| `AuthorityService.ocsp`, no HTTP, nonce | 1 thread | {nonced:,.0f} |||||")
        issued: dict[tuple[int, int], IssueResult] = {}
        wrk_issued: dict[tuple[int, int], tuple[int, float, int]] = {}
        alone = None
        for workers in (1, 2):
            with serve(setup.directory, workers, setup.work / f"serve-{workers}.log") as server:
                if isinstance(server, str):
                    print(f"| `ca serve` did not start: {server} | {workers} | — |||||")
                    continue
                load_ocsp(setup, server, workers)
                for batch in (1, BATCH):
                    wrk_issued[(workers, batch)] = issue_with_wrk(
                        server.url, pool[0], setup.work, batch
                    )
                issued[(workers, 0)] = issue_over_http(
                    server.url, pool, setup.directory, setup.work
                )
                issued[(workers, BATCH)] = issue_over_http(
                    server.url, pool, setup.directory, setup.work, batch=BATCH
                )
                if workers == 1:
                    alone = issue_over_http(
                        server.url, pool, setup.directory, setup.work, count=30, concurrency=1
                    )
        print()
        memory_rate, service_rate = in_process_issue_rates(setup.directory, pool)
        print("| issuance | issued | per s | approve p50 ms | approve p99 ms | goal |")
        print("|---|---:|---:|---:|---:|---|")
        print(f"| baseline: `issue_organization`, memory registry | | {memory_rate:,.0f} ||||")
        print(f"| `AuthorityService.submit` + `approve`, no HTTP | | {service_rate:,.0f} ||||")
        for (workers, batch), (count, seconds, refused) in wrk_issued.items():
            per_second = count / seconds
            verdict = "met" if per_second >= ISSUE_GOAL else "missed"
            how = f"batch approve ({batch}/call)" if batch > 1 else "approve"
            print(
                f"| wrk submit + {how}, `ca serve --workers {workers}`, {ISSUE_CONCURRENCY} "
                f"connections ({refused} refused) | {count:,} | {per_second:,.0f} | | | "
                f"{verdict} (≥ {ISSUE_GOAL}) |"
            )
        rows = [
            (workers, ISSUE_CONCURRENCY, batch, result)
            for (workers, batch), result in issued.items()
        ]
        rows.append((1, 1, 0, alone))
        for workers, clients, batch, result in rows:
            if result is None:
                continue
            per_second = result.count / result.seconds
            verdict = "met" if per_second >= ISSUE_GOAL else "missed"
            print(
                f"| HTTP submit + {f'batch approve ({batch}/call)' if batch else 'approve'}, "
                f"`ca serve --workers {workers}`, {clients} client(s) "
                f"({result.failures} failed, last certificate {result.checked}) | "
                f"{result.count:,} | {per_second:,.0f} | {percentile(result.approve_ms, 50):.1f} | "
                f"{percentile(result.approve_ms, 99):.1f} | {verdict} (≥ {ISSUE_GOAL}) |"
            )


if __name__ == "__main__":
    main()
