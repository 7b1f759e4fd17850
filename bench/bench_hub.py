"""The exchange hub (issue 5): accepted packages per second, send → SSE notification latency,
inbox listing at scale.

Goals, on the project's 2-core machine:

* **Accepted packages/s ≥ 70 % of a bare endpoint** that stores the same bytes durably
  (≈ 1,000/s). Each request is ``sendEdoc`` on the VDXP adapter of ``lienthong hub serve`` (the
  real entry point, in a subprocess, one worker process per core by default) carrying a
  **different** package: a letter with the same ~100 KB signed PDF (pyHanko, B-B, the
  organisation's attachment signature) inside an envelope signed with XML-DSig (RSA-2048,
  the demo CA's certificate of Sở TT&TT Nghệ An), each with its own DocumentId and
  its own pre-computed HMAC headers. The pool is generated before the run (both cores) into
  files that ``bench/hub_send.lua`` reads; ``wrk`` (2 threads) sends each package once and
  stops when the pool is used. The hub verifies the envelope signature before the receipt and
  answers only after the commit and the blob's fsync; this run is ``--pdf-check off`` (the
  send path alone, ``"pdf": "not_checked"``); the PDF-check pipeline is measured apart, below.
  The VDXP freshness window
  is off by default, so the pre-signed headers stay valid. Baseline in the same run: a tiny
  ASGI app (:func:`bare_app`) served the same way (uvicorn, on as many processes through
  ``lienthong.serving``), which stores the body in the same
  ``BlobStore`` (fsync) and inserts one row through the same ``GroupCommitter``. Both on SQLite
  (WAL, ``synchronous=FULL``) and PostgreSQL (a database created and dropped here).
* **Send → recipient notified over SSE, p99 ≤ 200 ms under that load**: a subscriber on the
  recipient's ``/v1`` event stream (signed request, organisation certificate) during the hub
  run; latency = arrival of the event − the hub's acceptance time written in the event (the
  ``now`` the adapter took when the request arrived), same clock. Measured twice on the same
  hub: at saturation (32 connections sending back to back, where the wait is mostly queueing:
  32 requests in flight at ~R/s wait ~32/R s) and paced at 70 % of the rate just measured
  (after each answer a connection pauses a random time, exponential around the mean that
  gives that rate, wrk's ``delay()``: arrivals close to a Poisson stream rather than 32
  connections in lockstep), the load a hub is sized for.
* **The PDF-check pipeline** (no goal of its own; it bounds how fast documents reach their
  recipients): ``hub serve`` as deployed, ``--pdf-check background``: deliveries are held
  until the maintenance loop has verified the PDF signatures (``lienthong.signing.verify``,
  revocation from the CA directory's CRLs). 300 packages sent at saturation, then the time
  until none is pending and the check rate (first acceptance → last release); then a run
  paced at 70 % of that rate, with acceptance → SSE event, which now includes the check.
* **Inbox listing, 12,000 agencies, p99 ≤ 20 ms and flat from 10 k to 1 M packages**:
  ``Hub.inbox`` (the core call behind ``GET /v1/agencies/{code}/inbox`` and
  ``getReceivedEdocList``) for random agencies, the tables filled with bulk Core inserts
  (one delivery per package, 10 % still open, 90 % acknowledged), for random agencies (about
  80 packages each at 1 M, 8 open) and for one busy agency that receives 3 % of everything,
  half of it still open, so that its page of 100 is always full.

Run: ``make bench`` (or ``.venv/bin/python bench/bench_hub.py``); about 7 minutes (most of it
filling the inbox tables). ``BENCH_HUB_POOL``, ``BENCH_HUB_SECONDS``, ``BENCH_HUB_INBOX``
(sizes, comma-separated; ``0``: no inbox table) and ``BENCH_HUB_INBOX_PG=0`` make a
shorter run;
``BENCH_HUB_WORKERS=N`` runs ``hub serve --workers N`` and the bare endpoint on as many
processes (default: one per core); ``BENCH_HUB_PIPELINE`` and
``BENCH_HUB_PIPELINE_PACED`` size the pipeline runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
PASSPHRASE = "lienthong-demo"  # the demo CA's (lienthong.cli.hub_cmd.DEMO_PASSPHRASE)
SENDER = "000.00.12.H41"  #: Sở TT&TT Nghệ An, system demo-000.00.12.H41
RECIPIENT = "000.00.20.H41"  #: Sở Y tế Nghệ An, system demo-000.00.20.H41
SENDER_SYSTEM = f"demo-{SENDER}"
#: Distinct signed packages; each load run sends each at most once.
POOL = int(os.environ.get("BENCH_HUB_POOL", "3500"))
PDF_BYTES = 100_000
WRK_THREADS = 2
WRK_CONNECTIONS = 32
WRK_SECONDS = int(os.environ.get("BENCH_HUB_SECONDS", "12"))
#: ``hub serve --workers`` and the bare endpoint's processes (``BENCH_HUB_WORKERS``; one per
#: core by default, as deployed); CPU figures count the workers too.
HUB_WORKERS = int(os.environ.get("BENCH_HUB_WORKERS", str(os.cpu_count() or 1)))
RATIO_GOAL = 0.70
RATE_GOAL = 1_000
SSE_GOAL_MS = 200.0
INBOX_GOAL_MS = 20.0
PROBES = 40  #: packages kept out of the wrk load, sent one by one to time the notification
#: Packages kept for the paced run (the same hub, after the saturation run): the load is
#: paced at :data:`PACED_SHARE` of the rate just measured, for :data:`PACED_SECONDS`.
PACED_PACKAGES = int(os.environ.get("BENCH_HUB_PACED", "1000"))
PACED_SHARE = 0.7
PACED_SECONDS = 10
#: Packages for the PDF-check pipeline run (``hub serve --pdf-check background``): sent at
#: saturation, then the pipeline drains them; then a paced run below its capacity.
PIPELINE_PACKAGES = int(os.environ.get("BENCH_HUB_PIPELINE", "300"))
PIPELINE_PACED = int(os.environ.get("BENCH_HUB_PIPELINE_PACED", "200"))
PIPELINE_SHARE = PIPELINE_PACKAGES + PIPELINE_PACED
PROBE_EVERY = 0.2  #: seconds between two probes
#: Package counts of the inbox runs (``BENCH_HUB_INBOX``; ``0`` skips the inbox table).
INBOX_SIZES = tuple(
    int(n)
    for n in os.environ.get("BENCH_HUB_INBOX", "10000,100000,1000000").split(",")
    if n.strip() and int(n) > 0
)
INBOX_QUERIES = 2_000
SEND_PATH = "/XrdAdapter/adapter/sendEdoc"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


# --------------------------------------------------------------------------- helpers
def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@contextlib.contextmanager
def postgres_database(label: str) -> Iterator[str | None]:
    """A fresh PostgreSQL database on 127.0.0.1 (dropped after), or ``None`` if unreachable."""
    name = f"bench_hub_{label}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError:
        admin.dispose()
        yield None
        return
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=5)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds so far of process ``pid`` and its running children (the
    workers of ``hub serve --workers N``), from Linux ``/proc``."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def running(
    command: list[str], env: dict[str, str], log: Path, health: str
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command`` (its own session), wait for ``health`` to answer 200, yield the
    process; stop it after. Raises with the log's tail if it does not start."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[:3]} did not start: {log.read_text()[-600:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(health, timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        yield process
    finally:
        _stop(process)


# --------------------------------------------------------------------------- the pool
def _signed_pdf(ca_dir: Path) -> bytes:
    """A generated document of about :data:`PDF_BYTES`, signed (PAdES B-B, the organisation's
    attachment signature) by Sở TT&TT, so that the hub's PDF check passes it."""
    from lienthong.signing.documents import generate_document, sample_spec
    from lienthong.signing.identity import ca_directory_identity
    from lienthong.signing.pdf import Level, sign_attachment

    identity = ca_directory_identity(ca_dir, "issued/so-tttt-nghe-an", PASSPHRASE)
    paragraphs = 150
    for _ in range(6):  # about 120 bytes a paragraph
        pdf = generate_document(sample_spec(0, paragraphs=paragraphs)).pdf
        signed = sign_attachment(
            pdf, identity, main_number="1/BENCH-STTTT", now=datetime.now(UTC), level=Level.B_B
        ).pdf
        if abs(len(signed) - PDF_BYTES) < 3_000:
            break
        paragraphs = max(1, paragraphs + (PDF_BYTES - len(signed)) // 120)
    return signed


def _make_packages(args: tuple[str, str, int, int, str, str]) -> int:
    """Write packages ``start`` … ``stop - 1`` of the pool (run in a worker process)."""
    ca_dir, pool_dir, start, stop, pdf_path, stamp = args
    from lienthong.client.vdxp import java_sha256_hex, sign_headers
    from lienthong.domain.edxml import Organization, serialize_package
    from lienthong.domain.edxml.builder import DocumentDraft, FileToAttach, build_document
    from lienthong.hub.registry import demo_secret
    from lienthong.signing.identity import ca_directory_identity
    from lienthong.signing.xmldsig import sign_envelope

    identity = ca_directory_identity(Path(ca_dir), "issued/so-tttt-nghe-an", PASSPHRASE)
    pdf = Path(pdf_path).read_bytes()
    secret = demo_secret(SENDER_SYSTEM)
    now = datetime.now(UTC)
    run = uuid.uuid4().hex[:6]
    for n in range(start, stop):
        draft = DocumentDraft(
            sender=Organization(organ_id=SENDER, organ_name="Sở Thông tin và Truyền thông"),
            recipients=[Organization(organ_id=RECIPIENT, organ_name="Sở Y tế tỉnh Nghệ An")],
            code_number=f"{n + 1}",
            code_notation=f"BENCH{run}-STTTT",
            promulgation_date=now.date(),
            place="Nghệ An",
            subject=f"Đo hiệu năng trục liên thông, văn bản {n + 1}",
            files=[FileToAttach(f"van-ban-{n + 1}.pdf", pdf)],
        )
        data = serialize_package(build_document(draft, now=now))
        data = sign_envelope(data, identity.key, identity.certificate, identity.chain)
        params = {
            "timestamp": stamp,
            "systemid": SENDER_SYSTEM,
            "Content-Type": "application/octet-stream",
            "from": SENDER,
            "servicetype": "eDoc",
            "messagetype": "edoc",
            "hash-file": java_sha256_hex(data),
        }
        headers = [*sign_headers(params, secret), ("Content-Type", "application/octet-stream")]
        (Path(pool_dir) / f"{n}.edxml").write_bytes(data)
        (Path(pool_dir) / f"{n}.headers").write_text(
            "".join(f"{name}: {value}\n" for name, value in headers), encoding="utf-8"
        )
    return stop - start


@dataclass(frozen=True)
class Pool:
    directory: Path
    count: int
    package_bytes: int
    pdf_bytes: int
    seconds: float


def make_pool(ca_dir: Path, work: Path, count: int) -> Pool:
    """``count`` distinct signed packages and their VDXP headers, on every core."""
    from lienthong.client.vdxp import vdxp_timestamp

    started = time.perf_counter()
    pool_dir = work / "pool"
    pool_dir.mkdir()
    pdf = _signed_pdf(ca_dir)
    (work / "signed.pdf").write_bytes(pdf)
    stamp = vdxp_timestamp(datetime.now(UTC))
    workers = os.cpu_count() or 2
    chunk = -(-count // (workers * 4))
    jobs = [
        (str(ca_dir), str(pool_dir), s, min(count, s + chunk), str(work / "signed.pdf"), stamp)
        for s in range(0, count, chunk)
    ]
    with ProcessPoolExecutor(workers) as executor:
        made = sum(executor.map(_make_packages, jobs))
    assert made == count
    size = (pool_dir / "0.edxml").stat().st_size
    return Pool(pool_dir, count, size, len(pdf), time.perf_counter() - started)


# --------------------------------------------------------------------------- the bare endpoint
BARE_METADATA = sa.MetaData()
BARE_TABLE = sa.Table(
    "bare_packages",
    BARE_METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
)


def stored_span(db_url: str, column: sa.Column[Any], *where: Any) -> tuple[int, float]:
    """How many rows the run stored and the seconds between the first and the last
    acceptance time (wrk's own duration is always its ``-d``, even when the pool ran out)."""
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as connection:
            count, first, last = connection.execute(
                sa.select(sa.func.count(), sa.func.min(column), sa.func.max(column)).where(*where)
            ).one()
    finally:
        engine.dispose()
    if not count or first is None or last is None:
        return 0, 0.0
    if isinstance(first, str):
        first, last = datetime.fromisoformat(first), datetime.fromisoformat(last)
    return int(count), (last - first).total_seconds()


def bare_app() -> Any:
    """The ceiling: an ASGI app that stores each POSTed body in a ``BlobStore`` (fsync) and
    inserts one row through a ``GroupCommitter``, then answers ``{"stored":true,…}``.

    Configured by ``BENCH_BARE_DB`` and ``BENCH_BARE_BLOBS`` (``uvicorn --factory``)."""
    from anyio import to_thread

    from lienthong.store.blobs import BlobStore
    from lienthong.store.engine import create_engine
    from lienthong.store.group_commit import GroupCommitter

    engine = create_engine(os.environ["BENCH_BARE_DB"])
    table = BARE_TABLE
    BARE_METADATA.create_all(engine)
    blobs = BlobStore(Path(os.environ["BENCH_BARE_BLOBS"]))
    committer = GroupCommitter(engine)

    def store(body: bytes) -> int:
        sha = blobs.put(body)
        row = {"sha256": sha, "size": len(body), "stored_at": datetime.now(UTC)}
        inserted = committer.run(lambda c: c.execute(table.insert().values(**row)))
        return int(inserted.inserted_primary_key[0])

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["method"] == "POST":
            ident = await to_thread.run_sync(store, bytes(body))
            payload = json.dumps({"stored": True, "id": ident}, separators=(",", ":")).encode()
        else:
            payload = b'{"status":"ok"}'
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return app


# --------------------------------------------------------------------------- loads
@dataclass(frozen=True)
class Load:
    accepted: int
    duplicate: int
    failed: int
    seconds: float
    p50_ms: float
    p99_ms: float
    stored: int = 0  #: rows in the database after the run
    span: float = 0.0  #: seconds from the first to the last acceptance
    cpu: float = 0.0  #: CPU seconds the server process used during the load

    @property
    def rate(self) -> float:
        """Stored packages per second, first to last (n - 1 intervals)."""
        return (self.stored - 1) / self.span if self.span > 0 and self.stored > 1 else 0.0


def run_wrk(
    url: str,
    pool: Pool,
    path: str,
    *,
    count: int,
    start: int = 0,
    delay_ms: int = 0,
    seconds: int = WRK_SECONDS,
) -> Load:
    """``bench/hub_send.lua``: packages ``start`` … ``count - 1`` of the pool POSTed once
    each; ``delay_ms`` makes each connection pause between its requests (a paced load)."""
    command = [
        "wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--timeout", "30s",
        "-s", str(HERE / "hub_send.lua"), url,
        "--", str(pool.directory), str(count), path, str(WRK_THREADS), str(start), str(delay_ms),
    ]  # fmt: skip
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 90
    ).stdout
    found = re.search(
        r"ACCEPTED (\d+) DUPLICATE (\d+) FAILED (\d+) SECONDS ([\d.]+) P50 ([\d.]+) P99 ([\d.]+)",
        out,
    )
    if found is None:
        raise RuntimeError(f"wrk printed no summary: {out}")
    a, d, f = (int(found[i]) for i in (1, 2, 3))
    return Load(a, d, f, float(found[4]), float(found[5]), float(found[6]))


def bare_load(db_url: str, work: Path, pool: Pool, label: str) -> Load:
    port = free_port()
    env = {
        **os.environ,
        "BENCH_BARE_DB": db_url,
        "BENCH_BARE_BLOBS": str(work / f"bare-blobs-{label}"),
        "PYTHONPATH": str(HERE),
    }
    if HUB_WORKERS == 1:
        command = [
            str(BIN / "python"), "-m", "uvicorn", "--factory", "bench_hub:bare_app",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            "--no-access-log",
        ]  # fmt: skip
    else:  # the same supervisor as hub serve --workers N (a SO_REUSEPORT socket each)
        engine = sa.create_engine(db_url)
        BARE_METADATA.create_all(engine)  # once, before the workers race to create it
        engine.dispose()
        launch = (
            "import sys; from lienthong.serving import serve_workers; sys.exit(serve_workers("
            f"'bench_hub:bare_app', host='127.0.0.1', port={port}, workers={HUB_WORKERS}, "
            "options={'log_level': 'warning', 'access_log': False}))"
        )
        command = [str(BIN / "python"), "-c", launch]
    url = f"http://127.0.0.1:{port}"
    with running(command, env, work / f"bare-{label}.log", f"{url}/healthz") as process:
        cpu = cpu_seconds(process.pid)
        load = run_wrk(url, pool, "/bare", count=pool.count - PROBES)
        cpu = cpu_seconds(process.pid) - cpu
    stored, span = stored_span(db_url, BARE_TABLE.c.stored_at)
    return replace(load, stored=stored, span=span, cpu=cpu)


class Subscriber:
    """The recipient's ``/v1`` event stream in a thread: (arrival, event) pairs."""

    def __init__(self, url: str, ca_dir: Path) -> None:
        from lienthong.client.api import HubClient
        from lienthong.signing.identity import ca_directory_identity

        identity = ca_directory_identity(ca_dir, "issued/so-y-te-nghe-an", PASSPHRASE)
        self.client = HubClient(
            url, key=identity.key, certificate=identity.certificate, chain=identity.chain
        )
        #: arrival (epoch s), kind, ``at`` (the hub's acceptance time), package id
        self.seen: list[tuple[float, str, str, int | None]] = []
        self.error = ""
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.connected.set()
            for event in self.client.stream(RECIPIENT, read_timeout=120):
                self.seen.append((time.time(), event.kind, event.at, event.package_id))
        except Exception as error:  # noqa: BLE001 - closed at the end, or a failure to report
            self.error = f"{type(error).__name__}: {error}"[:200]

    def latencies_ms(self, *, since: float = 0.0, until: float = float("inf")) -> list[float]:
        """Acceptance → arrival of the ``package`` events that arrived in [since, until)."""
        values = []
        for arrival, kind, at, _ in self.seen:
            if kind != "package" or not at or not since <= arrival < until:
                continue
            accepted = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
            values.append((arrival - accepted) * 1000)
        return values

    def arrivals(self) -> dict[int, float]:
        """Package id → when its ``package`` event arrived (epoch s)."""
        return {pid: t for t, kind, _, pid in self.seen if kind == "package" and pid is not None}

    def close(self) -> None:
        self.client.close()
        self.thread.join(timeout=5)


class Prober:
    """Sends the pool's last :data:`PROBES` packages one at a time during the load (every
    :data:`PROBE_EVERY` s) and keeps, per package id, when the send started and when its
    receipt came back: matched later with the subscriber's arrivals."""

    def __init__(self, url: str, pool: Pool) -> None:
        self.url = f"{url}/XrdAdapter/adapter/sendEdoc"
        self.pool = pool
        self.sent: dict[int, tuple[float, float]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=60) as client:
            for n in range(self.pool.count - PROBES, self.pool.count):
                if self.stop.wait(PROBE_EVERY):
                    return
                lines = (self.pool.directory / f"{n}.headers").read_text().splitlines()
                headers = [tuple(line.split(": ", 1)) for line in lines]
                body = (self.pool.directory / f"{n}.edxml").read_bytes()
                started = time.time()
                answer = client.post(self.url, headers=headers, content=body)
                received = time.time()
                if answer.status_code == 200 and answer.json().get("ErrorCode") == "0":
                    self.sent[int(answer.json()["DocId"])] = (started, received)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


@dataclass(frozen=True)
class HubRun:
    load: Load
    sse_ms: list[float]  #: every package: the hub's acceptance time → event arrival
    stored: int
    sse_error: str
    probe_send_ms: list[float]  #: probes: send started → event arrival
    probe_receipt_ms: list[float]  #: probes: receipt back → event arrival (< 0: event first)
    probe_rtt_ms: list[float]  #: probes: send started → receipt back
    paced: Load  #: the paced run (wrk's own counts and latencies)
    paced_target: float  #: packages/s the paced run aimed at
    paced_sse_ms: list[float]  #: every package of the paced run: acceptance → event
    stages: dict[str, float]  #: the saturation run, from the hub's /metrics (:func:`_stages`)


def scrape(url: str) -> dict[str, float]:
    """The hub's ``/metrics`` (any worker answers for all) as {series: value}."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


def _stages(before: dict[str, float], after: dict[str, float], span: float) -> dict[str, float]:
    """Where an accepted send's time went during the run (mean ms per stage) and how busy the
    writers were (share of the run's span, per process; the wait to begin is part of it)."""

    def delta(series: str) -> float:
        return after.get(series, 0.0) - before.get(series, 0.0)

    stages = {}
    for stage in ("check", "store", "write"):
        key = f'lienthong_hub_send_stage_seconds_{{}}{{{{stage="{stage}"}}}}'
        count = delta(key.format("count"))
        stages[stage] = 1000 * delta(key.format("sum")) / count if count else float("nan")
    groups = delta("lienthong_hub_writer_groups_total")
    stages["group"] = delta("lienthong_hub_writer_works_total") / groups if groups else 0.0
    per_process = max(span, 1e-9) * HUB_WORKERS
    stages["busy"] = delta("lienthong_hub_writer_busy_seconds_total") / per_process
    stages["wait"] = delta("lienthong_hub_writer_wait_seconds_total") / per_process
    return stages


def hub_load(db_url: str, work: Path, ca_dir: Path, pool: Pool, label: str) -> HubRun:
    """``lienthong hub serve`` on ``db_url``; the pool through VDXP sendEdoc at saturation,
    then paced at :data:`PACED_SHARE` of the rate measured; SSE meanwhile."""
    from lienthong.store.schema import packages

    port = free_port()
    data = work / f"hub-{label}"
    command = [
        str(BIN / "lienthong"), "hub", "serve", "--db", db_url, "--port", str(port),
        "--data", str(data), "--ca-dir", str(ca_dir), "--workers", str(HUB_WORKERS),
        "--pdf-check", "off",  # the send path alone: the pipeline is measured apart
    ]  # fmt: skip
    env = {**os.environ, "LIENTHONG_CA_PASSPHRASE": PASSPHRASE}
    url = f"http://127.0.0.1:{port}"
    with running(command, env, work / f"hub-{label}.log", f"{url}/healthz") as process:
        subscriber = Subscriber(url, ca_dir)
        subscriber.connected.wait(5)
        time.sleep(1.0)  # the stream is open and waiting
        prober = Prober(url, pool)
        cpu = cpu_seconds(process.pid)
        before = scrape(url)
        saturated_end = pool.count - PROBES - PACED_PACKAGES - PIPELINE_SHARE
        load = run_wrk(url, pool, SEND_PATH, count=saturated_end)
        cpu = cpu_seconds(process.pid) - cpu
        prober.close()
        time.sleep(1.5)  # the last events arrive; every worker has written its metrics
        after = scrape(url)
        stored, span = stored_span(db_url, packages.c.stored_at, packages.c.sender_code == SENDER)
        load = replace(load, stored=stored, span=span, cpu=cpu)
        # The same hub, paced below saturation: each connection pauses between requests.
        target = max(1.0, PACED_SHARE * load.rate)
        paced_from = time.time()
        paced = run_wrk(
            url, pool, SEND_PATH, count=saturated_end + PACED_PACKAGES, start=saturated_end,
            delay_ms=int(1000 * WRK_CONNECTIONS / target), seconds=PACED_SECONDS,
        )  # fmt: skip
        time.sleep(1.0)
        subscriber.close()
    arrivals = subscriber.arrivals()
    matched = [(arrivals[pid], *times) for pid, times in prober.sent.items() if pid in arrivals]
    return HubRun(
        load,
        subscriber.latencies_ms(until=paced_from),
        stored,
        subscriber.error,
        [(a - s) * 1000 for a, s, _ in matched],
        [(a - r) * 1000 for a, _, r in matched],
        [(r - s) * 1000 for _, s, r in matched],
        paced,
        target,
        subscriber.latencies_ms(since=paced_from),
        _stages(before, after, span),
    )


@dataclass(frozen=True)
class PipelineRun:
    load: Load  #: the sends (``stored`` = packages accepted)
    checked_rate: float  #: packages released or refused per second, first acceptance → last
    drain_seconds: float  #: first acceptance → nothing pending
    sse_ms: list[float]  #: acceptance → ``package`` event (the wait for the check included)
    paced_target: float
    paced: Load
    paced_sse_ms: list[float]


def _wait_until_checked(db_url: str, deadline: float) -> None:
    """Poll (one engine) until no package waits for its PDF check, or until ``deadline``."""
    from lienthong.store.schema import packages

    engine = sa.create_engine(db_url)
    query = sa.select(sa.func.count()).where(packages.c.pdf_state == "pending")
    try:
        while time.time() < deadline:
            with engine.connect() as connection:
                if not connection.execute(query).scalar_one():
                    return
            time.sleep(0.2)
    finally:
        engine.dispose()


def _released_span(db_url: str) -> tuple[int, float]:
    """Deliveries out of ``held`` and seconds from the first acceptance to the last release."""
    from lienthong.store.schema import deliveries, packages

    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as connection:
            count, first, last = connection.execute(
                sa.select(
                    sa.func.count(), sa.func.min(packages.c.stored_at),
                    sa.func.max(deliveries.c.queued_at),
                )
                .select_from(deliveries.join(packages, deliveries.c.package_id == packages.c.id))
                .where(deliveries.c.state != "held", packages.c.sender_code == SENDER)
            ).one()  # fmt: skip
    finally:
        engine.dispose()
    if not count:
        return 0, 0.0
    if isinstance(first, str):
        first, last = datetime.fromisoformat(first), datetime.fromisoformat(last)
    return int(count), (last - first).total_seconds()


def pipeline_load(db_url: str, work: Path, ca_dir: Path, pool: Pool, label: str) -> PipelineRun:
    """``hub serve`` as deployed (``--pdf-check background``, the default): the pipeline's
    share of the pool at saturation, the time until every package is checked, then a run
    paced at :data:`PACED_SHARE` of the check rate; SSE meanwhile."""
    port = free_port()
    command = [
        str(BIN / "lienthong"), "hub", "serve", "--db", db_url, "--port", str(port),
        "--data", str(work / f"pipeline-{label}"), "--ca-dir", str(ca_dir),
        "--workers", str(HUB_WORKERS), "--pdf-check", "background",
    ]  # fmt: skip
    env = {**os.environ, "LIENTHONG_CA_PASSPHRASE": PASSPHRASE}
    url = f"http://127.0.0.1:{port}"
    start = pool.count - PROBES - PIPELINE_SHARE
    with running(command, env, work / f"pipeline-{label}.log", f"{url}/healthz") as process:
        subscriber = Subscriber(url, ca_dir)
        subscriber.connected.wait(5)
        time.sleep(1.0)
        cpu = cpu_seconds(process.pid)
        began = time.time()
        load = run_wrk(url, pool, SEND_PATH, count=start + PIPELINE_PACKAGES, start=start)
        _wait_until_checked(db_url, began + 600)
        drained = time.time() - began
        cpu = cpu_seconds(process.pid) - cpu
        time.sleep(1.0)
        released, span = _released_span(db_url)
        checked_rate = (released - 1) / span if span > 0 and released > 1 else 0.0
        target = max(1.0, PACED_SHARE * checked_rate)
        paced_from = time.time()
        paced = run_wrk(
            url, pool, SEND_PATH, count=start + PIPELINE_SHARE, start=start + PIPELINE_PACKAGES,
            delay_ms=int(1000 * WRK_CONNECTIONS / target), seconds=PACED_SECONDS,
        )  # fmt: skip
        _wait_until_checked(db_url, paced_from + 120)
        time.sleep(1.0)
        subscriber.close()
    return PipelineRun(
        replace(load, cpu=cpu),
        checked_rate,
        drained,
        subscriber.latencies_ms(until=paced_from),
        target,
        paced,
        subscriber.latencies_ms(since=paced_from),
    )


def _pipeline(label: str, work: Path, ca_dir: Path, pool: Pool) -> PipelineRun:
    """:func:`pipeline_load` on a database of its own."""
    database: contextlib.AbstractContextManager[str | None] = (
        contextlib.nullcontext(f"sqlite:///{work / 'pipeline.db'}")
        if label == "SQLite"
        else postgres_database("pipeline")
    )
    with database as url:
        assert url is not None
        return pipeline_load(url, work, ca_dir, pool, label)


def _print_pipeline(rows: list[tuple[str, PipelineRun]]) -> None:
    """The PDF-check pipeline table."""
    print()
    print(
        "| `hub serve --pdf-check background` (the default) | packages | checked per s "
        "| drained in s | server CPU ms/pkg | acceptance → event p50 ms | p99 ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, run in rows:
        sse = run.sse_ms
        print(
            f"| {label}: {run.load.accepted:,} sent at saturation, then checked | "
            f"{run.load.accepted:,} | {run.checked_rate:.1f} | {run.drain_seconds:.1f} | "
            f"{1000 * run.load.cpu / max(1, run.load.accepted):.1f} | "
            f"{percentile(sse, 50):.0f} | {percentile(sse, 99):.0f} |"
        )
        paced = run.paced_sse_ms
        print(
            f"| {label}: paced at {run.paced_target:.1f}/s ({PACED_SHARE:.0%} of the check "
            f"rate), {run.paced.accepted:,} sent in {run.paced.seconds:.0f} s | "
            f"{len(paced):,} | | | | {percentile(paced, 50):.0f} | {percentile(paced, 99):.0f} |"
        )


# --------------------------------------------------------------------------- inbox
def _fill(engine: sa.Engine, codes: list[str], start: int, stop: int, now: datetime) -> None:
    """Packages ``start`` … ``stop - 1`` (ids) with one delivery each, in big batches."""
    from lienthong.store.schema import deliveries, packages

    rng = random.Random(start)
    batch = 5_000
    for first in range(start, stop, batch):
        last = min(stop, first + batch)
        rows, dels = [], []
        for ident in range(first, last):
            sender = codes[rng.randrange(len(codes))]
            # 3 % go to one busy agency, half of them still open: a full page of 100 at
            # every size (about 150 open at 10 k, 15,000 at 1 M).
            busy = rng.random() < 0.03
            recipient = codes[0] if busy else codes[rng.randrange(len(codes))]
            sha = hashlib.sha256(ident.to_bytes(8, "big")).hexdigest()
            rows.append({
                "id": ident, "document_id": f"{ident},BENCH,{sender}", "sender_code": sender,
                "kind": "document", "sha256": sha, "size": 100_000, "stored_at": now,
                "idem_key": sha, "business": "0", "late": False, "priority": 0,
            })  # fmt: skip
            open_ = rng.random() < (0.5 if busy else 0.10)
            dels.append({
                "package_id": ident, "recipient_code": recipient,
                "state": ("queued" if rng.random() < 0.5 else "fetched") if open_ else "done",
                "attempts": 0 if open_ else 1, "queued_at": now,
                "acknowledged_at": None if open_ else now,
                "registration_due": now + timedelta(days=2),
            })  # fmt: skip
        with engine.begin() as connection:
            connection.execute(packages.insert(), rows)
            connection.execute(deliveries.insert(), dels)


def _time_inbox(hub: Any, agencies: list[str], queries: int, rng: random.Random) -> list[float]:
    from lienthong.hub.api import Caller

    times = []
    for n in range(queries + 100):
        agency = agencies[rng.randrange(len(agencies))]
        caller = Caller("bench", frozenset({agency}))
        started = time.perf_counter()
        items = hub.inbox(caller, agency, limit=100)
        elapsed = (time.perf_counter() - started) * 1000
        if n >= 100:  # after a warm-up
            times.append(elapsed)
        assert len(items) <= 100
    return times


def inbox_bench(db_url: str) -> list[tuple[int, str, float, float, float]]:
    """(packages, which, p50, p99, mean) of ``Hub.inbox`` at each of :data:`INBOX_SIZES`:
    random agencies, and the busy one (3 % of all packages, a full page of 100)."""
    from lienthong.hub.registry import demo_registry, load_registry
    from lienthong.hub.service import Hub
    from lienthong.store.blobs import BlobStore
    from lienthong.store.engine import create_engine
    from lienthong.store.migrate import upgrade

    engine = create_engine(db_url)
    upgrade(engine)
    now = datetime.now(UTC)
    registry = demo_registry(per_level=(20, 9, 10))
    load_registry(engine, registry, now=now)
    codes = [a.code for a in registry.agencies if a.status == "active"]
    with tempfile.TemporaryDirectory(prefix="bench-hub-inbox-") as blobs:
        hub = Hub(engine, BlobStore(Path(blobs)))
        rng = random.Random(7)
        results = []
        filled = 1
        try:
            for size in INBOX_SIZES:
                _fill(engine, codes, filled, size + 1, now)
                filled = size + 1
                if engine.dialect.name == "postgresql":
                    with engine.connect() as connection:
                        connection.execute(sa.text("ANALYZE packages"))
                        connection.execute(sa.text("ANALYZE deliveries"))
                        connection.commit()
                for which, pick, queries in (
                    (f"random of {len(codes):,} agencies", codes, INBOX_QUERIES),
                    ("the busy agency (3 % of packages)", codes[:1], INBOX_QUERIES // 4),
                ):
                    times = _time_inbox(hub, pick, queries, rng)
                    results.append(
                        (size, which, percentile(times, 50), percentile(times, 99),
                         statistics.mean(times))
                    )  # fmt: skip
        finally:
            hub.close()
            engine.dispose()
    return results


# --------------------------------------------------------------------------- main
def _verdict(ok: bool, goal: str) -> str:
    return f"{'met' if ok else 'missed'} ({goal})"


def _print_sse(sse_rows: list[tuple[str, HubRun]]) -> None:
    """The send → SSE notification table."""
    print()
    print("| send → SSE notification | events | p50 ms | p99 ms | max ms | goal |")
    print("|---|---:|---:|---:|---:|---|")
    for label, run in sse_rows:
        for what, values in (
            ("probe: send started → event", run.probe_send_ms),
            ("probe: send started → receipt (for comparison)", run.probe_rtt_ms),
            ("probe: receipt → event (< 0: event first)", run.probe_receipt_ms),
        ):
            p99 = percentile(values, 99)
            verdict = ""
            if what.endswith("→ event"):
                verdict = _verdict(bool(values) and p99 <= SSE_GOAL_MS, "p99 ≤ 200 ms")
            print(
                f"| {what}, {label} load | {len(values)} | {percentile(values, 50):.1f} | "
                f"{p99:.1f} | {max(values, default=float('nan')):.1f} | {verdict} |"
            )
        note = f" (stream: {run.sse_error})" if run.sse_error and not run.sse_ms else ""
        paced = run.paced
        for what, values in (
            (
                f"every package: acceptance → event, {label} load at saturation{note}",
                run.sse_ms,
            ),
            (
                (
                    f"every package: acceptance → event, {label} load paced at "
                    f"{run.paced_target:.0f}/s ({PACED_SHARE:.0%} of the rate above; "
                    f"{paced.accepted:,} sent in {paced.seconds:.0f} s, "
                    f"round trip p50 {paced.p50_ms:.0f} / p99 {paced.p99_ms:.0f} ms)"
                ),
                run.paced_sse_ms,
            ),
        ):
            p99 = percentile(values, 99)
            goal = f"p99 ≤ {SSE_GOAL_MS:.0f} ms"
            print(
                f"| {what} | {len(values):,} | {percentile(values, 50):.1f} | {p99:.1f} | "
                f"{max(values, default=float('nan')):.1f} | "
                f"{_verdict(bool(values) and p99 <= SSE_GOAL_MS, goal)} |"
            )


def _print_stages(rows: list[tuple[str, HubRun]]) -> None:
    """Where the time of an accepted send went at saturation (the hub's own metrics)."""
    print()
    print(
        "| where an accepted send's time went, at saturation (hub /metrics) | check ms "
        "| store ms | write ms (queued + group commit) | works per group "
        "| writer busy (per process) | of which waiting to begin |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, run in rows:
        st = run.stages
        print(
            f"| `hub serve --workers {HUB_WORKERS}`, {label} | {st['check']:.1f} "
            f"| {st['store']:.1f} | {st['write']:.1f} | {st['group']:.1f} "
            f"| {st['busy']:.0%} | {st['wait']:.0%} |"
        )


def main() -> None:  # noqa: PLR0915 - one report, top to bottom
    """Print the hub's tables."""
    if shutil.which("wrk") is None:
        print("## Hub — skipped: needs wrk on PATH")
        return
    from lienthong.authority.service import init_directory
    from lienthong.cli.hub_cmd import add_demo_recipient

    print()
    print(f"## Hub (issue 5) — Python {platform.python_version()}, {os.cpu_count()} CPUs")
    print()
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as temp:
        work = Path(temp)
        ca_dir = work / "ca"
        now = datetime.now(UTC)
        init_directory(ca_dir, passphrase=PASSPHRASE, now=now)
        add_demo_recipient(ca_dir, PASSPHRASE, now=now)
        pool = make_pool(ca_dir, work, POOL)
        print(
            f"Pool: {pool.count:,} distinct packages, {pool.package_bytes / 1000:.0f} kB each "
            f"(signed PDF {pool.pdf_bytes / 1000:.0f} kB, envelope XML-DSig RSA-2048), "
            f"made in {pool.seconds:.0f} s on {os.cpu_count()} processes; wrk -t{WRK_THREADS} "
            f"-c{WRK_CONNECTIONS}, each package sent once."
        )
        print()
        print(
            "| accepted packages | stored | dup | failed | s | per s | p50 ms | p99 ms "
            "| server CPU ms/pkg | goal |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        sse_rows = []
        pipeline_rows: list[tuple[str, PipelineRun]] = []
        backends: list[tuple[str, contextlib.AbstractContextManager[str | None]]] = [
            ("SQLite", contextlib.nullcontext(f"sqlite:///{work / 'hub.db'}")),
            ("PostgreSQL", postgres_database("send")),
        ]
        for label, database in backends:
            with database as hub_url:
                if hub_url is None:
                    print(f"| {label}: not reachable, skipped ||||||||")
                    continue
                if label == "SQLite":
                    bare_ctx: contextlib.AbstractContextManager[str | None] = (
                        contextlib.nullcontext(f"sqlite:///{work / 'bare.db'}")
                    )
                else:
                    bare_ctx = postgres_database("bare")
                with bare_ctx as bare_url:
                    assert bare_url is not None
                    bare = bare_load(bare_url, work, pool, label)
                run = hub_load(hub_url, work, ca_dir, pool, label)
            pipeline_rows.append((label, _pipeline(label, work, ca_dir, pool)))
            ratio = run.load.rate / bare.rate if bare.rate else 0.0
            print(
                f"| baseline: bare endpoint (BlobStore + GroupCommitter row), "
                f"{HUB_WORKERS} process{'es' if HUB_WORKERS > 1 else ''}, {label} | "
                f"{bare.stored:,} | {bare.duplicate} | {bare.failed} | {bare.span:.1f} | "
                f"{bare.rate:,.0f} | {bare.p50_ms:.1f} | {bare.p99_ms:.1f} | "
                f"{1000 * bare.cpu / max(1, bare.stored):.2f} | |"
            )
            goal = f"≥ {RATIO_GOAL:.0%} of bare, ≈ {RATE_GOAL:,}/s"
            print(
                f"| `hub serve --workers {HUB_WORKERS}` VDXP sendEdoc, {label} | "
                f"{run.stored:,} | {run.load.duplicate} | {run.load.failed} | "
                f"{run.load.span:.1f} | {run.load.rate:,.0f} ({ratio:.0%}) | "
                f"{run.load.p50_ms:.1f} | {run.load.p99_ms:.1f} | "
                f"{1000 * run.load.cpu / max(1, run.stored):.2f} | "
                f"{_verdict(ratio >= RATIO_GOAL and run.load.rate >= RATE_GOAL * 0.9, goal)} |"
            )
            sse_rows.append((label, run))
        _print_sse(sse_rows)
        _print_stages(sse_rows)
        _print_pipeline(pipeline_rows)
    if not INBOX_SIZES:
        return
    print()
    print(
        "| inbox (`Hub.inbox`, ≤ 100 items) | packages | agency | p50 ms | p99 ms | mean | goal |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    inbox_backends: list[tuple[str, contextlib.AbstractContextManager[str | None]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-hub-inbox-db-") as temp:
        inbox_backends.append(("SQLite", contextlib.nullcontext(f"sqlite:///{temp}/inbox.db")))
        if os.environ.get("BENCH_HUB_INBOX_PG", "1") == "1":
            inbox_backends.append(("PostgreSQL", postgres_database("inbox")))
        for label, database in inbox_backends:
            with database as url:
                if url is None:
                    print(f"| {label}: not reachable, skipped |||||||")
                    continue
                started = time.perf_counter()
                rows = inbox_bench(url)
                spent = time.perf_counter() - started
                first = {which: p99 for size, which, _, p99, _ in rows if size == rows[0][0]}
                for size, which, p50, p99, mean in rows:
                    flat = p99 <= 2 * first[which] + 1.0  # within 2x (+1 ms of noise)
                    verdict = _verdict(p99 <= INBOX_GOAL_MS and flat, "p99 ≤ 20 ms, flat")
                    print(
                        f"| {label} | {size:,} | {which} | {p50:.2f} | {p99:.2f} | "
                        f"{mean:.2f} | {verdict} |"
                    )
                print(f"| {label}: fill + queries took {spent:.0f} s |||||||")


if __name__ == "__main__":
    main()
