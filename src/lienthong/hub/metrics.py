"""Prometheus metrics (chỉ số giám sát) in the text exposition format, hand-written.

A few counters and histograms are all the hub needs; writing the format ourselves avoids a
dependency. Thread-safe; one :class:`Metrics` per process.

**Several worker processes on one port** (``hub serve --workers N``): a scrape of ``/metrics``
reaches whichever worker the kernel picks, so each worker's own figures would jump from one
scrape to the next (and a counter that goes down reads as a reset). With ``shared`` set, every
process writes a snapshot of its figures to ``shared/<pid>.json`` each ``flush_every`` seconds
(atomically: a temporary file renamed over the old one) and :meth:`Metrics.render` adds up the
snapshots of all the others to its own live figures: any worker answers for all of them.
Counters and histograms of a process that has ended stay in the sum (so the totals never go
down when a worker is restarted); its gauges are dropped. The figures of the other workers are
at most ``flush_every`` seconds old; those a worker had not yet written when it was killed are
lost (metrics, not records). ``hub serve`` empties the directory before it starts its workers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

_log = logging.getLogger(__name__)

#: Latency buckets in seconds (the hub answers in milliseconds; SSE streams are not timed).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

_Key = tuple[tuple[str, str], ...]
#: How a gauge combines across worker processes: ``sum`` for what each process holds (its
#: open streams, its writer's queue), ``local`` for a figure every process reads from the
#: shared database (the same in all of them: the scraped process's own reading).
Across = Literal["sum", "local"]


def _labels(pairs: _Key) -> str:
    if not pairs:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in pairs
    )
    return "{" + inner + "}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class Metrics:
    """Counters, histograms and gauges rendered by :meth:`render`."""

    def __init__(self, shared: Path | None = None, *, flush_every: float = 1.0) -> None:
        """``shared``: the directory where the worker processes of one hub exchange their
        figures (module docstring); ``None`` for a process that answers only for itself."""
        self._lock = threading.Lock()
        self._counters: dict[str, dict[_Key, float]] = defaultdict(dict)
        self._histograms: dict[str, dict[_Key, list[float]]] = defaultdict(dict)
        self._gauges: dict[str, tuple[Callable[[], float], Across]] = {}
        self._counter_reads: dict[str, Callable[[], float]] = {}
        self._help: dict[str, tuple[str, str]] = {}
        self._shared = shared
        self._pid = os.getpid()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        if shared is not None:
            shared.mkdir(parents=True, exist_ok=True)
            self._flusher = threading.Thread(
                target=self._flush_loop, args=(flush_every,), name="metrics-flush", daemon=True
            )
            self._flusher.start()

    # -- recording -------------------------------------------------------------------------
    def describe(self, name: str, kind: str, text: str) -> None:
        """``# HELP`` and ``# TYPE`` of a metric."""
        self._help[name] = (kind, text)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        """Add to a counter."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._counters[name]
            series[key] = series.get(key, 0.0) + amount

    def observe(self, name: str, value: float, **labels: str) -> None:
        """Record one observation in a histogram."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._histograms[name].get(key)
            if series is None:
                series = [0.0] * (len(BUCKETS) + 2)  # buckets…, count, sum
                self._histograms[name][key] = series
            for i, bound in enumerate(BUCKETS):
                if value <= bound:
                    series[i] += 1
            series[-2] += 1
            series[-1] += value

    def gauge(self, name: str, read: Callable[[], float], *, across: Across = "local") -> None:
        """A gauge read when rendered (``across``: how it adds up over worker processes)."""
        self._gauges[name] = (read, across)

    def counter_from(self, name: str, read: Callable[[], float]) -> None:
        """A counter kept elsewhere (a running total), read when rendered."""
        self._counter_reads[name] = read

    # -- sharing between worker processes ----------------------------------------------------
    def _snapshot(self) -> dict[str, object]:
        """This process's figures, as written for the others."""
        with self._lock:
            counters = {n: [[list(k), v] for k, v in s.items()] for n, s in self._counters.items()}
            histograms = {
                n: [[list(k), list(v)] for k, v in s.items()] for n, s in self._histograms.items()
            }
        for name, read in self._counter_reads.items():
            counters.setdefault(name, []).append([[], read()])
        gauges = {n: read() for n, (read, across) in self._gauges.items() if across == "sum"}
        return {"pid": self._pid, "counters": counters, "histograms": histograms, "gauges": gauges}

    def flush(self) -> None:
        """Write this process's snapshot now (also done every ``flush_every`` seconds)."""
        if self._shared is None:
            return
        target = self._shared / f"{self._pid}.json"
        temp = self._shared / f".{self._pid}.tmp"
        temp.write_text(json.dumps(self._snapshot()), encoding="utf-8")
        temp.replace(target)

    def _flush_loop(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - a full disk must not stop the hub
                _log.warning("could not write the metrics snapshot", exc_info=True)

    def close(self) -> None:
        """Write a last snapshot and stop the flusher thread."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=5)
            self._flusher = None
            with contextlib.suppress(OSError):
                self.flush()

    def _others(self) -> list[dict[str, object]]:
        if self._shared is None:
            return []
        found = []
        for path in self._shared.glob("*.json"):
            if path.stem == str(self._pid):
                continue
            try:
                snapshot = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # removed meanwhile, or not ours
            if isinstance(snapshot, dict) and isinstance(snapshot.get("pid"), int):
                found.append(snapshot)
        return found

    # -- rendering ---------------------------------------------------------------------------
    def render(self) -> str:
        """The text exposition format (version 0.0.4), with the other workers' figures."""
        with self._lock:
            counters = {n: dict(s) for n, s in self._counters.items()}
            histograms = {
                n: {k: list(v) for k, v in s.items()} for n, s in self._histograms.items()
            }
        for name, read in self._counter_reads.items():
            series = counters.setdefault(name, {})
            series[()] = series.get((), 0.0) + read()
        gauges = {name: read() for name, (read, _) in self._gauges.items()}
        for snapshot in self._others():
            _merge(snapshot, counters, histograms, gauges, self._gauges)
        return _format(self._help, counters, histograms, gauges)


def _merge(
    snapshot: dict[str, object],
    counters: dict[str, dict[_Key, float]],
    histograms: dict[str, dict[_Key, list[float]]],
    gauges: dict[str, float],
    kinds: dict[str, tuple[Callable[[], float], Across]],
) -> None:
    """Add another process's snapshot to the figures being rendered (all of it, or nothing
    if any part is malformed)."""
    try:
        counted = [
            (str(name), _key(labels), float(amount))
            for name, rows in _mapping(snapshot.get("counters")).items()
            for labels, amount in rows
        ]
        timed = [
            (str(name), _key(labels), [float(v) for v in values])
            for name, rows in _mapping(snapshot.get("histograms")).items()
            for labels, values in rows
        ]
        levels = {str(n): float(v) for n, v in _mapping(snapshot.get("gauges")).items()}
        pid = int(_mapping(snapshot)["pid"])
    except (TypeError, ValueError, KeyError):
        _log.warning("ignored a malformed metrics snapshot (pid %s)", snapshot.get("pid"))
        return
    for name, key, amount in counted:
        series = counters.setdefault(name, {})
        series[key] = series.get(key, 0.0) + amount
    for name, key, values in timed:
        if len(values) != len(BUCKETS) + 2:
            continue  # written with other buckets: cannot be added
        mine = histograms.setdefault(name, {}).setdefault(key, [0.0] * (len(BUCKETS) + 2))
        for i, amount in enumerate(values):
            mine[i] += amount
    if not _alive(pid):
        return  # an ended process holds no streams, no queue
    for name, level in levels.items():
        if name in gauges and kinds[name][1] == "sum":
            gauges[name] += level


def _mapping(value: object) -> dict[str, Any]:  # JSON as read
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError("not a mapping")
    return value


def _key(labels: object) -> _Key:
    if not isinstance(labels, list):
        raise TypeError("labels are not a list")
    return tuple((str(k), str(v)) for k, v in labels)


def _format(
    help_: dict[str, tuple[str, str]],
    counters: dict[str, dict[_Key, float]],
    histograms: dict[str, dict[_Key, list[float]]],
    gauges: dict[str, float],
) -> str:
    out: list[str] = []

    def head(name: str) -> None:
        if name in help_:
            kind, text = help_[name]
            out.append(f"# HELP {name} {text}")
            out.append(f"# TYPE {name} {kind}")

    for name, series in sorted(counters.items()):
        head(name)
        out += [f"{name}{_labels(k)} {v:g}" for k, v in sorted(series.items())]
    for name, hseries in sorted(histograms.items()):
        head(name)
        for key, values in sorted(hseries.items()):
            for i, bound in enumerate(BUCKETS):
                out.append(f"{name}_bucket{_labels((*key, ('le', f'{bound:g}')))} {values[i]:g}")
            out.append(f"{name}_bucket{_labels((*key, ('le', '+Inf')))} {values[-2]:g}")
            out.append(f"{name}_count{_labels(key)} {values[-2]:g}")
            out.append(f"{name}_sum{_labels(key)} {values[-1]:.6f}")
    for name, value in sorted(gauges.items()):
        head(name)
        out.append(f"{name} {value:g}")
    return "\n".join(out) + "\n"


__all__ = ["BUCKETS", "Metrics"]
