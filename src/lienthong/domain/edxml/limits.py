"""Bounds that keep hostile or broken packages from exhausting the receiver."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Size and shape limits applied when reading a package (configurable per deployment).

    The defaults fit the largest real packages seen (scanned decisions of a few tens of MB)
    with a wide margin; a hub may lower them per recipient.
    """

    max_package_bytes: int = 64 * 1024 * 1024  #: the whole ``.edxml`` file
    max_depth: int = 48  #: element nesting; real packages are 8 deep
    max_elements: int = 20_000  #: element count; real packages have ~150
    max_attachments: int = 200
    max_unzipped_bytes: int = 256 * 1024 * 1024  #: total of a ZIP-wrapped attachment
    max_zip_ratio: int = 200  #: uncompressed / compressed, per member
    max_zip_members: int = 1_000
    max_attributes: int = 2_000  #: attribute count, whole package; real packages have ~10


DEFAULT_LIMITS = Limits()
