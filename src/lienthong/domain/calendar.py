"""Working-day calendar (lịch làm việc) of state agencies, SPEC §5.

A day is a working day unless it is a weekend day (Saturday and Sunday by default), a public
holiday, or a decreed extra day off; a *make-up working day* (ngày làm bù) is a working day
whatever else it is. Public holidays, including Tết on the lunar calendar and the
government's swaps it knows about, come from the ``holidays`` package's Vietnam calendar
(Labour Code 2019, Art. 112); :class:`CalendarConfig` adds the swaps announced each year for
officials and public employees (công chức, viên chức) as data. ``docs/calendar.md`` lists the
sources and the configuration format.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import holidays

from lienthong.domain.errors import CalendarError

_WEEKDAYS: Mapping[str, int] = MappingProxyType(
    {
        name: number
        for number, names in enumerate(
            (
                ("monday", "mon"),
                ("tuesday", "tue"),
                ("wednesday", "wed"),
                ("thursday", "thu"),
                ("friday", "fri"),
                ("saturday", "sat"),
                ("sunday", "sun"),
            )
        )
        for name in names
    }
)

#: Saturday and Sunday, as :meth:`datetime.date.weekday` numbers.
DEFAULT_WEEKEND: frozenset[int] = frozenset({5, 6})

#: The name given to a configured extra day off that has no label of its own.
EXTRA_DAY_OFF_NAME = "Ngày nghỉ hoán đổi"

# Days no day can be further from than this when stepping through the calendar: far longer
# than any run of days off, short enough to stop a configuration without working days.
_MAX_RUN_OF_DAYS_OFF = 366


@dataclass(frozen=True, slots=True)
class CalendarConfig:
    """The decreed changes to the national calendar, as data.

    ``extra_days_off`` are weekdays given off (typically a Monday or Friday bridging a
    holiday); ``make_up_working_days`` are days worked instead (typically a Saturday). A make-up
    day overrides weekends *and* holidays, so it can also cancel a holiday the ``holidays``
    package lists wrongly. ``labels`` names the days (e.g. the decision that announced them).
    """

    extra_days_off: frozenset[dt.date] = frozenset()
    make_up_working_days: frozenset[dt.date] = frozenset()
    weekend_days: frozenset[int] = DEFAULT_WEEKEND
    labels: Mapping[dt.date, str] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, hash=False
    )

    def __post_init__(self) -> None:
        both = self.extra_days_off & self.make_up_working_days
        if both:
            days = ", ".join(d.isoformat() for d in sorted(both))
            raise CalendarError(
                "calendar.bad_config", f"day(s) both off and make-up working days: {days}"
            )
        if not self.weekend_days <= frozenset(range(7)):
            raise CalendarError(
                "calendar.bad_config",
                f"weekend days must be weekday numbers 0-6, got {sorted(self.weekend_days)}",
            )
        if len(self.weekend_days) == 7:
            raise CalendarError("calendar.bad_config", "every day of the week is a weekend day")
        for day in (*self.extra_days_off, *self.make_up_working_days, *self.labels):
            if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
                raise CalendarError("calendar.bad_config", f"not a date: {day!r}")


#: Swaps announced for officials and public employees, each checked against its source
#: (docs/calendar.md). The ``holidays`` package already knows some of them; they are repeated
#: here so that an upgrade of the package cannot drop them silently.
DEFAULT_CALENDAR_CONFIG = CalendarConfig(
    extra_days_off=frozenset(
        {dt.date(2025, 5, 2), dt.date(2026, 1, 2), dt.date(2026, 8, 31)},
    ),
    make_up_working_days=frozenset(
        {dt.date(2025, 4, 26), dt.date(2026, 1, 10), dt.date(2026, 8, 22)},
    ),
    labels=MappingProxyType(
        {
            # Notice 6150/TB-BLĐTBXH (2024): Friday 2 May 2025 swapped with Saturday 26 April.
            dt.date(2025, 5, 2): "Ngày nghỉ hoán đổi (làm bù thứ Bảy 26/04/2025)",
            dt.date(2025, 4, 26): "Ngày làm bù cho thứ Sáu 02/05/2025",
            # Dispatch 12729/VPCP-KGVX of 25 Dec 2025: Friday 2 Jan 2026 ↔ Saturday 10 Jan.
            dt.date(2026, 1, 2): "Ngày nghỉ hoán đổi (làm bù thứ Bảy 10/01/2026)",
            dt.date(2026, 1, 10): "Ngày làm bù cho thứ Sáu 02/01/2026",
            # Dispatch 9859/VPCP-KGVX (Oct 2025), approving 8764/BNV-CVL: Monday 31 Aug 2026
            # swapped with Saturday 22 Aug.
            dt.date(2026, 8, 31): "Ngày nghỉ hoán đổi (làm bù thứ Bảy 22/08/2026)",
            dt.date(2026, 8, 22): "Ngày làm bù cho thứ Hai 31/08/2026",
        }
    ),
)

_CONFIG_KEYS = frozenset({"weekend_days", "extra_days_off", "make_up_working_days"})


def _parse_day(value: object, where: str) -> tuple[dt.date, str | None]:
    label: str | None = None
    if isinstance(value, Mapping):
        unknown = set(value) - {"date", "label"}
        if unknown:
            raise CalendarError(
                "calendar.bad_config", f"{where}: unknown key(s) {sorted(map(str, unknown))}"
            )
        if "date" not in value:
            raise CalendarError("calendar.bad_config", f"{where}: missing 'date'")
        raw_label = value.get("label")
        if raw_label is not None and not isinstance(raw_label, str):
            raise CalendarError("calendar.bad_config", f"{where}: 'label' must be text")
        label = raw_label
        value = value["date"]
    if isinstance(value, dt.datetime):
        raise CalendarError(
            "calendar.bad_config", f"{where}: expected a date, got a date and time {value}"
        )
    if isinstance(value, dt.date):
        return value, label
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()), label
        except ValueError:
            pass
    raise CalendarError(
        "calendar.bad_config", f"{where}: expected a date written YYYY-MM-DD, got {value!r}"
    )


def _parse_days(raw: object, key: str, labels: dict[dt.date, str]) -> frozenset[dt.date]:
    if raw is None:
        return frozenset()
    if isinstance(raw, str | bytes) or not isinstance(raw, Iterable):
        raise CalendarError("calendar.bad_config", f"{key}: expected a list of dates")
    days: set[dt.date] = set()
    for index, item in enumerate(raw):
        day, label = _parse_day(item, f"{key}[{index}]")
        if day in days:
            raise CalendarError(
                "calendar.bad_config", f"{key}[{index}]: {day.isoformat()} is listed twice"
            )
        days.add(day)
        if label is not None:
            labels[day] = label
    return frozenset(days)


def _parse_weekend(raw: object) -> frozenset[int]:
    if raw is None:
        return DEFAULT_WEEKEND
    if isinstance(raw, str | bytes) or not isinstance(raw, Iterable):
        raise CalendarError("calendar.bad_config", "weekend_days: expected a list of day names")
    days: set[int] = set()
    for index, item in enumerate(raw):
        number = _WEEKDAYS.get(item.strip().lower()) if isinstance(item, str) else None
        if number is None:
            raise CalendarError(
                "calendar.bad_config",
                f"weekend_days[{index}]: expected an English day name (saturday), got {item!r}",
            )
        days.add(number)
    return frozenset(days)


def parse_calendar_config(mapping: Mapping[str, object]) -> CalendarConfig:
    """Build a :class:`CalendarConfig` from plain data (as loaded from YAML or JSON).

    Keys (all optional): ``weekend_days`` (English day names), ``extra_days_off`` and
    ``make_up_working_days`` (lists of ``YYYY-MM-DD`` strings, :class:`datetime.date` objects,
    or ``{date: ..., label: ...}`` mappings). Raises ``CalendarError("calendar.bad_config")``
    naming the offending entry for unknown keys, bad dates, a day listed twice, or a day that
    is both off and a make-up working day.
    """
    if not isinstance(mapping, Mapping):
        raise CalendarError("calendar.bad_config", "the calendar settings must be a mapping")
    unknown = set(mapping) - _CONFIG_KEYS
    if unknown:
        raise CalendarError(
            "calendar.bad_config",
            f"unknown key(s) {sorted(map(str, unknown))}; expected {sorted(_CONFIG_KEYS)}",
        )
    labels: dict[dt.date, str] = {}
    return CalendarConfig(
        extra_days_off=_parse_days(mapping.get("extra_days_off"), "extra_days_off", labels),
        make_up_working_days=_parse_days(
            mapping.get("make_up_working_days"), "make_up_working_days", labels
        ),
        weekend_days=_parse_weekend(mapping.get("weekend_days")),
        labels=MappingProxyType(labels),
    )


@dataclass(frozen=True, slots=True)
class _Year:
    """What the ``holidays`` package says about one year, in our own types."""

    names: Mapping[dt.date, str]
    weekend_workdays: frozenset[dt.date]


class WorkingCalendar:
    """Answers "is this a working day?" and counts working days; lookups are cached per year.

    Pure: the national holidays are computed by the ``holidays`` package (no network, no
    clock), the swaps come from ``config``.
    """

    def __init__(
        self, config: CalendarConfig = DEFAULT_CALENDAR_CONFIG, *, language: str = "vi"
    ) -> None:
        self.config = config
        self.language = language
        self._years: dict[int, _Year] = {}

    def __repr__(self) -> str:
        return f"WorkingCalendar({self.config!r}, language={self.language!r})"

    def _year(self, year: int) -> _Year:
        cached = self._years.get(year)
        if cached is None:
            national = holidays.country_holidays("VN", years=year, language=self.language)
            names: dict[dt.date, str] = {}
            for day, name in national.items():
                if isinstance(day, dt.date) and day.year == year:
                    names[day] = str(name)
            workdays = frozenset(
                day
                for day in national.weekend_workdays
                if isinstance(day, dt.date) and day.year == year
            )
            cached = _Year(MappingProxyType(names), workdays)
            self._years[year] = cached
        return cached

    def holiday_name(self, day: dt.date) -> str | None:
        """The name of the holiday or decreed day off that makes ``day`` a day off.

        ``None`` for ordinary days, plain weekends and make-up working days.
        """
        day = _as_date(day)
        if day in self.config.make_up_working_days:
            return None
        if day in self.config.extra_days_off:
            return self.config.labels.get(day, EXTRA_DAY_OFF_NAME)
        return self._year(day.year).names.get(day)

    def is_working_day(self, day: dt.date) -> bool:
        """True unless ``day`` is a weekend day, a holiday or a decreed day off."""
        day = _as_date(day)
        config = self.config
        if day in config.make_up_working_days:
            return True
        if day in config.extra_days_off:
            return False
        year = self._year(day.year)
        if day in year.names:
            return False
        return day.weekday() not in config.weekend_days or day in year.weekend_workdays

    def working_day_on_or_after(self, day: dt.date) -> dt.date:
        """``day`` itself if it is a working day, else the next working day."""
        day = _as_date(day)
        return day if self.is_working_day(day) else self.next_working_day(day)

    def working_day_on_or_before(self, day: dt.date) -> dt.date:
        """``day`` itself if it is a working day, else the previous working day."""
        day = _as_date(day)
        return day if self.is_working_day(day) else self.previous_working_day(day)

    def next_working_day(self, day: dt.date) -> dt.date:
        """The first working day strictly after ``day``."""
        return self._step(_as_date(day), 1)

    def previous_working_day(self, day: dt.date) -> dt.date:
        """The last working day strictly before ``day``."""
        return self._step(_as_date(day), -1)

    def add_working_days(self, day: dt.date, n: int) -> dt.date:
        """Move ``n`` working days from ``day``.

        ``day`` is first rolled to a working day (forward when ``n >= 0``, backward when
        ``n < 0``), then moved ``n`` working days: ``add_working_days(saturday, 0)`` is the
        Monday after, ``add_working_days(friday, 1)`` the Monday after (both without holidays).
        """
        day = _as_date(day)
        if n >= 0:
            current = self.working_day_on_or_after(day)
            for _ in range(n):
                current = self.next_working_day(current)
        else:
            current = self.working_day_on_or_before(day)
            for _ in range(-n):
                current = self.previous_working_day(current)
        return current

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """The number of working days in ``[start, end)``; negative when ``end < start``.

        So ``working_days_between(d, add_working_days(d, n)) == n`` for a working day ``d``.
        """
        start, end = _as_date(start), _as_date(end)
        if end < start:
            return -self.working_days_between(end, start)
        count = 0
        day = start
        one = dt.timedelta(days=1)
        while day < end:
            count += self.is_working_day(day)
            day += one
        return count

    def _step(self, day: dt.date, direction: int) -> dt.date:
        delta = dt.timedelta(days=direction)
        for _ in range(_MAX_RUN_OF_DAYS_OFF):
            day += delta
            if self.is_working_day(day):
                return day
        raise CalendarError(
            "calendar.bad_config",
            f"no working day within {_MAX_RUN_OF_DAYS_OFF} days of {day.isoformat()}",
        )


def _as_date(day: dt.date) -> dt.date:
    """Accept a :class:`datetime.date`; a datetime is a programming error (use its local date)."""
    if isinstance(day, dt.datetime):
        raise TypeError(
            f"expected a date, got a datetime {day.isoformat()}; convert it to the local date first"
        )
    return day
