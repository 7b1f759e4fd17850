"""Legal time limits: weekends, Tết, swaps, urgency, day boundaries, lateness."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lienthong.domain.calendar import CalendarConfig, WorkingCalendar
from lienthong.domain.deadlines import (
    DEFAULT_DEADLINE_POLICY,
    VIETNAM_TZ,
    DeadlineKind,
    DeadlinePolicy,
    Lateness,
    clock_start,
    deadline,
    is_late,
    registration_deadline,
    sending_deadline,
)
from lienthong.domain.priority import Priority

pytestmark = pytest.mark.unit

CAL = WorkingCalendar()
N, U = Priority.NORMAL, Priority.URGENT


def vn(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VIETNAM_TZ)


# --------------------------------------------------------------------------- priority


def test_priority() -> None:
    assert [p.value for p in Priority] == [0, 1, 2, 3]
    assert [p.vietnamese_name for p in Priority] == ["Thường", "Khẩn", "Thượng khẩn", "Hỏa tốc"]
    assert [p.is_urgent for p in Priority] == [False, True, True, True]
    assert Priority.parse(" 3 ") is Priority.FLASH
    assert Priority.parse("0") is Priority.NORMAL
    assert Priority.FLASH.english_name == "flash"


@pytest.mark.parametrize("text", ["", "4", "-1", "01", "1.0", "khẩn", "٣"])
def test_priority_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="priority"):
        Priority.parse(text)


# --------------------------------------------------------------------------- normal priority


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        # Monday morning: that day, at the latest Tuesday → the midnight starting Wednesday.
        (vn(2026, 3, 2, 10), vn(2026, 3, 4)),
        # Friday: at the latest Monday.
        (vn(2026, 3, 6, 16), vn(2026, 3, 10)),
        # Saturday: the clock starts Monday, so at the latest Tuesday.
        (vn(2026, 3, 7, 10), vn(2026, 3, 11)),
        (vn(2026, 3, 8, 23, 59), vn(2026, 3, 11)),
        # Thursday before Tết 2026: Friday 13 Feb is the next working day.
        (vn(2026, 2, 12, 9), vn(2026, 2, 14)),
        # Friday before Tết: nothing until Monday 23 Feb.
        (vn(2026, 2, 13, 9), vn(2026, 2, 24)),
        # During Tết: the clock starts on 23 Feb, so at the latest 24 Feb.
        (vn(2026, 2, 17, 9), vn(2026, 2, 25)),
        # New Year 2026 with the decreed swap: 1 Jan holiday, 2 Jan off, then the weekend.
        (vn(2025, 12, 31, 15), vn(2026, 1, 6)),
        # ... and the make-up Saturday 10 Jan counts as the next working day.
        (vn(2026, 1, 9, 15), vn(2026, 1, 11)),
    ],
)
def test_normal_deadlines(event: datetime, expected: datetime) -> None:
    assert sending_deadline(event, N, CAL) == expected
    assert registration_deadline(event, N, CAL) == expected


def test_configured_swap_moves_the_deadline() -> None:
    friday, saturday, monday = date(2030, 3, 1), date(2030, 3, 2), date(2030, 3, 4)
    swapped = WorkingCalendar(
        CalendarConfig(
            extra_days_off=frozenset({monday}), make_up_working_days=frozenset({saturday})
        )
    )
    event = vn(2030, 3, 1, 10)
    assert event.date() == friday
    assert registration_deadline(event, N, WorkingCalendar()) == vn(2030, 3, 5)  # end of Monday
    assert registration_deadline(event, N, swapped) == vn(2030, 3, 3)  # end of the Saturday


# --------------------------------------------------------------------------- day boundaries


def test_local_day_decides_not_the_utc_day() -> None:
    # 23:59 Friday in Vietnam is 16:59 UTC the same Friday.
    friday_late = datetime(2026, 3, 6, 16, 59, tzinfo=UTC)
    assert sending_deadline(friday_late, N, CAL) == vn(2026, 3, 10)
    # 00:00 Saturday in Vietnam is still Friday 17:00 in UTC: a non-working day locally.
    saturday_midnight = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)
    assert saturday_midnight.astimezone(VIETNAM_TZ) == vn(2026, 3, 7)
    assert sending_deadline(saturday_midnight, N, CAL) == vn(2026, 3, 11)
    # Sunday 20:00 UTC is Monday 03:00 in Vietnam: a working day.
    monday_early = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    assert sending_deadline(monday_early, N, CAL) == vn(2026, 3, 4)
    # Monday 00:00 local counts as Monday.
    assert sending_deadline(vn(2026, 3, 2), N, CAL) == vn(2026, 3, 4)


def test_deadlines_are_in_vietnam_time() -> None:
    due = sending_deadline(datetime(2026, 3, 2, 3, 0, tzinfo=timezone(timedelta(hours=-5))), U, CAL)
    assert due.utcoffset() == timedelta(hours=7)
    assert due == vn(2026, 3, 2, 17)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="event_at must be timezone-aware"):
        sending_deadline(datetime(2026, 3, 2, 10, 0), N, CAL)
    with pytest.raises(ValueError, match="done_at must be timezone-aware"):
        is_late(vn(2026, 3, 2, 10), datetime(2026, 3, 2, 11), N, CAL, DeadlineKind.SENDING)


# --------------------------------------------------------------------------- urgent priorities


@pytest.mark.parametrize("priority", [Priority.URGENT, Priority.VERY_URGENT, Priority.FLASH])
def test_urgent_is_two_hours_by_default(priority: Priority) -> None:
    assert sending_deadline(vn(2026, 3, 2, 10), priority, CAL) == vn(2026, 3, 2, 12)


def test_urgent_late_in_the_evening_runs_into_the_night() -> None:
    assert registration_deadline(vn(2026, 3, 6, 23, 30), U, CAL) == vn(2026, 3, 7, 1, 30)


def test_urgent_on_a_day_off_starts_at_the_next_working_morning() -> None:
    assert registration_deadline(vn(2026, 3, 7, 10), U, CAL) == vn(2026, 3, 9, 10)
    assert registration_deadline(vn(2026, 2, 15, 10), U, CAL) == vn(2026, 2, 23, 10)  # Tết
    assert clock_start(vn(2026, 3, 7, 10), CAL) == vn(2026, 3, 9, 8)
    assert clock_start(vn(2026, 3, 2, 10), CAL) == vn(2026, 3, 2, 10)


# --------------------------------------------------------------------------- policy


def test_office_hours_policy() -> None:
    policy = DeadlinePolicy(end_of_day=timedelta(hours=17), resume_at=time(7, 30))
    assert sending_deadline(vn(2026, 3, 2, 10), N, CAL, policy=policy) == vn(2026, 3, 3, 17)
    # After 17:00 the document counts as received the next working morning.
    assert clock_start(vn(2026, 3, 2, 18), CAL, policy=policy) == vn(2026, 3, 3, 7, 30)
    assert sending_deadline(vn(2026, 3, 2, 18), N, CAL, policy=policy) == vn(2026, 3, 4, 17)
    assert sending_deadline(vn(2026, 3, 2, 18), U, CAL, policy=policy) == vn(2026, 3, 3, 9, 30)


def test_same_day_policy_and_a_long_urgent_window_is_capped() -> None:
    same_day = DeadlinePolicy(grace_working_days=0)
    assert sending_deadline(vn(2026, 3, 2, 10), N, CAL, policy=same_day) == vn(2026, 3, 3)
    lax = DeadlinePolicy(urgent_within=timedelta(days=5))
    assert sending_deadline(vn(2026, 3, 2, 10), U, CAL, policy=lax) == vn(2026, 3, 4)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"grace_working_days": -1},
        {"end_of_day": timedelta(0)},
        {"end_of_day": timedelta(hours=25)},
        {"urgent_within": timedelta(0)},
        {"resume_at": time(8, 0, tzinfo=VIETNAM_TZ)},
        {"end_of_day": timedelta(hours=8), "resume_at": time(8, 0)},
    ],
)
def test_bad_policies(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        DeadlinePolicy(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- lateness


def test_is_late() -> None:
    signed = vn(2026, 3, 2, 10)
    kind = DeadlineKind.SENDING
    on_time = is_late(signed, vn(2026, 3, 3, 23, 59), N, CAL, kind)
    assert on_time == Lateness(vn(2026, 3, 4), vn(2026, 3, 3, 23, 59), timedelta(0))
    assert on_time.on_time
    assert is_late(signed, vn(2026, 3, 4), N, CAL, kind).on_time  # exactly at the deadline
    late = is_late(signed, datetime(2026, 3, 4, 2, 30, tzinfo=UTC), N, CAL, kind)
    assert not late.on_time
    assert late.late_by == timedelta(hours=9, minutes=30)
    assert late.done_at == vn(2026, 3, 4, 9, 30)
    urgent = is_late(signed, vn(2026, 3, 2, 12, 1), Priority.FLASH, CAL, kind)
    assert urgent.late_by == timedelta(minutes=1)
    assert is_late(signed, vn(2026, 3, 1), N, CAL, kind).on_time  # clock skew: not late


# --------------------------------------------------------------------------- properties

zones = st.sampled_from(
    [VIETNAM_TZ, UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9, minutes=30))]
)
events = st.datetimes(
    min_value=datetime(2015, 1, 1), max_value=datetime(2030, 12, 31), timezones=zones
)
priorities = st.sampled_from(list(Priority))
kinds = st.sampled_from(list(DeadlineKind))


@given(events, priorities, kinds)
def test_deadline_is_never_before_the_event(
    event: datetime, priority: Priority, kind: DeadlineKind
) -> None:
    assert deadline(kind, event, priority, CAL) >= event


@given(events, priorities)
def test_urgent_is_never_later_than_normal(event: datetime, priority: Priority) -> None:
    assert sending_deadline(event, priority, CAL) <= sending_deadline(event, N, CAL)
    assert registration_deadline(event, priority, CAL) <= registration_deadline(event, N, CAL)


@given(events)
def test_normal_deadline_ends_a_working_day(event: datetime) -> None:
    due = sending_deadline(event, N, CAL)
    assert due.utcoffset() == timedelta(hours=7)
    assert due.timetz() == time(0, tzinfo=VIETNAM_TZ)
    last_day = due.date() - timedelta(days=1)
    assert CAL.is_working_day(last_day)
    # exactly one working day after the (rolled) day of the event
    start = clock_start(event, CAL).date()
    assert CAL.working_days_between(start, last_day) == DEFAULT_DEADLINE_POLICY.grace_working_days


@given(events, priorities, st.integers(min_value=-3000, max_value=3000))
def test_lateness_is_measured_from_the_deadline(
    event: datetime, priority: Priority, seconds: int
) -> None:
    due = registration_deadline(event, priority, CAL)
    result = is_late(
        event, due + timedelta(seconds=seconds), priority, CAL, DeadlineKind.REGISTRATION
    )
    assert result.deadline == due
    assert result.on_time is (seconds <= 0)
    assert result.late_by == timedelta(seconds=max(seconds, 0))


@st.composite
def policies(draw: st.DrawFn) -> DeadlinePolicy:
    end_minutes = draw(st.integers(min_value=9 * 60, max_value=24 * 60))
    resume_minutes = draw(st.integers(min_value=0, max_value=end_minutes - 1))
    return DeadlinePolicy(
        grace_working_days=draw(st.integers(min_value=0, max_value=3)),
        end_of_day=timedelta(minutes=end_minutes),
        urgent_within=timedelta(minutes=draw(st.integers(min_value=1, max_value=5 * 24 * 60))),
        resume_at=time(resume_minutes // 60, resume_minutes % 60),
    )


@given(events, priorities, policies())
def test_any_policy_keeps_the_invariants(
    event: datetime, priority: Priority, policy: DeadlinePolicy
) -> None:
    due = sending_deadline(event, priority, CAL, policy=policy)
    normal = sending_deadline(event, N, CAL, policy=policy)
    assert event <= clock_start(event, CAL, policy=policy) <= due <= normal
    last_day_starts = normal - policy.end_of_day  # the deadline ends a working day
    assert last_day_starts.time() == time(0)
    assert CAL.is_working_day(last_day_starts.date())
