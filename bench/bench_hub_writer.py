"""The hub's write of an accepted package (``Hub._record``) in group commits, on SQLite and
PostgreSQL, with the group's audit entries, deliveries and events deferred to one multi-row
insert per table (``lienthong.store.deferred``, as the hub runs) and without (one statement
each, the baseline in the same run).

The hub's writes take turns across processes on one lock (the audit chain's and the event
order's), so the wall time a package's write holds that lock bounds the rate of the whole
hub. Here one thread, nothing else running: the figures are the lock's hold per package when
the writer has a core to itself. Packages: the bench pool's letters (signed, 143 kB), checked
and stored beforehand; groups of 16 through the same ``write_transaction`` and
``_begin_group`` as the hub's committer.

Run: ``.venv/bin/python bench/bench_hub_writer.py`` (about a minute); ``BENCH_WRITER_PACKAGES``
sizes it. Part of ``make bench``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_hub

PACKAGES = int(os.environ.get("BENCH_WRITER_PACKAGES", "480"))
GROUP = 16
ROUNDS = 3


def _measure(url: str, work: Path, ca_dir: Path, pool: bench_hub.Pool) -> dict[str, list[float]]:
    from lienthong.cli.hub_cmd import PdfSettings, _seed_demo, hub_config
    from lienthong.hub import service
    from lienthong.hub.api import Caller
    from lienthong.store.blobs import BlobStore
    from lienthong.store.deferred import begin_deferring, end_deferring
    from lienthong.store.engine import create_engine, write_transaction
    from lienthong.store.migrate import upgrade

    engine = create_engine(url)
    upgrade(engine)
    config, _, _ = hub_config(PdfSettings(check="off"), ca_dir)
    hub = service.Hub(engine, BlobStore(work / f"blobs-{engine.dialect.name}"), config)
    now = datetime.now(UTC)
    _seed_demo(engine, ca_dir, now=now, announce=False)
    caller = Caller(bench_hub.SENDER_SYSTEM, frozenset({bench_hub.SENDER}))
    items: list[Any] = []
    for n in range(pool.count):
        data = (pool.directory / f"{n}.edxml").read_bytes()
        items.append((hub._check(caller, data), data, hub.blobs.put(data)))

    def write(batch: list[Any], *, deferred: bool) -> tuple[float, float]:
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, len(batch), GROUP):
            with write_transaction(engine) as connection:
                service._begin_group(connection)
                pending = begin_deferring(connection) if deferred else None
                for checked, data, sha in batch[start : start + GROUP]:
                    hub._record(connection, caller, checked, data, sha, now)
                if pending is not None:
                    pending.flush(connection)
                    end_deferring(connection)
        return (time.process_time() - cpu) / len(batch), (time.perf_counter() - wall) / len(batch)

    write(items[:GROUP], deferred=True)  # warm: statements compiled, caches filled
    figures: dict[str, list[float]] = {}
    share = (len(items) - GROUP) // (2 * ROUNDS)
    for round_ in range(ROUNDS):  # alternate, so that a slow moment hits both
        for deferred in (False, True):
            offset = GROUP + (2 * round_ + deferred) * share
            cpu, wall = write(items[offset : offset + share], deferred=deferred)
            label = "deferred" if deferred else "direct"
            figures.setdefault(f"{label} wall", []).append(wall)
            figures.setdefault(f"{label} cpu", []).append(cpu)
    hub.close()
    engine.dispose()
    return figures


def main() -> None:
    """Print the table."""
    from lienthong.authority.service import init_directory
    from lienthong.cli.hub_cmd import add_demo_recipient

    print()
    print(f"## Hub writer (issue 5): a package's write in groups of {GROUP}")
    print()
    with tempfile.TemporaryDirectory(prefix="bench-writer-") as temp:
        work = Path(temp)
        ca_dir = work / "ca"
        now = datetime.now(UTC)
        init_directory(ca_dir, passphrase=bench_hub.PASSPHRASE, now=now)
        add_demo_recipient(ca_dir, bench_hub.PASSPHRASE, now=now)
        pool = bench_hub.make_pool(ca_dir, work, PACKAGES)
        print(
            f"{pool.count} packages of the bench pool, checked and stored first; one thread; "
            f"best of {ROUNDS} rounds of {(pool.count - GROUP) // (2 * ROUNDS)} packages each "
            "way, alternated."
        )
        print()
        print("| engine | rows | wall ms per package | CPU ms per package |")
        print("|---|---|---:|---:|")
        for label, database in (
            ("SQLite", None),
            ("PostgreSQL", bench_hub.postgres_database("writer")),
        ):
            if database is None:
                figures = _measure(f"sqlite:///{work / 'writer.db'}", work, ca_dir, pool)
            else:
                with database as url:
                    if url is None:
                        print(f"| {label}: not reachable, skipped | | | |")
                        continue
                    figures = _measure(url, work, ca_dir, pool)
            for how in ("direct", "deferred"):
                what = (
                    "one statement each (baseline)"
                    if how == "direct"
                    else "deferred: one multi-row insert per table per group (as the hub runs)"
                )
                wall = min(figures[f"{how} wall"]) * 1000
                cpu = min(figures[f"{how} cpu"]) * 1000
                spread = statistics.pstdev(figures[f"{how} wall"]) * 1000
                print(f"| {label} | {what} | {wall:.2f} (± {spread:.2f}) | {cpu:.2f} |")


if __name__ == "__main__":
    main()
