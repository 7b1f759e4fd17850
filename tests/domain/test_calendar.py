"""The working-day calendar: national holidays, decreed swaps, counting, configuration."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import holidays
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lienthong.domain import calendar as calendar_module
from lienthong.domain.calendar import (
    DEFAULT_CALENDAR_CONFIG,
    EXTRA_DAY_OFF_NAME,
    CalendarConfig,
    WorkingCalendar,
    parse_calendar_config,
)
from lienthong.domain.errors import CalendarError

pytestmark = pytest.mark.unit

CAL = WorkingCalendar()
PLAIN = WorkingCalendar(CalendarConfig())  # the holidays package alone


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


# --------------------------------------------------------------------------- what is a day off


def test_ordinary_week() -> None:
    week = days(date(2026, 3, 2), date(2026, 3, 8))  # Monday to Sunday
    assert [CAL.is_working_day(d) for d in week] == [True] * 5 + [False] * 2
    assert CAL.holiday_name(date(2026, 3, 7)) is None  # a Saturday is not a holiday


def test_tet_2026_nine_days_off() -> None:
    """Tết Bính Ngọ: 14-22 Feb 2026, five days off plus two weekends (9859/VPCP-KGVX)."""
    assert not any(CAL.is_working_day(d) for d in days(date(2026, 2, 14), date(2026, 2, 22)))
    assert CAL.is_working_day(date(2026, 2, 13))
    assert CAL.is_working_day(date(2026, 2, 23))
    name = CAL.holiday_name(date(2026, 2, 17))
    assert name is not None
    assert "Tết" in name


def test_tet_2025_nine_days_off() -> None:
    """Tết Ất Tỵ: 25 Jan - 2 Feb 2025, no make-up day."""
    assert not any(CAL.is_working_day(d) for d in days(date(2025, 1, 25), date(2025, 2, 2)))
    assert CAL.is_working_day(date(2025, 1, 24))
    assert CAL.is_working_day(date(2025, 2, 3))


def test_national_day() -> None:
    # 2025: 2 September and the day before (Labour Code 2019 Art. 112).
    assert not CAL.is_working_day(date(2025, 9, 1))
    assert not CAL.is_working_day(date(2025, 9, 2))
    assert CAL.is_working_day(date(2025, 9, 3))
    # 2026: 29 Aug - 2 Sep, Monday 31 Aug swapped with Saturday 22 Aug.
    assert not any(CAL.is_working_day(d) for d in days(date(2026, 8, 29), date(2026, 9, 2)))
    assert CAL.is_working_day(date(2026, 8, 22))
    assert CAL.is_working_day(date(2026, 9, 3))


def test_decreed_swaps_in_the_default_table() -> None:
    # New Year 2026 (12729/VPCP-KGVX): Friday 2 Jan off, Saturday 10 Jan worked.
    assert not CAL.is_working_day(date(2026, 1, 2))
    assert CAL.is_working_day(date(2026, 1, 10))
    assert CAL.holiday_name(date(2026, 1, 2)) == ("Ngày nghỉ hoán đổi (làm bù thứ Bảy 10/01/2026)")
    assert CAL.holiday_name(date(2026, 1, 10)) is None
    # 30/4-1/5 2025 (6150/TB-BLĐTBXH): Friday 2 May off, Saturday 26 April worked.
    assert not CAL.is_working_day(date(2025, 5, 2))
    assert CAL.is_working_day(date(2025, 4, 26))


def test_default_table_swaps_weekdays_for_weekend_days() -> None:
    config = DEFAULT_CALENDAR_CONFIG
    assert config.extra_days_off
    assert all(d.weekday() < 5 for d in config.extra_days_off)
    assert all(d.weekday() >= 5 for d in config.make_up_working_days)
    assert len(config.extra_days_off) == len(config.make_up_working_days)
    assert set(config.labels) == config.extra_days_off | config.make_up_working_days


def test_configured_swap_overrides_the_national_calendar() -> None:
    config = CalendarConfig(
        extra_days_off=frozenset({date(2030, 3, 4)}),
        make_up_working_days=frozenset({date(2030, 3, 9), date(2030, 9, 2)}),
    )
    calendar = WorkingCalendar(config)
    assert PLAIN.is_working_day(date(2030, 3, 4))
    assert not calendar.is_working_day(date(2030, 3, 4))
    assert calendar.holiday_name(date(2030, 3, 4)) == EXTRA_DAY_OFF_NAME
    assert calendar.is_working_day(date(2030, 3, 9))  # a Saturday worked
    assert not PLAIN.is_working_day(date(2030, 9, 2))
    assert calendar.is_working_day(date(2030, 9, 2))  # a make-up day cancels even a holiday
    assert calendar.holiday_name(date(2030, 9, 2)) is None


def test_other_weekends() -> None:
    sunday_only = WorkingCalendar(CalendarConfig(weekend_days=frozenset({6})))
    assert sunday_only.is_working_day(date(2026, 3, 7))
    assert not sunday_only.is_working_day(date(2026, 3, 8))


def test_datetimes_are_refused() -> None:
    with pytest.raises(TypeError, match="local date"):
        CAL.is_working_day(datetime(2026, 3, 2, 9, 0))


def test_holiday_lookups_are_cached_per_year(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    real = holidays.country_holidays

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("years"))
        return real(*args, **kwargs)

    monkeypatch.setattr(calendar_module.holidays, "country_holidays", counting)
    calendar = WorkingCalendar()
    for day in days(date(2026, 1, 1), date(2026, 12, 31)):
        calendar.is_working_day(day)
        calendar.holiday_name(day)
    assert calls == [2026]


# --------------------------------------------------------------------------- stepping and counting


def test_next_and_previous_working_day() -> None:
    assert CAL.next_working_day(date(2026, 2, 13)) == date(2026, 2, 23)  # over Tết
    assert CAL.previous_working_day(date(2026, 2, 23)) == date(2026, 2, 13)
    assert CAL.next_working_day(date(2026, 3, 2)) == date(2026, 3, 3)
    assert CAL.working_day_on_or_after(date(2026, 3, 7)) == date(2026, 3, 9)
    assert CAL.working_day_on_or_after(date(2026, 3, 6)) == date(2026, 3, 6)
    assert CAL.working_day_on_or_before(date(2026, 3, 8)) == date(2026, 3, 6)


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2026, 3, 2), 0, date(2026, 3, 2)),  # Monday stays
        (date(2026, 3, 6), 1, date(2026, 3, 9)),  # Friday + 1 = Monday
        (date(2026, 3, 7), 0, date(2026, 3, 9)),  # Saturday rolls to Monday
        (date(2026, 3, 7), 1, date(2026, 3, 10)),  # ... then one more
        (date(2026, 3, 2), 5, date(2026, 3, 9)),
        (date(2026, 3, 9), -1, date(2026, 3, 6)),
        (date(2026, 3, 8), -1, date(2026, 3, 5)),  # Sunday rolls back to Friday, then Thursday
        (date(2026, 2, 12), 2, date(2026, 2, 23)),  # Thursday before Tết
        (date(2026, 1, 9), 1, date(2026, 1, 10)),  # the make-up Saturday counts
    ],
)
def test_add_working_days(start: date, n: int, expected: date) -> None:
    assert CAL.add_working_days(start, n) == expected


def test_working_days_between() -> None:
    assert CAL.working_days_between(date(2026, 3, 2), date(2026, 3, 9)) == 5
    assert CAL.working_days_between(date(2026, 3, 9), date(2026, 3, 2)) == -5
    assert CAL.working_days_between(date(2026, 3, 2), date(2026, 3, 2)) == 0
    assert CAL.working_days_between(date(2026, 2, 9), date(2026, 2, 23)) == 5  # Tết week
    assert CAL.working_days_between(date(2026, 1, 1), date(2027, 1, 1)) == sum(
        CAL.is_working_day(d) for d in days(date(2026, 1, 1), date(2026, 12, 31))
    )


dates = st.dates(min_value=date(2015, 1, 1), max_value=date(2030, 12, 31))


@given(dates, st.integers(min_value=0, max_value=30))
def test_add_and_count_agree(day: date, n: int) -> None:
    target = CAL.add_working_days(day, n)
    assert CAL.is_working_day(target)
    assert target >= day
    assert CAL.working_days_between(CAL.working_day_on_or_after(day), target) == n
    assert CAL.add_working_days(target, -n) == CAL.working_day_on_or_after(day)


@given(dates)
def test_next_working_day_skips_only_days_off(day: date) -> None:
    following = CAL.next_working_day(day)
    assert following > day
    assert CAL.is_working_day(following)
    assert not any(CAL.is_working_day(d) for d in days(day + timedelta(days=1), following)[:-1])
    assert CAL.previous_working_day(following) == CAL.working_day_on_or_before(day)


# --------------------------------------------------------------------------- configuration


def test_parse_calendar_config() -> None:
    config = parse_calendar_config(
        {
            "weekend_days": ["Saturday", "sun"],
            "extra_days_off": ["2027-02-12", {"date": date(2027, 4, 30), "label": "Nghỉ bù"}],
            "make_up_working_days": [date(2027, 2, 20)],
        }
    )
    assert config.weekend_days == {5, 6}
    assert config.extra_days_off == {date(2027, 2, 12), date(2027, 4, 30)}
    assert config.make_up_working_days == {date(2027, 2, 20)}
    assert config.labels == {date(2027, 4, 30): "Nghỉ bù"}
    assert parse_calendar_config({}) == CalendarConfig()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"extra_day_off": []}, "unknown key"),
        ({"extra_days_off": ["2026-02-30"]}, r"extra_days_off\[0\]: expected a date"),
        ({"extra_days_off": ["30/01/2026"]}, "YYYY-MM-DD"),
        ({"extra_days_off": [20260102]}, "YYYY-MM-DD"),
        ({"extra_days_off": [datetime(2026, 1, 2, 8, 0)]}, "date and time"),
        ({"extra_days_off": "2026-01-02"}, "list of dates"),
        ({"extra_days_off": ["2026-01-02", "2026-01-02"]}, "listed twice"),
        ({"extra_days_off": [{"day": "2026-01-02"}]}, "unknown key"),
        ({"extra_days_off": [{"label": "x"}]}, "missing 'date'"),
        ({"extra_days_off": [{"date": "2026-01-02", "label": 3}]}, "'label' must be text"),
        (
            {"extra_days_off": ["2026-01-10"], "make_up_working_days": ["2026-01-10"]},
            "both off and make-up",
        ),
        ({"weekend_days": ["samedi"]}, r"weekend_days\[0\]"),
        ({"weekend_days": [6, 7]}, "day name"),
        ({"weekend_days": "saturday"}, "list of day names"),
        (
            {"weekend_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
            "every day of the week",
        ),
    ],
)
def test_parse_calendar_config_rejects(raw: Mapping[str, object], message: str) -> None:
    with pytest.raises(CalendarError, match=message) as caught:
        parse_calendar_config(raw)
    assert caught.value.code == "calendar.bad_config"


def test_config_itself_refuses_overlap() -> None:
    day = date(2026, 1, 10)
    with pytest.raises(CalendarError, match="both off"):
        CalendarConfig(extra_days_off=frozenset({day}), make_up_working_days=frozenset({day}))


def test_parse_rejects_a_non_mapping() -> None:
    with pytest.raises(CalendarError, match="mapping"):
        parse_calendar_config(["2026-01-02"])  # type: ignore[arg-type]


@st.composite
def configs(draw: st.DrawFn) -> CalendarConfig:
    off = draw(st.frozensets(dates, max_size=6))
    make_up = draw(st.frozensets(dates, max_size=6).map(lambda s: s - off))
    weekend = draw(st.frozensets(st.integers(min_value=0, max_value=6), max_size=3))
    return CalendarConfig(off, make_up, weekend)


WEEKDAY_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@given(configs(), st.booleans())
def test_config_round_trips_through_plain_data(config: CalendarConfig, as_text: bool) -> None:
    def dump(values: frozenset[date]) -> list[object]:
        return [d.isoformat() if as_text else d for d in sorted(values)]

    raw = {
        "weekend_days": [WEEKDAY_NAMES[d] for d in sorted(config.weekend_days)],
        "extra_days_off": dump(config.extra_days_off),
        "make_up_working_days": dump(config.make_up_working_days),
    }
    assert parse_calendar_config(raw) == config
