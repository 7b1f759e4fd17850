"""``DocumentId``: ``{sender OrganId},{yyyy/MM/dd},{CodeNumber}/{CodeNotation}`` (SPEC §2).

It identifies a document across all systems, e.g. ``000.00.00.G22,2015/09/30,7816/VPCP-TTĐT``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lienthong.domain.edxml.dates import format_date, parse_date


@dataclass(frozen=True, slots=True)
class DocumentRef:
    """The parts of a ``DocumentId``."""

    organ_id: str
    promulgation_date: date
    code_number: str
    code_notation: str

    def __str__(self) -> str:
        return make_document_id(
            self.organ_id, self.promulgation_date, self.code_number, self.code_notation
        )


def make_document_id(organ_id: str, day: date, code_number: str, code_notation: str) -> str:
    """Build the ``DocumentId`` of a document."""
    return f"{organ_id},{format_date(day)},{code_number}/{code_notation}"


def parse_document_id(text: str) -> DocumentRef:
    """Split a ``DocumentId``; raise ValueError if it is not of the standard form.

    The notation may itself contain ``/`` or ``,`` only after the number's first ``/``.
    """
    organ_id, sep1, rest = text.strip().partition(",")
    day_text, sep2, code = rest.partition(",")
    number, sep3, notation = code.partition("/")
    if not (sep1 and sep2 and sep3 and organ_id and number and notation):
        raise ValueError(f"not a DocumentId: {text!r}")
    return DocumentRef(organ_id.strip(), parse_date(day_text), number.strip(), notation.strip())
