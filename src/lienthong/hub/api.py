"""What the exchange hub (trục liên thông) offers, independent of any protocol.

:class:`HubService` is the contract between the hub's core (``lienthong.hub.service``: storage,
routing, delivery, statuses, deadlines) and its edges (``lienthong.hub.http`` for our ``/v1``
API, ``lienthong.hub.vdxp`` for the national SDK's protocol, the CLI). Every call names the
calling system (hệ thống kết nối) already authenticated by the edge; the core checks what
that system may do (it acts only for its own agencies). Errors are coded
:class:`~lienthong.domain.errors.LienthongError` (``hub.*`` codes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from lienthong.domain.errors import LienthongError


class DeliveryState(StrEnum):
    """Where one recipient's copy of a package stands (trạng thái chuyển phát)."""

    HELD = "held"  #: chờ kiểm tra chữ ký: its PDF signatures are being checked (hidden)
    QUEUED = "queued"  #: waiting for the recipient to fetch it
    FETCHED = "fetched"  #: fetched at least once, not acknowledged yet (redelivered)
    DONE = "done"  #: acknowledged as received
    FAILED = "failed"  #: acknowledged as not processable (the sender is told)
    REFUSED = "refused"  #: refused by the recipient's PDF policy (never delivered)


class PackageKind(StrEnum):
    """What a package carries."""

    DOCUMENT = "document"  #: văn bản (new, revoke, update, replace: see ``business``)
    STATUS = "status"  #: gói tin trạng thái


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated system and the agencies it acts for."""

    system_id: str
    agencies: frozenset[str]
    operator: bool = False  #: the hub's own operators (registry, reports)


@dataclass(frozen=True, slots=True)
class Receipt:
    """The hub's answer to a send: given only once the package is durably stored."""

    package_id: int
    document_id: str
    sha256: str
    received_at: datetime
    recipients: tuple[str, ...]  #: after successor routing
    duplicate: bool = False  #: a resend of a package already accepted (the original receipt)
    notices: tuple[str, ...] = ()  #: e.g. "H41.1 retired: routed to its successor H41.2"


@dataclass(frozen=True, slots=True)
class InboxItem:
    """A package waiting for (or already fetched by) one recipient agency."""

    package_id: int
    kind: PackageKind
    document_id: str
    sender: str
    recipient: str
    state: DeliveryState
    received_at: datetime
    size: int
    business: str | None = None  #: ``0`` new, ``1`` revoke, ``2`` update, ``3`` replace
    status_code: str | None = None  #: for a status package


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """One processing status reported back by a recipient (phản hồi trạng thái)."""

    code: str  #: 01..16 (lienthong.domain.status.StatusCode values)
    at: datetime
    reported_by: str
    package_id: int  #: the status package that carried it


@dataclass(frozen=True, slots=True)
class RecipientView:
    """What the sender sees of one recipient: delivery and status history."""

    recipient: str
    delivery: DeliveryState
    fetched_at: datetime | None
    acknowledged_at: datetime | None
    statuses: tuple[StatusEvent, ...] = ()
    current_status: str | None = None


@dataclass(frozen=True, slots=True)
class SentItem:
    """A package the caller's agency sent, with every recipient's progress."""

    package_id: int
    document_id: str
    sender: str
    received_at: datetime
    recipients: tuple[RecipientView, ...] = field(default=())
    late: bool = False  #: sent later than the legal limit after its promulgation date


@dataclass(frozen=True, slots=True)
class Event:
    """Something an agency should learn of at once (SSE / long-poll), in order."""

    seq: int
    agency: str
    kind: str  #: ``package`` (new in the inbox), ``status``, ``delivery``, ``notice``
    package_id: int | None
    at: datetime
    #: For ``notice``: what happened (e.g. a successor routing, ``not_registered:<code>``);
    #: for ``delivery``: the recipient that acknowledged.
    detail: str | None = None


class HubService(Protocol):
    """The hub's operations. Implementations are thread-safe."""

    def send(self, caller: Caller, edxml: bytes, *, now: datetime) -> Receipt:
        """Accept a document or status package (edXML bytes) after validating it."""
        ...

    def inbox(
        self,
        caller: Caller,
        agency: str,
        *,
        include_fetched: bool = True,
        limit: int = 100,
        after_id: int = 0,
    ) -> Sequence[InboxItem]:
        """Packages for ``agency`` not yet acknowledged, oldest first."""
        ...

    def fetch(self, caller: Caller, package_id: int, agency: str, *, now: datetime) -> bytes:
        """The package as stored (the hub's trace appended); marks it fetched."""
        ...

    def acknowledge(
        self,
        caller: Caller,
        package_id: int,
        agency: str,
        *,
        ok: bool,
        reason: str | None = None,
        now: datetime,
    ) -> InboxItem:
        """Close the delivery (done or failed); idempotent."""
        ...

    def sent(
        self, caller: Caller, agency: str, *, limit: int = 100, after_id: int = 0
    ) -> Sequence[SentItem]:
        """Packages ``agency`` sent, newest first, with per-recipient progress."""
        ...

    def events(
        self, caller: Caller, agency: str, *, after_seq: int = 0, limit: int = 100
    ) -> Sequence[Event]:
        """Events for ``agency`` after ``after_seq`` (resumable)."""
        ...


class HubError(LienthongError):
    """Refusal by the hub (``hub.*`` codes) / trục liên thông từ chối yêu cầu."""

    default_code = "hub.forbidden"

    def __init__(
        self,
        code: str | None = None,
        detail: str = "",
        *,
        path: str = "",
        findings: tuple[dict[str, str], ...] = (),
    ) -> None:
        super().__init__(code, detail, path=path)
        #: For ``hub.invalid_package``: the validation findings (code, severity, path, …).
        self.findings = findings


@dataclass(frozen=True, slots=True)
class SystemInfo:
    """A connected system as the edges need it: who it is and how it authenticates.

    ``secret`` is the VDXP HMAC key (kept in clear: the hub must recompute the HMAC);
    ``cert_sha256`` the lowercase hex SHA-256 of the DER organisation certificate that
    authenticates it on ``/v1``.
    """

    system_id: str
    name: str
    secret: str | None
    cert_sha256: str | None
    caller: Caller


@dataclass(frozen=True, slots=True)
class OverdueRegistration:
    """A recipient that has not registered (status 03) a package within the legal limit."""

    package_id: int
    document_id: str
    sender: str
    recipient: str
    arrived_at: datetime
    due: datetime
    current_status: str | None = None


__all__ = [
    "Caller",
    "DeliveryState",
    "Event",
    "HubError",
    "HubService",
    "InboxItem",
    "OverdueRegistration",
    "PackageKind",
    "Receipt",
    "RecipientView",
    "SentItem",
    "StatusEvent",
    "SystemInfo",
]
