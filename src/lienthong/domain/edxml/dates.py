"""Dates and timestamps as edXML writes them (QCVN 102:2016).

Dates are ``yyyy/MM/dd`` and timestamps ``yyyy/MM/dd HH:mm:ss`` in Vietnam local time
(UTC+07:00, no daylight saving). Some producers write ``dd/MM/yyyy``: we read both and
always write ``yyyy/MM/dd``.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from lienthong.domain.vntime import VIETNAM_TZ

_YMD = re.compile(r"^(\d{4})[/-](\d{1,2})[/-](\d{1,2})$")
_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def parse_date(text: str) -> date:
    """Read ``yyyy/MM/dd`` (or ``yyyy-MM-dd``) or ``dd/MM/yyyy``; raise ValueError otherwise."""
    raw = text.strip()
    if match := _YMD.match(raw):
        year, month, day = (int(g) for g in match.groups())
    elif match := _DMY.match(raw):
        day, month, year = (int(g) for g in match.groups())
    else:
        raise ValueError(f"not an edXML date: {raw!r}")
    return date(year, month, day)  # raises ValueError for 2014/02/30


def format_date(value: date) -> str:
    """Write a date as edXML does: ``yyyy/MM/dd``."""
    return f"{value.year:04d}/{value.month:02d}/{value.day:02d}"


def parse_timestamp(text: str) -> datetime:
    """Read ``yyyy/MM/dd HH:mm:ss`` (either date order) as an aware Vietnam-time datetime."""
    raw = text.strip()
    day_part, _, time_part = raw.partition(" ")
    day = parse_date(day_part)
    if not time_part:
        return datetime(day.year, day.month, day.day, tzinfo=VIETNAM_TZ)
    match = _TIME.match(time_part.strip())
    if match is None:
        raise ValueError(f"not an edXML timestamp: {raw!r}")
    hour, minute, second = (int(g) if g else 0 for g in match.groups())
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=VIETNAM_TZ)


def format_timestamp(value: datetime) -> str:
    """Write an aware datetime in Vietnam time as ``yyyy/MM/dd HH:mm:ss``."""
    if value.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    local = value.astimezone(VIETNAM_TZ)
    return f"{format_date(local.date())} {local:%H:%M:%S}"


_CANONICAL_DATE = re.compile(r"^\d{4}/\d{2}/\d{2}$")
_CANONICAL_TIMESTAMP = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}$")


def normalise_date_text(text: str) -> str:
    """Rewrite a readable date to ``yyyy/MM/dd``; leave anything unreadable as it is."""
    if _CANONICAL_DATE.match(text):
        return text  # already in the written form (valid or not, it is kept as it is)
    try:
        return format_date(parse_date(text))
    except ValueError:
        return text


def normalise_timestamp_text(text: str) -> str:
    """Rewrite a readable timestamp to ``yyyy/MM/dd HH:mm:ss``; leave anything else as it is."""
    if _CANONICAL_TIMESTAMP.match(text):
        return text
    try:
        return format_timestamp(parse_timestamp(text))
    except ValueError:
        return text
