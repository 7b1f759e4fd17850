"""Pure helpers of the hub's routing: the idempotency key of a send, the hub's trace hop.

**The trace hop (TraceHeader).** The hub stores the bytes exactly as the sender sent them
(their SHA-256 is the blob key and part of the receipt) and adds its own ``TraceHeader`` when a
recipient fetches the package, by inserting it into those bytes just before the closing
``TraceHeaderList`` tag, with the sender's own namespace prefix. Re-serialising with
:func:`~lienthong.domain.edxml.builder.with_trace` would keep an envelope signature valid only
for packages our serialiser wrote (docs/verification.md); the insertion keeps every signed part
byte-identical for any producer, and a verifier lists the hop as ``verify.hops_after_signing``.
The hop's time is the time the hub accepted the package, so every fetch returns the same bytes.
Status packages carry no trace list and are delivered as sent.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from xml.sax.saxutils import escape

from lienthong.domain.edxml.dates import format_timestamp

_TRACE_LIST_END = re.compile(rb"</(?:([A-Za-z_][\w.\-]*):)?TraceHeaderList\s*>")


def add_trace(data: bytes, organ_id: str, at: datetime) -> bytes:
    """``data`` with one ``TraceHeader`` (``organ_id``, ``at``) appended to its trace list.

    Bytes without a ``TraceHeaderList`` end tag (status packages, or producers that write an
    empty ``<TraceHeaderList/>``) are returned unchanged.
    """
    found = None
    for found in _TRACE_LIST_END.finditer(data):  # noqa: B007 - the last one is wanted
        pass
    if found is None:
        return data
    prefix = found.group(1)
    p = f"{prefix.decode('ascii')}:" if prefix else ""
    hop = (
        f"<{p}TraceHeader><{p}OrganId>{escape(organ_id)}</{p}OrganId>"
        f"<{p}Timestamp>{format_timestamp(at)}</{p}Timestamp></{p}TraceHeader>"
    )
    return data[: found.start()] + hop.encode("utf-8") + data[found.start() :]


def idempotency_key(*parts: str) -> str:
    """The SHA-256 (hex) of what makes two sends "the same package" (see docs/hub.md)."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
