"""Legal time limits for sending and registering documents, SPEC §5.

Decision 28/2018/QĐ-TTg and Decree 30/2020/NĐ-CP: an outgoing document is issued and sent on
the day it is signed, at the latest the next working day; an incoming one is registered on
the day it is received, at the latest the next working day; urgent ones (khẩn, thượng khẩn,
hỏa tốc) immediately. What "immediately" and "end of the day" mean as instants is ours:
:class:`DeadlinePolicy` holds those choices, ``docs/calendar.md`` explains them.

Everything here is a pure function of (event time, priority, calendar, policy). Times must be
timezone-aware; days are Vietnam days (UTC+07:00, no daylight saving time).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from lienthong.domain.calendar import WorkingCalendar
from lienthong.domain.priority import Priority
from lienthong.domain.vntime import VIETNAM_TZ

_DAY = dt.timedelta(days=1)


class DeadlineKind(StrEnum):
    """Which legal time limit applies."""

    SENDING = "sending"  #: Phát hành, gửi văn bản đi (outgoing, from signing)
    REGISTRATION = "registration"  #: Tiếp nhận, đăng ký văn bản đến (incoming, from receipt)


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    """Our reading of "immediately" and "by the end of the day" (all values configurable).

    ``grace_working_days``: how many working days after the day of the event are allowed
    ("chậm nhất là trong ngày làm việc tiếp theo" = 1). ``end_of_day``: how long after local
    midnight a day's time runs out (24 h: the deadline instant is the midnight that starts the
    following day). ``urgent_within``: what "immediately" allows for urgent documents.
    ``resume_at``: when an event falls on a non-working day (or after ``end_of_day``), its clock
    starts at this local time on the next working day.
    """

    grace_working_days: int = 1
    end_of_day: dt.timedelta = _DAY
    urgent_within: dt.timedelta = dt.timedelta(hours=2)
    resume_at: dt.time = dt.time(8, 0)

    def __post_init__(self) -> None:
        if self.grace_working_days < 0:
            raise ValueError("grace_working_days must be 0 or more")
        if not dt.timedelta(0) < self.end_of_day <= _DAY:
            raise ValueError("end_of_day must be more than 0 and at most 24 hours")
        if self.urgent_within <= dt.timedelta(0):
            raise ValueError("urgent_within must be positive")
        if self.resume_at.tzinfo is not None:
            raise ValueError("resume_at is a Vietnam local time and must not carry a tzinfo")
        resume = dt.timedelta(hours=self.resume_at.hour, minutes=self.resume_at.minute)
        resume += dt.timedelta(seconds=self.resume_at.second)
        if resume >= self.end_of_day:
            raise ValueError("resume_at must come before end_of_day")


DEFAULT_DEADLINE_POLICY = DeadlinePolicy()


def _local(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name} must be timezone-aware (e.g. 2026-03-02T09:00:00+07:00), "
            f"got naive {value.isoformat()}"
        )
    return value.astimezone(VIETNAM_TZ)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=VIETNAM_TZ)


def clock_start(
    event_at: dt.datetime,
    calendar: WorkingCalendar,
    *,
    policy: DeadlinePolicy = DEFAULT_DEADLINE_POLICY,
) -> dt.datetime:
    """When the time limit starts to run for an event, in Vietnam time.

    The event itself if it happens on a working day before ``policy.end_of_day``; otherwise
    ``policy.resume_at`` on the next working day.
    """
    local = _local(event_at, "event_at")
    day = local.date()
    if calendar.is_working_day(day) and local - _midnight(day) < policy.end_of_day:
        return local
    resume_day = calendar.next_working_day(day)
    return dt.datetime.combine(resume_day, policy.resume_at, tzinfo=VIETNAM_TZ)


def deadline(
    kind: DeadlineKind,
    event_at: dt.datetime,
    priority: Priority,
    calendar: WorkingCalendar,
    *,
    policy: DeadlinePolicy = DEFAULT_DEADLINE_POLICY,
) -> dt.datetime:
    """The instant by which the action of ``kind`` must be done, in Vietnam time.

    Normal priority: the end (``policy.end_of_day``) of the ``grace_working_days``-th working
    day after the day the clock starts. Urgent: ``policy.urgent_within`` after the clock starts,
    and never later than the normal deadline. Both kinds follow the same rule today; ``kind``
    is there so that they can diverge by policy without changing callers.
    """
    del kind  # the same rule for both today (QĐ 28/2018, NĐ 30/2020)
    start = clock_start(event_at, calendar, policy=policy)
    last_day = calendar.add_working_days(start.date(), policy.grace_working_days)
    normal = _midnight(last_day) + policy.end_of_day
    if not priority.is_urgent:
        return normal
    return min(start + policy.urgent_within, normal)


def sending_deadline(
    signed_at: dt.datetime,
    priority: Priority,
    calendar: WorkingCalendar,
    *,
    policy: DeadlinePolicy = DEFAULT_DEADLINE_POLICY,
) -> dt.datetime:
    """By when an outgoing document signed at ``signed_at`` must be issued and sent."""
    return deadline(DeadlineKind.SENDING, signed_at, priority, calendar, policy=policy)


def registration_deadline(
    received_at: dt.datetime,
    priority: Priority,
    calendar: WorkingCalendar,
    *,
    policy: DeadlinePolicy = DEFAULT_DEADLINE_POLICY,
) -> dt.datetime:
    """By when an incoming document received at ``received_at`` must be registered."""
    return deadline(DeadlineKind.REGISTRATION, received_at, priority, calendar, policy=policy)


@dataclass(frozen=True, slots=True)
class Lateness:
    """Whether an action met its time limit, and by how much it missed it."""

    deadline: dt.datetime
    done_at: dt.datetime
    #: Zero when on time.
    late_by: dt.timedelta

    @property
    def on_time(self) -> bool:
        """True when done at or before the deadline instant."""
        return self.late_by == dt.timedelta(0)


def is_late(
    event_at: dt.datetime,
    done_at: dt.datetime,
    priority: Priority,
    calendar: WorkingCalendar,
    kind: DeadlineKind,
    *,
    policy: DeadlinePolicy = DEFAULT_DEADLINE_POLICY,
) -> Lateness:
    """Compare ``done_at`` with the deadline of the event; done exactly at it is on time.

    A ``done_at`` before ``event_at`` (clock skew between systems) counts as on time.
    """
    due = deadline(kind, event_at, priority, calendar, policy=policy)
    done = _local(done_at, "done_at")
    return Lateness(deadline=due, done_at=done, late_by=max(done - due, dt.timedelta(0)))
