"""Vietnam time (giờ Việt Nam): UTC+07:00 all year round, no daylight saving time.

Dates in edXML, legal deadlines and ISO 8601 signing times are all Vietnam time; this is the
one definition of it.
"""

from __future__ import annotations

from datetime import timedelta, timezone

#: Asia/Ho_Chi_Minh as a fixed offset (Vietnam has not observed DST since 1975).
VIETNAM_TZ = timezone(timedelta(hours=7))
