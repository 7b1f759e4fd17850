"""The hub's maintenance loop (vòng bảo trì): the background PDF check and the reminders.

One :class:`Maintenance` runs in a background thread of each hub process (``hub serve``
starts it with the ASGI app's lifespan; ``--workers N`` runs N of them, which is safe because
the work is claimed in the database: ``Hub.check_pending_pdfs`` leases packages,
``Hub.remind`` claims deliveries ``FOR UPDATE SKIP LOCKED``). Every ``interval`` seconds —
or at once when a send held a package (``Hub.on_held``) — it checks pending PDFs until none is
left; every ``remind_every`` seconds it sends the reminders. A failure is logged and counted
(``lienthong_hub_maintenance_errors_total``) and the loop goes on; :meth:`Maintenance.stop`
ends it promptly.

The PDF verifier owns an event loop (``lienthong.signing.verify.Verifier``), so it is made by
``verifier_factory`` inside the maintenance thread and closed there when the loop ends.
:class:`CrlVerifier` is a ``Verifier`` that also uses CRLs handed to it (the CA directory's
own, when the hub runs next to its CA and nothing serves the certificates' OCSP/CRL URLs).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from lienthong.domain.errors import UsageError
from lienthong.hub.metrics import Metrics
from lienthong.hub.service import Hub, PackageVerifier, PdfCheck, PdfCheckRun
from lienthong.signing.report import FileReport
from lienthong.signing.verify import Verifier, VerifyOptions

if TYPE_CHECKING:
    from pyhanko_certvalidator import ValidationContext

_log = logging.getLogger(__name__)

#: Seconds between two looks for pending PDF checks when nobody woke the loop.
DEFAULT_INTERVAL = 0.5
#: Seconds between two reminder runs.
DEFAULT_REMIND_EVERY = 60.0
#: Packages claimed per step.
BATCH = 20


class ClosableVerifier(Protocol):
    """What the loop needs of a verifier: verify a package's bytes, and close."""

    def verify_bytes(self, data: bytes, name: str) -> FileReport:
        """Verify one package."""
        ...

    def close(self) -> None:
        """Release the event loop and the HTTP session."""
        ...


class CrlVerifier(Verifier):
    """A :class:`Verifier` that also gives the path validation the CRLs that ``crls()``
    returns (DER), re-read at most every ``refresh`` seconds — revocation without a network
    fetch, e.g. from the CA directory the hub runs next to."""

    def __init__(
        self, options: VerifyOptions, crls: Callable[[], Sequence[bytes]], *, refresh: float = 5.0
    ) -> None:
        super().__init__(options)
        self._source = crls
        self._refresh = refresh
        self._crls: list[object] = []
        self._read_at = float("-inf")

    def context(self, embedded: dict[str, list[object]], fetch: bool = True) -> ValidationContext:
        """The parent's context with our CRLs added to the document's own."""
        clock = time.monotonic()
        if clock - self._read_at > self._refresh:
            self._crls = list(self._source())
            self._read_at = clock
        merged = {**embedded, "crls": [*embedded.get("crls", []), *self._crls]}
        return super().context(merged, fetch)


class Maintenance:
    """The background loop of one hub process; :meth:`start` / :meth:`stop` (idempotent)."""

    def __init__(
        self,
        hub: Hub,
        *,
        verifier_factory: Callable[[], ClosableVerifier] | None = None,
        interval: float = DEFAULT_INTERVAL,
        remind_every: float = DEFAULT_REMIND_EVERY,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: Metrics | None = None,
        on_stop: Sequence[Callable[[], None]] = (),
    ) -> None:
        """``verifier_factory`` is needed when the hub checks PDFs in the background
        (``HubConfig.pdf_check``); ``remind_every <= 0`` turns the reminders off. ``on_stop``
        are called when the loop ends (e.g. to close an entry-mode verifier)."""
        self.hub = hub
        self.interval = interval
        self.remind_every = remind_every
        self.clock = clock
        self._factory = verifier_factory
        self._on_stop = tuple(on_stop)
        self._background = hub.config.pdf_mode is PdfCheck.BACKGROUND
        if self._background and verifier_factory is None and hub.config.pdf_verifier is None:
            raise UsageError("usage.bad_argument", "background PDF checks need a verifier")
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.metrics = metrics or Metrics()
        self._describe(self.metrics)
        #: Set once the thread has made its verifier and entered the loop (for tests).
        self.ready = threading.Event()
        hub.on_held(self.wake)

    # -- metrics ---------------------------------------------------------------------------
    def _describe(self, metrics: Metrics) -> None:
        metrics.describe(
            "lienthong_hub_pdf_checked_total", "counter", "Packages whose PDF signatures the "
            "background pipeline checked, by outcome (passed, failed, error)",
        )  # fmt: skip
        metrics.describe(
            "lienthong_hub_pdf_refused_total", "counter", "Deliveries refused by PDF policy"
        )
        metrics.describe(
            "lienthong_hub_pdf_released_total", "counter", "Held deliveries released (queued)"
        )
        metrics.describe("lienthong_hub_pdf_pending", "gauge", "Packages waiting for PDF checks")
        metrics.describe("lienthong_hub_reminders_total", "counter", "Late deliveries reminded")
        metrics.describe(
            "lienthong_hub_maintenance_errors_total", "counter", "Maintenance steps that failed"
        )
        if self._background:
            metrics.gauge("lienthong_hub_pdf_pending", self._pending)

    def _pending(self) -> float:
        try:
            return float(self.hub.pending_pdf_checks())
        except Exception:  # noqa: BLE001 - a scrape must not fail on a database outage
            _log.warning("could not count pending PDF checks", exc_info=True)
            return float("nan")

    def bind_metrics(self, metrics: Metrics) -> None:
        """Report into ``metrics`` (the app's registry) instead of our own."""
        self.metrics = metrics
        self._describe(metrics)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="hub-maintenance", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop and wait for it (a PDF check in progress finishes first)."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                _log.warning("the maintenance thread did not stop within %.0f s", timeout)

    def wake(self) -> None:
        """Look for pending work now (called after a send held a package)."""
        self._wake.set()

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    # -- the loop --------------------------------------------------------------------------
    def _run(self) -> None:
        verifier: ClosableVerifier | None = None
        try:
            if self._background and self._factory is not None:
                verifier = self._factory()
            check = None if verifier is None else _bytes_verifier(verifier)
            self.ready.set()
            next_reminder = time.monotonic()
            while not self._stop.is_set():
                self._wake.clear()
                if self._background:
                    self.verify_all(check)
                if self.remind_every > 0 and time.monotonic() >= next_reminder:
                    self.remind_once()
                    next_reminder = time.monotonic() + self.remind_every
                self._wake.wait(self.interval)
        except BaseException:
            _log.exception("the maintenance loop stopped")
            raise
        finally:
            self.ready.set()
            if verifier is not None:
                _close(verifier.close, "PDF verifier")
            for close in self._on_stop:
                _close(close, "maintenance resource")

    def verify_all(self, check: PackageVerifier | None = None) -> int:
        """Check pending PDFs until none is left (or the loop is stopping); how many."""
        total = 0
        while not self._stop.is_set():
            try:
                run = self.hub.check_pending_pdfs(self.clock(), limit=BATCH, verifier=check)
            except Exception:  # noqa: BLE001 - logged and counted; the loop goes on
                _log.exception("background PDF check failed")
                self.metrics.inc("lienthong_hub_maintenance_errors_total", task="pdf")
                return total
            self._count(run)
            total += run.verified
            if run.verified == 0:
                return total
        return total

    def remind_once(self) -> int:
        """One reminder run; how many deliveries were reminded of (0 on failure)."""
        try:
            count = self.hub.remind(self.clock())
        except Exception:  # noqa: BLE001 - logged and counted; the loop goes on
            _log.exception("reminders failed")
            self.metrics.inc("lienthong_hub_maintenance_errors_total", task="remind")
            return 0
        if count:
            self.metrics.inc("lienthong_hub_reminders_total", float(count))
        return count

    def _count(self, run: PdfCheckRun) -> None:
        failed = run.verified - run.passed - run.errors
        for outcome, amount in (("passed", run.passed), ("failed", failed), ("error", run.errors)):
            if amount:
                self.metrics.inc("lienthong_hub_pdf_checked_total", float(amount), outcome=outcome)
        if run.refused:
            self.metrics.inc("lienthong_hub_pdf_refused_total", float(run.refused))
        if run.delivered:
            self.metrics.inc("lienthong_hub_pdf_released_total", float(run.delivered))


def _bytes_verifier(verifier: ClosableVerifier) -> PackageVerifier:
    def check(data: bytes) -> FileReport:
        return verifier.verify_bytes(data, "package.edxml")

    return check


def _close(close: Callable[[], None], what: str) -> None:
    try:
        close()
    except Exception:  # noqa: BLE001 - closing at shutdown: log and go on
        _log.warning("could not close the %s", what, exc_info=True)


__all__ = ["DEFAULT_INTERVAL", "DEFAULT_REMIND_EVERY", "CrlVerifier", "Maintenance"]
