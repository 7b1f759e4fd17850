"""Run every benchmark and print its figures (``make bench``).

Each benchmark measures against a baseline taken in the same run, on the same machine, so
the ratio means something even when the absolute figures move between machines.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_edxml
import bench_hub
import bench_hub_writer
import bench_pki
import bench_signing
import bench_verify


def main() -> None:
    """Run the benchmarks in turn."""
    bench_edxml.main()
    bench_pki.main()
    bench_signing.main()
    bench_verify.main()
    bench_hub.main()
    bench_hub_writer.main()


if __name__ == "__main__":
    main()
