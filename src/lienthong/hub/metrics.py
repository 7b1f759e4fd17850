"""Prometheus metrics (chỉ số giám sát) in the text exposition format, hand-written.

A few counters and one latency histogram per route are all the hub needs; writing the format
ourselves avoids a dependency. Thread-safe; one :class:`Metrics` per process.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable

#: Latency buckets in seconds (the hub answers in milliseconds; SSE streams are not timed).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in pairs
    )
    return "{" + inner + "}"


class Metrics:
    """Counters, histograms and gauges rendered by :meth:`render`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
        self._histograms: dict[str, dict[tuple[tuple[str, str], ...], list[float]]] = defaultdict(
            dict
        )
        self._gauges: dict[str, Callable[[], float]] = {}
        self._help: dict[str, tuple[str, str]] = {}

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

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        """A gauge read when rendered."""
        self._gauges[name] = read

    def render(self) -> str:
        """The text exposition format (version 0.0.4)."""
        out: list[str] = []

        def head(name: str) -> None:
            if name in self._help:
                kind, text = self._help[name]
                out.append(f"# HELP {name} {text}")
                out.append(f"# TYPE {name} {kind}")

        with self._lock:
            for name, series in sorted(self._counters.items()):
                head(name)
                out += [f"{name}{_labels(k)} {v:g}" for k, v in sorted(series.items())]
            for name, hseries in sorted(self._histograms.items()):
                head(name)
                for key, values in sorted(hseries.items()):
                    for i, bound in enumerate(BUCKETS):
                        out.append(
                            f"{name}_bucket{_labels((*key, ('le', f'{bound:g}')))} {values[i]:g}"
                        )
                    out.append(f"{name}_bucket{_labels((*key, ('le', '+Inf')))} {values[-2]:g}")
                    out.append(f"{name}_count{_labels(key)} {values[-2]:g}")
                    out.append(f"{name}_sum{_labels(key)} {values[-1]:.6f}")
        for name, read in sorted(self._gauges.items()):
            head(name)
            out.append(f"{name} {read():g}")
        return "\n".join(out) + "\n"


__all__ = ["BUCKETS", "Metrics"]
