"""Urgency of a document (độ khẩn), the edXML ``OtherInfo/Priority`` value 0-3.

The mapping of the four values to thường / khẩn / thượng khẩn / hỏa tốc follows the
producers' code (SPEC §5, [ours]); Decree 30/2020/NĐ-CP names the three urgent levels.
"""

from __future__ import annotations

from enum import IntEnum

_VIETNAMESE_NAMES = ("Thường", "Khẩn", "Thượng khẩn", "Hỏa tốc")
_ENGLISH_NAMES = ("normal", "urgent", "very urgent", "flash")


class Priority(IntEnum):
    """Độ khẩn: how fast a document must be sent and registered."""

    NORMAL = 0  #: Thường
    URGENT = 1  #: Khẩn
    VERY_URGENT = 2  #: Thượng khẩn
    FLASH = 3  #: Hỏa tốc

    @property
    def is_urgent(self) -> bool:
        """True for khẩn, thượng khẩn and hỏa tốc: these are handled "immediately"."""
        return self is not Priority.NORMAL

    @property
    def vietnamese_name(self) -> str:
        """The Vietnamese term, capitalised as on a document (``"Hỏa tốc"``)."""
        return _VIETNAMESE_NAMES[self.value]

    @property
    def english_name(self) -> str:
        """A lower-case English label (``"flash"``)."""
        return _ENGLISH_NAMES[self.value]

    @classmethod
    def parse(cls, text: str) -> Priority:
        """Read the edXML value: exactly one of ``"0"`` to ``"3"``, surrounding blanks ignored.

        Raises :class:`ValueError` for anything else; the envelope parser turns it into
        ``edxml.bad_priority`` with the element's location.
        """
        stripped = text.strip()
        if len(stripped) != 1 or stripped not in "0123":
            raise ValueError(f"priority must be one of 0, 1, 2, 3, got {text!r}")
        return cls(int(stripped))
