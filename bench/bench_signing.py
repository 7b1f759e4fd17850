"""Benchmark: visible PDF signatures (Decree 30 appearance) against pyHanko's invisible one.

Run: ``.venv/bin/python bench/bench_signing.py`` (also part of ``make bench``).

Both sides sign the same generated document, with the same in-memory RSA-2048 key behind the
same :class:`~lienthong.signing.pdf.KeySigner`, at PAdES B-B (no network: the TSA round trip
is the same for both and is not what is measured). The key is loaded once, the images are
decoded once and the font subsets are cut once (``StampImage``, ``StampFont``): the goal is
≤ 25 ms per visible signature and ≤ 1.5x the invisible one.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from lienthong.authority.service import init_directory
from lienthong.signing.appearance import StampImage
from lienthong.signing.documents import generate_document, sample_spec
from lienthong.signing.identity import ca_directory_identity
from lienthong.signing.images import seal_png, signature_png
from lienthong.signing.pdf import (
    Level,
    Placement,
    issue,
    sign_attachment,
    sign_invisible,
    sign_signer,
)

RUNS = 60
WARM_UP = 5
PASSPHRASE = "bench"


def _measure(action: Callable[[], object]) -> tuple[float, float]:
    for _ in range(WARM_UP):
        action()
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9) - 1]


def main() -> None:
    """Print a Markdown table of the figures."""
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch) / "ca"
        init_directory(directory, passphrase=PASSPHRASE, now=datetime.now(UTC))
        person = ca_directory_identity(directory, "issued/nguyen-van-an", PASSPHRASE)
        organisation = ca_directory_identity(directory, "issued/so-tttt-nghe-an", PASSPHRASE)
    draft = generate_document(sample_spec(0, signer=person.common_name))
    signature = StampImage(signature_png(person.common_name))
    seal = StampImage(seal_png("Sở Thông tin và Truyền thông", bottom_text="Tỉnh Nghệ An"))
    now = datetime.now(UTC)
    signed = sign_signer(draft.pdf, person, signature, now=now, level=Level.B_B).pdf

    cases: list[tuple[str, Callable[[], object], bytes]] = [
        ("baseline: pyHanko invisible signature (same signer)",
         lambda: sign_invisible(draft.pdf, person, now=now), draft.pdf),
        ("signer: blue image above the name found on the page",
         lambda: sign_signer(draft.pdf, person, signature, now=now, level=Level.B_B), draft.pdf),
        ("signer: blue image in a given box (no text search)",
         lambda: sign_signer(draft.pdf, person, signature, now=now, level=Level.B_B,
                             placement=Placement(1, draft.signature_box)), draft.pdf),
        ("baseline: invisible signature on the signed document",
         lambda: sign_invisible(signed, organisation, now=now), signed),
        ("issue: number + date filled, seal, name and time",
         lambda: issue(signed, organisation, seal, number="125", now=now, level=Level.B_B),
         signed),
        ("attachment: text at the top right",
         lambda: sign_attachment(draft.pdf, organisation, main_number="125/STTTT-VP", now=now,
                                 level=Level.B_B), draft.pdf),
    ]  # fmt: skip
    figures = {name: _measure(action) for name, action, _ in cases}
    base_fresh = figures[cases[0][0]][0]
    base_signed = figures[cases[3][0]][0]
    print(f"\nSigning (PAdES B-B, RSA-2048, {len(draft.pdf) // 1024} kB document, "
          f"{RUNS} runs)\n")  # fmt: skip
    print("| signature | p50 ms | p90 ms | x invisible | goal |")
    print("|---|---:|---:|---:|---|")
    for name, _, source in cases:
        p50, p90 = figures[name]
        base = base_signed if source is signed else base_fresh
        ratio = p50 / base
        goal = ""
        if not name.startswith("baseline"):
            met = p50 <= 25 and ratio <= 1.5
            goal = "≤ 25 ms, ≤ 1.5x: " + ("met" if met else "not met")
        print(f"| {name} | {p50:.1f} | {p90:.1f} | {ratio:.2f} | {goal} |")


if __name__ == "__main__":
    main()
