"""Dates ``yyyy/MM/dd`` and timestamps ``yyyy/MM/dd HH:mm:ss`` in Vietnam time (SPEC §2)."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lienthong.domain.edxml.dates import (
    format_date,
    format_timestamp,
    normalise_date_text,
    normalise_timestamp_text,
    parse_date,
    parse_timestamp,
)
from lienthong.domain.vntime import VIETNAM_TZ

pytestmark = pytest.mark.unit

_offsets = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
aware_datetimes = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(2199, 12, 30), timezones=_offsets
)


def test_vietnam_time_is_utc_plus_7_all_year() -> None:
    assert VIETNAM_TZ.utcoffset(None) == timedelta(hours=7)
    assert datetime(2026, 1, 1, tzinfo=VIETNAM_TZ).utcoffset() == timedelta(hours=7)
    assert datetime(2026, 7, 1, tzinfo=VIETNAM_TZ).dst() in (None, timedelta(0))


# --------------------------------------------------------------------------- dates
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2015/09/30", date(2015, 9, 30)),
        ("2015-09-30", date(2015, 9, 30)),
        ("30/09/2015", date(2015, 9, 30)),  # dd/MM/yyyy, as some producers write
        ("30/10/2020", date(2020, 10, 30)),
        ("01/02/2020", date(2020, 2, 1)),  # day first, never month first
        ("2020/1/2", date(2020, 1, 2)),
        ("2/1/2020", date(2020, 1, 2)),
        ("  2015/09/30\n", date(2015, 9, 30)),
        ("2024/02/29", date(2024, 2, 29)),  # a leap day
        ("0001/01/01", date(1, 1, 1)),
    ],
)
def test_accepted_dates(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2014/02/30",  # the samples' impossible date
        "2023/02/29",  # not a leap year
        "31/04/2020",
        "2020/13/01",
        "2020/00/10",
        "2020/01/00",
        "0000/01/01",
        "",
        "   ",
        "hôm nay",
        "2020/01",
        "2020/01/01/01",
        "20200101",
        "2020.01.01",
        "01-02-2020",  # dashes only in year-first dates
        "2020/01/01 10:00",  # a timestamp is not a date
        "12020/01/01",
    ],
)
def test_impossible_or_malformed_dates_raise(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is not part of the contract
        parse_date(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (date(2015, 9, 30), "2015/09/30"),
        (date(2020, 1, 2), "2020/01/02"),
        (date(999, 12, 31), "0999/12/31"),
    ],
)
def test_dates_are_written_yyyy_mm_dd(value: date, text: str) -> None:
    assert format_date(value) == text


@given(st.dates())
def test_dates_round_trip(value: date) -> None:
    assert parse_date(format_date(value)) == value
    assert parse_date(f"{value.day:02d}/{value.month:02d}/{value.year:04d}") == value
    assert normalise_date_text(format_date(value)) == format_date(value)


# --------------------------------------------------------------------------- timestamps
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2015/09/20 11:08:36", datetime(2015, 9, 20, 11, 8, 36, tzinfo=VIETNAM_TZ)),
        ("20/09/2015 11:08:36", datetime(2015, 9, 20, 11, 8, 36, tzinfo=VIETNAM_TZ)),
        ("2015/09/20 1:08", datetime(2015, 9, 20, 1, 8, tzinfo=VIETNAM_TZ)),
        ("2015/09/20", datetime(2015, 9, 20, tzinfo=VIETNAM_TZ)),
        (" 2018/09/28 00:00:00 ", datetime(2018, 9, 28, tzinfo=VIETNAM_TZ)),
    ],
)
def test_accepted_timestamps_are_vietnam_time(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(hours=7)


@pytest.mark.parametrize(
    "text",
    [
        "2015/09/20 24:00:00",
        "2015/09/20 11:60:00",
        "2015/09/20 11:08:60",
        "2015/09/20 11",
        "2015/09/20T11:08:36",
        "2015/09/20 11:08:36+07:00",
        "2014/02/30 10:00:00",
        "hôm qua",
        "",
    ],
)
def test_malformed_timestamps_raise(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is not part of the contract
        parse_timestamp(text)


def test_timestamps_are_written_in_vietnam_time() -> None:
    assert format_timestamp(datetime(2026, 11, 26, 17, 30, tzinfo=UTC)) == "2026/11/27 00:30:00"
    assert format_timestamp(datetime(2026, 11, 27, 0, 30, tzinfo=VIETNAM_TZ)) == (
        "2026/11/27 00:30:00"
    )
    assert format_timestamp(datetime(2026, 1, 1, 6, 59, 59, 999_999, tzinfo=VIETNAM_TZ)) == (
        "2026/01/01 06:59:59"
    )


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_timestamp(datetime(2026, 11, 26, 17, 30))


@given(aware_datetimes)
def test_timestamps_round_trip_to_the_second(value: datetime) -> None:
    text = format_timestamp(value)
    parsed = parse_timestamp(text)
    assert parsed == value.replace(microsecond=0)
    assert parsed.utcoffset() == timedelta(hours=7)
    assert format_timestamp(parsed) == text
    assert normalise_timestamp_text(text) == text


# --------------------------------------------------------------------------- normalisation
@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("30/10/2020", "2020/10/30"),
        ("2020-10-30", "2020/10/30"),
        ("2020/1/2", "2020/01/02"),
        ("2015/09/30", "2015/09/30"),
        ("2014/02/30", "2014/02/30"),  # impossible: kept as written, for validation to report
        ("31/04/2020", "31/04/2020"),
        ("", ""),
        ("không rõ", "không rõ"),
    ],
)
def test_date_text_normalisation(text: str, written: str) -> None:
    assert normalise_date_text(text) == written


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("20/09/2015 11:08:36", "2015/09/20 11:08:36"),
        ("2015/9/20 1:08", "2015/09/20 01:08:00"),
        ("2015/09/20", "2015/09/20 00:00:00"),
        ("2015/09/20 11:08:36", "2015/09/20 11:08:36"),
        ("2015/09/20 25:00:00", "2015/09/20 25:00:00"),  # unreadable: kept
        ("", ""),
    ],
)
def test_timestamp_text_normalisation(text: str, written: str) -> None:
    assert normalise_timestamp_text(text) == written


@given(st.text(max_size=24))
def test_normalisation_never_raises_and_is_idempotent(text: str) -> None:
    date_text = normalise_date_text(text)
    assert normalise_date_text(date_text) == date_text
    timestamp_text = normalise_timestamp_text(text)
    assert normalise_timestamp_text(timestamp_text) == timestamp_text


@given(st.text(max_size=24))
def test_parsers_raise_only_value_errors(text: str) -> None:
    for parse in (parse_date, parse_timestamp):
        with contextlib.suppress(ValueError):
            parse(text)
