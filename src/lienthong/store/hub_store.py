"""The hub's repositories (kho dữ liệu của trục): systems, packages, deliveries, statuses, events.

Like :mod:`lienthong.store.repositories` they take a ``Connection``, never commit (the hub
writes a whole send — package, deliveries, events, audit entry — in one transaction through
the :class:`~lienthong.store.group_commit.GroupCommitter`), run refusable writes in a SAVEPOINT
and return frozen dataclasses of plain types. Same code on SQLite and PostgreSQL; the one
dialect-specific statement (``INSERT … ON CONFLICT DO NOTHING``) is in :func:`_insert_ignore`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, RowMapping

from lienthong.domain.errors import StoreError, UsageError
from lienthong.store.audit import lock_chain
from lienthong.store.deferred import deferring
from lienthong.store.engine import statement_scope
from lienthong.store.repositories import _integrity_code
from lienthong.store.schema import (
    DELIVERY_STATES,
    agencies,
    deliveries,
    hub_events,
    hub_system_agencies,
    hub_systems,
    packages,
    status_history,
)

#: Delivery states in which a package is still waiting for its recipient (redelivered).
OPEN_STATES: tuple[str, ...] = ("queued", "fetched")

#: Delivery states the recipient never sees (not in its inbox, not fetchable): ``held`` until
#: the PDF signatures are checked (chờ kiểm tra chữ ký), ``refused`` by its PDF policy.
HIDDEN_STATES: tuple[str, ...] = ("held", "refused")


@dataclass(frozen=True, slots=True)
class SystemRecord:
    """A connected system (hệ thống kết nối) and the agencies it acts for."""

    system_id: str
    name: str
    secret: str | None
    cert_sha256: str | None
    operator: bool
    agencies: frozenset[str]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class HubPackage:
    """A stored package with what the hub derived from it on entry."""

    id: int
    document_id: str
    sender_code: str
    kind: str
    sha256: str
    size: int
    stored_at: datetime
    business: str | None
    original_id: int | None
    status_code: str | None
    promulgation_date: date | None
    priority: int | None
    late: bool | None
    report: str | None
    pdf_state: str | None = None  #: ``pending``, ``checked`` or ``None`` (not in background)


@dataclass(frozen=True, slots=True)
class PdfClaim:
    """A package whose PDF check this process claimed until ``claimed_until`` (a lease)."""

    package_id: int
    sha256: str
    claimed_until: datetime


@dataclass(frozen=True, slots=True)
class InboxRow:
    """One line of an inbox listing: the delivery and what the listing shows of its package."""

    package_id: int
    recipient_code: str
    state: str
    kind: str
    document_id: str
    sender_code: str
    stored_at: datetime
    size: int
    business: str | None
    status_code: str | None


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One package to one recipient (chuyển phát)."""

    package_id: int
    recipient_code: str
    state: str
    attempts: int
    queued_at: datetime
    fetched_at: datetime | None
    acknowledged_at: datetime | None
    reason: str | None
    routed_from: str | None
    registration_due: datetime | None
    registered_at: datetime | None
    current_status: str | None
    reminded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StatusRow:
    """One reported status of one delivery."""

    id: int
    package_id: int
    recipient_code: str
    code: str
    at: datetime
    reported_by: str
    status_package_id: int
    findings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An event for one agency, numbered for resumption."""

    seq: int
    agency_code: str
    kind: str
    package_id: int | None
    at: datetime
    detail: str | None


class SystemRepository:
    """Connected systems: add, look up by id or by certificate fingerprint, list."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def add(
        self,
        *,
        system_id: str,
        name: str,
        agencies: Iterable[str],
        created_at: datetime,
        secret: str | None = None,
        cert_sha256: str | None = None,
        operator: bool = False,
    ) -> SystemRecord:
        """Insert a system and its agencies (``store.conflict`` if the id or fingerprint
        exists, ``store.bad_reference`` for an unknown agency)."""
        fingerprint = cert_sha256.lower() if cert_sha256 else None
        _write(
            self._conn,
            sa.insert(hub_systems).values(
                system_id=system_id,
                name=name,
                secret=secret,
                cert_sha256=fingerprint,
                operator=operator,
                created_at=created_at,
            ),
            what=f"system {system_id}",
        )
        self.set_agencies(system_id, agencies)
        found = self.get(system_id)
        assert found is not None
        return found

    def set_agencies(self, system_id: str, codes: Iterable[str]) -> None:
        """Make ``codes`` the agencies the system acts for."""
        self._conn.execute(
            sa.delete(hub_system_agencies).where(hub_system_agencies.c.system_id == system_id)
        )
        rows = [{"system_id": system_id, "agency_code": code} for code in sorted(set(codes))]
        if rows:
            _write(
                self._conn,
                sa.insert(hub_system_agencies).values(rows),
                what=f"{system_id} agencies",
            )

    def set_certificate(self, system_id: str, cert_sha256: str | None) -> None:
        """Bind (or unbind) the organisation certificate that authenticates the system."""
        _write(
            self._conn,
            sa.update(hub_systems)
            .where(hub_systems.c.system_id == system_id)
            .values(cert_sha256=cert_sha256.lower() if cert_sha256 else None),
            what=f"certificate of {system_id}",
        )

    def get(self, system_id: str) -> SystemRecord | None:
        """The system ``system_id``, or ``None``."""
        row = (
            self._conn.execute(sa.select(hub_systems).where(hub_systems.c.system_id == system_id))
            .mappings()
            .one_or_none()
        )
        return None if row is None else self._record(row)

    def by_certificate(self, cert_sha256: str) -> SystemRecord | None:
        """The system whose certificate has this SHA-256 fingerprint (hex), or ``None``."""
        row = (
            self._conn.execute(
                sa.select(hub_systems).where(hub_systems.c.cert_sha256 == cert_sha256.lower())
            )
            .mappings()
            .one_or_none()
        )
        return None if row is None else self._record(row)

    def all(self) -> list[SystemRecord]:
        """Every system, by id."""
        rows = self._conn.execute(sa.select(hub_systems).order_by(hub_systems.c.system_id))
        return [self._record(row) for row in rows.mappings()]

    def systems_of_agency(self, agency_code: str) -> list[str]:
        """The ids of the systems acting for ``agency_code``."""
        rows = self._conn.execute(
            sa.select(hub_system_agencies.c.system_id).where(
                hub_system_agencies.c.agency_code == agency_code
            )
        )
        return sorted(str(r) for r in rows.scalars())

    def _record(self, row: RowMapping) -> SystemRecord:
        codes = self._conn.execute(
            sa.select(hub_system_agencies.c.agency_code).where(
                hub_system_agencies.c.system_id == row["system_id"]
            )
        ).scalars()
        return SystemRecord(
            system_id=row["system_id"],
            name=row["name"],
            secret=row["secret"],
            cert_sha256=row["cert_sha256"],
            operator=bool(row["operator"]),
            agencies=frozenset(str(c) for c in codes),
            created_at=row["created_at"],
        )


class HubRepository:
    """Packages, deliveries, statuses and events of the hub."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    # -- packages ---------------------------------------------------------------------------
    def insert_package(self, values: Mapping[str, Any]) -> tuple[int, bool]:
        """Insert a package row; return ``(id, True)``, or ``(id of the original, False)`` when
        the same sender already sent a package with the same ``idem_key`` (or bytes)."""
        if not values.get("idem_key"):
            raise UsageError("usage.bad_argument", "a hub package needs an idem_key")
        inserted = _insert_ignore(self._conn, packages, values, returning=packages.c.id)
        if inserted is not None:
            return int(inserted), True
        existing = self._conn.execute(
            sa.select(packages.c.id).where(
                packages.c.sender_code == values["sender_code"],
                sa.or_(
                    packages.c.idem_key == values["idem_key"],
                    sa.and_(
                        packages.c.document_id == values["document_id"],
                        packages.c.sha256 == values["sha256"],
                    ),
                ),
            )
        ).scalar()
        if existing is None:  # pragma: no cover - the conflict named another key
            raise StoreError("store.conflict", f"package {values['document_id']}")
        return int(existing), False

    def package(self, package_id: int) -> HubPackage | None:
        """The package ``package_id``, or ``None``."""
        row = (
            self._conn.execute(sa.select(packages).where(packages.c.id == package_id))
            .mappings()
            .one_or_none()
        )
        return None if row is None else _package(row)

    def find_document(
        self, document_id: str, *, sender_code: str | None = None
    ) -> HubPackage | None:
        """The first document package (not a status) stored under ``document_id``."""
        query = sa.select(packages).where(
            packages.c.document_id == document_id, packages.c.kind == "document"
        )
        if sender_code is not None:
            query = query.where(packages.c.sender_code == sender_code)
        row = self._conn.execute(query.order_by(packages.c.id).limit(1)).mappings().one_or_none()
        return None if row is None else _package(row)

    def sent(self, sender_code: str, *, before_id: int | None, limit: int) -> list[HubPackage]:
        """Packages ``sender_code`` sent, newest first (``before_id`` pages backwards)."""
        query = sa.select(packages).where(packages.c.sender_code == sender_code)
        if before_id:
            query = query.where(packages.c.id < before_id)
        rows = self._conn.execute(query.order_by(packages.c.id.desc()).limit(limit)).mappings()
        return [_package(row) for row in rows]

    def links_to(self, original_id: int) -> list[HubPackage]:
        """Packages linked to ``original_id`` (revoke, update, replace, statuses), oldest first."""
        rows = self._conn.execute(
            sa.select(packages).where(packages.c.original_id == original_id).order_by(packages.c.id)
        ).mappings()
        return [_package(row) for row in rows]

    def count_packages(self) -> int:
        """How many packages are stored."""
        return int(
            self._conn.execute(sa.select(sa.func.count()).select_from(packages)).scalar_one()
        )

    # -- deliveries -------------------------------------------------------------------------
    def add_delivery(
        self,
        *,
        package_id: int,
        recipient_code: str,
        queued_at: datetime,
        routed_from: str | None = None,
        registration_due: datetime | None = None,
        state: str = "queued",
    ) -> None:
        """Queue the package for one recipient (nothing if already queued for it); ``held``
        keeps it from the recipient until its PDF signatures are checked. In a group that
        defers rows (``lienthong.store.deferred``) the row is written at the group's end."""
        values = {
            "package_id": package_id,
            "recipient_code": recipient_code,
            "state": state,
            "attempts": 0,
            "queued_at": queued_at,
            "routed_from": routed_from,
            "registration_due": registration_due,
        }
        pending = deferring(self._conn)
        if pending is not None:
            pending.insert(deliveries, values, ignore=True)
            return
        _insert_ignore(self._conn, deliveries, values, returning=deliveries.c.package_id)

    def delivery(self, package_id: int, recipient_code: str) -> DeliveryRecord | None:
        """One delivery, or ``None``."""
        row = (
            self._conn.execute(
                sa.select(deliveries).where(
                    deliveries.c.package_id == package_id,
                    deliveries.c.recipient_code == recipient_code,
                )
            )
            .mappings()
            .one_or_none()
        )
        return None if row is None else _delivery(row)

    def deliveries_of(self, package_ids: Sequence[int]) -> dict[int, list[DeliveryRecord]]:
        """The deliveries of each package, by recipient code."""
        found: dict[int, list[DeliveryRecord]] = {pid: [] for pid in package_ids}
        if not package_ids:
            return found
        rows = self._conn.execute(
            sa.select(deliveries)
            .where(deliveries.c.package_id.in_(list(package_ids)))
            .order_by(deliveries.c.package_id, deliveries.c.recipient_code)
        ).mappings()
        for row in rows:
            found[int(row["package_id"])].append(_delivery(row))
        return found

    def inbox(
        self, recipient_code: str, *, states: Sequence[str], after_id: int, limit: int
    ) -> list[InboxRow]:
        """Open deliveries of ``recipient_code`` in package order.

        One indexed range scan per state on ``ix_deliveries_inbox`` (recipient, state,
        package), merged here: the cost does not grow with the number of stored packages.
        Only the columns a listing shows are read (a full page of 100 spent most of its time
        turning a dozen date columns and the report of each row into records).
        """
        found: list[Any] = []
        for state in states:
            if state not in DELIVERY_STATES:
                raise UsageError("usage.bad_argument", f"delivery state {state!r}")
            params = {
                "recipient": recipient_code,
                "state": state,
                "after": after_id,
                "limit": limit,
            }
            found.extend(self._conn.execute(_INBOX, params).all())
        found.sort(key=lambda row: row.package_id)
        return [InboxRow(*row) for row in found[:limit]]

    def mark_fetched(self, package_id: int, recipient_code: str, now: datetime) -> None:
        """Count a fetch; an open delivery becomes ``fetched`` (a closed one stays closed)."""
        self._conn.execute(
            sa.update(deliveries)
            .where(
                deliveries.c.package_id == package_id,
                deliveries.c.recipient_code == recipient_code,
            )
            .values(
                attempts=deliveries.c.attempts + 1,
                fetched_at=sa.func.coalesce(deliveries.c.fetched_at, now),
                state=sa.case(
                    (deliveries.c.state.in_(OPEN_STATES), "fetched"), else_=deliveries.c.state
                ),
            )
        )

    def close_delivery(
        self, package_id: int, recipient_code: str, *, state: str, reason: str | None, now: datetime
    ) -> bool:
        """Close an open delivery as ``done`` or ``failed``; ``False`` if it was closed already."""
        result = self._conn.execute(
            sa.update(deliveries)
            .where(
                deliveries.c.package_id == package_id,
                deliveries.c.recipient_code == recipient_code,
                deliveries.c.state.in_(OPEN_STATES),
            )
            .values(
                state=state,
                reason=reason,
                acknowledged_at=now,
                fetched_at=sa.func.coalesce(deliveries.c.fetched_at, now),
            )
        )
        return result.rowcount > 0

    def set_status(
        self,
        package_id: int,
        recipient_code: str,
        *,
        current_status: str | None,
        registered_at: datetime | None,
    ) -> None:
        """Record the derived current status (and when 03 arrived) on the delivery."""
        values: dict[str, Any] = {"current_status": current_status}
        if registered_at is not None:
            values["registered_at"] = sa.func.coalesce(deliveries.c.registered_at, registered_at)
        self._conn.execute(
            sa.update(deliveries)
            .where(
                deliveries.c.package_id == package_id,
                deliveries.c.recipient_code == recipient_code,
            )
            .values(values)
        )

    def overdue_registrations(
        self, now: datetime, *, limit: int = 1000, agencies: Sequence[str] | None = None
    ) -> list[DeliveryRecord]:
        """Deliveries whose registration limit passed without a 03 (nor a refusal 02); with
        ``agencies``, only those where one of them is the recipient or the sender."""
        query = sa.select(deliveries)
        if agencies is not None:
            query = query.join(packages, packages.c.id == deliveries.c.package_id).where(
                sa.or_(
                    deliveries.c.recipient_code.in_(list(agencies)),
                    packages.c.sender_code.in_(list(agencies)),
                )
            )
        rows = self._conn.execute(
            query.where(
                deliveries.c.registration_due < now,
                deliveries.c.registered_at.is_(None),
                deliveries.c.state.not_in(HIDDEN_STATES),
                sa.or_(
                    deliveries.c.current_status.is_(None),
                    deliveries.c.current_status.not_in(("02",)),
                ),
            )
            .order_by(deliveries.c.registration_due)
            .limit(limit)
        ).mappings()
        return [_delivery(row) for row in rows]

    def stale_deliveries(self, before: datetime, *, limit: int = 1000) -> list[DeliveryRecord]:
        """Open deliveries queued before ``before`` (long undelivered)."""
        rows = self._conn.execute(
            sa.select(deliveries)
            .where(deliveries.c.state.in_(OPEN_STATES), deliveries.c.queued_at < before)
            .order_by(deliveries.c.queued_at)
            .limit(limit)
        ).mappings()
        return [_delivery(row) for row in rows]

    def claim_reminders(
        self, now: datetime, *, undelivered_before: datetime, limit: int
    ) -> list[DeliveryRecord]:
        """Claim late deliveries nobody was reminded of yet, and mark them reminded.

        Late: past the registration limit without 03 (nor 02), or still open since before
        ``undelivered_before``. ``FOR UPDATE SKIP LOCKED`` on PostgreSQL lets several hub
        processes run reminders at once, each claiming different rows (SQLite serialises the
        writers and ignores the clause: one code path).
        """
        late_registration = sa.and_(
            deliveries.c.registration_due < now,
            deliveries.c.registered_at.is_(None),
            deliveries.c.state.not_in(HIDDEN_STATES),
            sa.or_(
                deliveries.c.current_status.is_(None),
                deliveries.c.current_status.not_in(("02",)),
            ),
        )
        undelivered = sa.and_(
            deliveries.c.state.in_(OPEN_STATES), deliveries.c.queued_at < undelivered_before
        )
        rows = self._conn.execute(
            sa.select(deliveries)
            .where(deliveries.c.reminded_at.is_(None), sa.or_(late_registration, undelivered))
            .order_by(deliveries.c.package_id, deliveries.c.recipient_code)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).mappings()
        claimed = [_delivery(row) for row in rows]
        for record in claimed:
            self._conn.execute(
                sa.update(deliveries)
                .where(
                    deliveries.c.package_id == record.package_id,
                    deliveries.c.recipient_code == record.recipient_code,
                )
                .values(reminded_at=now)
            )
        return claimed

    # -- the background PDF check -------------------------------------------------------------
    def claim_pdf_checks(self, now: datetime, *, until: datetime, limit: int) -> list[PdfClaim]:
        """Claim pending PDF checks nobody holds (no claim, or one that expired before ``now``)
        until ``until``, oldest first.

        The claim is a lease: a process that dies holding it loses it at ``until``. ``FOR
        UPDATE SKIP LOCKED`` on PostgreSQL lets several hub processes claim at once, each
        different packages (SQLite serialises writers and ignores the clause). The scan uses
        the partial index ``ix_packages_pdf_pending``.

        A revoke, update or replace whose original is still pending waits for it, so that no
        recipient gets a change before the document it changes.
        """
        original = packages.alias("original")
        original_pending = (
            sa.exists()
            .where(original.c.id == packages.c.original_id, original.c.pdf_state == "pending")
        )  # fmt: skip
        rows = self._conn.execute(
            sa.select(packages.c.id, packages.c.sha256)
            .where(
                packages.c.pdf_state == "pending",
                sa.or_(
                    packages.c.pdf_claimed_until.is_(None),
                    packages.c.pdf_claimed_until <= now,
                ),
                ~original_pending,
            )
            .order_by(packages.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        claimed = [PdfClaim(int(row.id), str(row.sha256), until) for row in rows]
        if claimed:
            self._conn.execute(
                sa.update(packages)
                .where(packages.c.id.in_([c.package_id for c in claimed]))
                .values(pdf_claimed_until=until)
            )
        return claimed

    def finish_pdf_check(self, package_id: int, report: str) -> bool:
        """Record the checked report of a pending package; ``False`` if it was not pending
        any more (another process finished it first: the caller must then do nothing)."""
        result = self._conn.execute(
            sa.update(packages)
            .where(packages.c.id == package_id, packages.c.pdf_state == "pending")
            .values(pdf_state="checked", pdf_claimed_until=None, report=report)
        )
        return result.rowcount > 0

    def release_delivery(
        self,
        package_id: int,
        recipient_code: str,
        *,
        state: str,
        now: datetime,
        reason: str | None = None,
        registration_due: datetime | None = None,
    ) -> bool:
        """Move a ``held`` delivery to ``queued`` (it arrives now: ``queued_at`` and the
        registration limit restart) or ``refused`` (closed, with ``reason``); ``False`` if it
        was not held."""
        if state not in ("queued", "refused"):
            raise UsageError("usage.bad_argument", f"release to {state!r}")
        values: dict[str, Any] = {"state": state, "reason": reason}
        if state == "queued":
            values.update(queued_at=now, registration_due=registration_due)
        else:
            values.update(acknowledged_at=now, registration_due=None)
        result = self._conn.execute(
            sa.update(deliveries)
            .where(
                deliveries.c.package_id == package_id,
                deliveries.c.recipient_code == recipient_code,
                deliveries.c.state == "held",
            )
            .values(values)
        )
        return result.rowcount > 0

    def count_pending_pdf_checks(self) -> int:
        """How many packages wait for their PDF check (the pipeline's backlog)."""
        return int(
            self._conn.execute(
                sa.select(sa.func.count())
                .select_from(packages)
                .where(packages.c.pdf_state == "pending")
            ).scalar_one()
        )

    # -- statuses ---------------------------------------------------------------------------
    def add_status(
        self,
        *,
        package_id: int,
        recipient_code: str,
        code: str,
        at: datetime,
        reported_by: str,
        status_package_id: int,
        findings: Sequence[str] = (),
    ) -> None:
        """Append one status to a delivery's history."""
        self._conn.execute(
            _INSERT_STATUS,
            {
                "package_id": package_id,
                "recipient_code": recipient_code,
                "code": code,
                "at": at,
                "reported_by": reported_by,
                "status_package_id": status_package_id,
                "findings": ",".join(findings)[:255],
            },
        )

    def statuses(self, package_ids: Sequence[int]) -> list[StatusRow]:
        """The status history of these packages, in arrival order."""
        if not package_ids:
            return []
        rows = self._conn.execute(
            sa.select(status_history)
            .where(status_history.c.package_id.in_(list(package_ids)))
            .order_by(status_history.c.id)
        ).mappings()
        return [
            StatusRow(
                id=int(row["id"]),
                package_id=int(row["package_id"]),
                recipient_code=row["recipient_code"],
                code=row["code"],
                at=row["at"],
                reported_by=row["reported_by"],
                status_package_id=int(row["status_package_id"]),
                findings=tuple(f for f in row["findings"].split(",") if f),
            )
            for row in rows
        ]

    # -- events -----------------------------------------------------------------------------
    def add_event(
        self,
        agency_code: str,
        kind: str,
        package_id: int | None,
        at: datetime,
        detail: str | None = None,
    ) -> int:
        """Append an event for ``agency_code`` and return its number.

        Event numbers become visible in order (thứ tự sự kiện): on PostgreSQL the number is
        taken under :func:`lock_event_order`, held until the transaction ends, so a
        transaction cannot be handed seq 12 while the one holding seq 11 has not committed
        (a reader resuming "after 12" would miss 11). SQLite serialises writers anyway.
        """
        lock_event_order(self._conn)
        values = _event_values(agency_code, kind, package_id, at, detail)
        return int(self._conn.execute(_INSERT_EVENT, values).scalar_one())

    def defer_event(
        self,
        agency_code: str,
        kind: str,
        package_id: int | None,
        at: datetime,
        detail: str | None = None,
        *,
        then: Callable[[int], None],
    ) -> None:
        """:meth:`add_event`, written at the group's end when the group defers rows
        (``lienthong.store.deferred``): ``then(seq)`` is called once the event has its number
        (at once when written now), always before the commit."""
        pending = deferring(self._conn)
        if pending is None:
            then(self.add_event(agency_code, kind, package_id, at, detail))
            return
        lock_event_order(self._conn)  # numbered at the flush, under the same lock
        pending.insert_returning(
            hub_events,
            _event_values(agency_code, kind, package_id, at, detail),
            hub_events.c.seq,
            lambda seq: then(int(seq)),
        )

    def events(self, agency_code: str, *, after_seq: int, limit: int) -> list[EventRecord]:
        """Events for ``agency_code`` after ``after_seq``, in order."""
        rows = self._conn.execute(
            sa.select(hub_events)
            .where(hub_events.c.agency_code == agency_code, hub_events.c.seq > after_seq)
            .order_by(hub_events.c.seq)
            .limit(limit)
        ).mappings()
        return [
            EventRecord(
                seq=int(row["seq"]),
                agency_code=row["agency_code"],
                kind=row["kind"],
                package_id=None if row["package_id"] is None else int(row["package_id"]),
                at=row["at"],
                detail=row["detail"],
            )
            for row in rows
        ]

    def last_event_seq(self) -> int:
        """The newest event number (0 if none)."""
        return int(self._conn.execute(sa.select(sa.func.max(hub_events.c.seq))).scalar() or 0)


def _event_values(
    agency_code: str, kind: str, package_id: int | None, at: datetime, detail: str | None
) -> dict[str, Any]:
    return {
        "agency_code": agency_code,
        "kind": kind,
        "package_id": package_id,
        "at": at,
        "detail": detail,
    }


def lock_event_order(connection: Connection) -> None:
    """Serialise event numbering across hub processes until ``connection``'s transaction ends.

    On PostgreSQL this is the audit chain's advisory lock (``audit.lock_chain``): one
    lock, so the two can never be taken in opposite orders (no deadlock), and every hub write
    that numbers events already appends to the audit chain, so writers were serialised by it
    anyway. Taken once per transaction: a later call in the same transaction does nothing —
    unless the first was inside a SAVEPOINT, whose rollback would release it. The hub takes
    it at the start of each group commit, before any row lock (so that it never waits for
    the lock while holding rows another holder of the lock wants). A no-op on SQLite.
    """
    if connection.dialect.name != "postgresql":
        return
    lock_chain(connection)


def agency_contacts(connection: Connection, code: str) -> Mapping[str, Any] | None:
    """An agency's row with the hub's contact columns, or ``None``."""
    row = (
        connection.execute(sa.select(agencies).where(agencies.c.code == code))
        .mappings()
        .one_or_none()
    )
    return None if row is None else dict(row)


def set_agency_contacts(
    connection: Connection, code: str, *, telephone: str | None, address: str | None
) -> None:
    """Set an agency's telephone and address."""
    connection.execute(
        sa.update(agencies)
        .where(agencies.c.code == code)
        .values(telephone=telephone, address=address)
    )


# --------------------------------------------------------------------------- helpers


def _package_columns() -> list[sa.ColumnElement[Any]]:
    return [column.label(f"p_{column.name}") for column in packages.columns]


def _package(row: RowMapping, *, prefix: str = "") -> HubPackage:
    def get(name: str) -> Any:
        return row[prefix + name]

    return HubPackage(
        id=int(get("id")),
        document_id=get("document_id"),
        sender_code=get("sender_code"),
        kind=get("kind"),
        sha256=get("sha256"),
        size=int(get("size")),
        stored_at=get("stored_at"),
        business=get("business"),
        original_id=None if get("original_id") is None else int(get("original_id")),
        status_code=get("status_code"),
        promulgation_date=get("promulgation_date"),
        priority=get("priority"),
        late=None if get("late") is None else bool(get("late")),
        report=get("report"),
        pdf_state=get("pdf_state"),
    )


def _delivery(row: RowMapping) -> DeliveryRecord:
    return DeliveryRecord(
        package_id=int(row["package_id"]),
        recipient_code=row["recipient_code"],
        state=row["state"],
        attempts=int(row["attempts"]),
        queued_at=row["queued_at"],
        fetched_at=row["fetched_at"],
        acknowledged_at=row["acknowledged_at"],
        reason=row["reason"],
        routed_from=row["routed_from"],
        registration_due=row["registration_due"],
        registered_at=row["registered_at"],
        current_status=row["current_status"],
        reminded_at=row["reminded_at"],
    )


def _write(connection: Connection, statement: sa.Executable, *, what: str) -> None:
    try:
        with statement_scope(connection):
            connection.execute(statement)
    except sa.exc.IntegrityError as exc:
        code = _integrity_code(exc)
        if code is None:
            raise
        raise StoreError(code, what) from exc


def _insert_ignore(
    connection: Connection,
    table: sa.Table,
    values: Mapping[str, Any],
    *,
    returning: sa.Column[Any],
) -> Any | None:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING …``: ``None`` if any unique key existed.

    PostgreSQL makes a concurrent insert of the same key wait for the other transaction and
    then do nothing, so two hub processes accepting the same resend store it once. The
    statement is built once per dialect and table and executed with the values as parameters
    (building it per call cost more than running it).
    """
    dialect = connection.dialect.name
    key = (dialect, table.name, returning.name)
    statement = _PREPARED.get(key)
    if statement is None:
        insert: postgresql.Insert | sqlite.Insert
        if dialect == "postgresql":
            insert = postgresql.insert(table)
        elif dialect == "sqlite":
            insert = sqlite.insert(table)
        else:  # pragma: no cover - create_engine accepts only these two
            msg = f"unsupported dialect {dialect}"
            raise NotImplementedError(msg)
        statement = insert.on_conflict_do_nothing().returning(returning)
        _PREPARED[key] = statement
    return connection.execute(statement, dict(values)).scalar_one_or_none()


_PREPARED: dict[tuple[str, str, str], Any] = {}
_INSERT_EVENT = sa.insert(hub_events).returning(hub_events.c.seq)
_INBOX_IDS = (
    sa.select(deliveries.c.package_id)
    .where(
        deliveries.c.recipient_code == sa.bindparam("recipient"),
        deliveries.c.state == sa.bindparam("state"),
        deliveries.c.package_id > sa.bindparam("after"),
    )
    .order_by(deliveries.c.package_id)
    .limit(sa.bindparam("limit"))
    .subquery()
)
#: Columns in :class:`InboxRow`'s order.
_INBOX = (
    sa.select(
        deliveries.c.package_id, deliveries.c.recipient_code, deliveries.c.state,
        packages.c.kind, packages.c.document_id, packages.c.sender_code, packages.c.stored_at,
        packages.c.size, packages.c.business, packages.c.status_code,
    )
    .join(_INBOX_IDS, _INBOX_IDS.c.package_id == deliveries.c.package_id)
    .join(packages, packages.c.id == deliveries.c.package_id)
    .where(deliveries.c.recipient_code == sa.bindparam("recipient"))
    .order_by(deliveries.c.package_id)
)  # fmt: skip
_INSERT_STATUS = sa.insert(status_history)
