"""Metrics shared by the worker processes of one hub (``lienthong.hub.metrics``): any process
answers ``/metrics`` with the figures of all, over real processes writing real snapshots."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lienthong.hub.metrics import Metrics

#: A worker: counts, times, holds 3 streams; flushes, then exits or waits for stdin to close.
WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from lienthong.hub.metrics import Metrics
    metrics = Metrics(Path(sys.argv[1]), flush_every=3600)
    metrics.inc("accepted_total", 5)
    metrics.inc("refusals_total", 2, code="hub.bad_signature")
    metrics.observe("stage_seconds", 0.004, stage="check")
    metrics.observe("stage_seconds", 0.2, stage="check")
    metrics.counter_from("writer_busy_seconds_total", lambda: 1.5)
    metrics.gauge("stream_listeners", lambda: 3.0, across="sum")
    metrics.gauge("pdf_pending", lambda: 40.0)
    metrics.flush()
    print("ready", flush=True)
    if sys.argv[2] == "stay":
        sys.stdin.read()
    """
)


def value(rendered: str, series: str) -> float:
    found = re.search(rf"^{re.escape(series)} (\S+)$", rendered, re.MULTILINE)
    assert found is not None, f"{series} not in:\n{rendered}"
    return float(found[1])


def local(shared: Path) -> Metrics:
    """This process's figures: what the scraped worker itself counted."""
    metrics = Metrics(shared, flush_every=3600)
    metrics.inc("accepted_total", 1)
    metrics.observe("stage_seconds", 0.03, stage="check")
    metrics.counter_from("writer_busy_seconds_total", lambda: 0.25)
    metrics.gauge("stream_listeners", lambda: 1.0, across="sum")
    metrics.gauge("pdf_pending", lambda: 41.0)
    return metrics


def test_a_live_worker_s_counters_histograms_and_gauges_are_added(tmp_path: Path) -> None:
    shared = tmp_path / "metrics"
    with subprocess.Popen(
        [sys.executable, "-c", WORKER, str(shared), "stay"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    ) as worker:  # fmt: skip
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready"
        metrics = local(shared)
        try:
            rendered = metrics.render()
        finally:
            metrics.close()
            assert worker.stdin is not None
            worker.stdin.close()
    assert value(rendered, "accepted_total") == 6
    assert value(rendered, 'refusals_total{code="hub.bad_signature"}') == 2
    assert value(rendered, 'stage_seconds_count{stage="check"}') == 3
    assert value(rendered, 'stage_seconds_bucket{stage="check",le="0.005"}') == 1
    assert value(rendered, 'stage_seconds_bucket{stage="check",le="0.05"}') == 2
    assert value(rendered, 'stage_seconds_sum{stage="check"}') == pytest.approx(0.234)
    assert value(rendered, "writer_busy_seconds_total") == 1.75
    assert value(rendered, "stream_listeners") == 4  # each process holds its own streams
    assert value(rendered, "pdf_pending") == 41  # read from the shared database: ours only


def test_an_ended_worker_s_totals_stay_but_not_its_gauges(tmp_path: Path) -> None:
    shared = tmp_path / "metrics"
    subprocess.run([sys.executable, "-c", WORKER, str(shared), "exit"], check=True, timeout=60)
    metrics = local(shared)
    try:
        rendered = metrics.render()
    finally:
        metrics.close()
    # A restarted worker must not make the totals go down (that reads as a counter reset).
    assert value(rendered, "accepted_total") == 6
    assert value(rendered, "writer_busy_seconds_total") == 1.75
    assert value(rendered, "stream_listeners") == 1  # the ended process holds no stream


def test_close_writes_the_last_snapshot_and_nothing_is_shared_without_a_directory(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "metrics"
    metrics = Metrics(shared, flush_every=3600)
    metrics.inc("accepted_total", 7)
    assert not list(shared.glob("*.json"))  # not flushed yet
    metrics.close()
    (snapshot,) = shared.glob("*.json")
    assert '"accepted_total"' in snapshot.read_text()
    alone = Metrics()
    alone.inc("accepted_total")
    assert value(alone.render(), "accepted_total") == 1
    alone.close()


def test_malformed_or_foreign_snapshots_are_ignored(tmp_path: Path) -> None:
    shared = tmp_path / "metrics"
    shared.mkdir()
    (shared / "1.json").write_text("{not json", encoding="utf-8")
    (shared / "2.json").write_text('["a list"]', encoding="utf-8")
    (shared / "3.json").write_text(
        '{"pid": 3, "counters": {"accepted_total": [[[], "many"]]}}', encoding="utf-8"
    )
    (shared / "4.json").write_text(  # other buckets: cannot be added, skipped
        '{"pid": 4, "histograms": {"stage_seconds": [[[["stage", "check"]], [1, 2]]]}}',
        encoding="utf-8",
    )
    metrics = local(shared)
    try:
        rendered = metrics.render()
    finally:
        metrics.close()
    assert value(rendered, "accepted_total") == 1
    assert value(rendered, 'stage_seconds_count{stage="check"}') == 1
