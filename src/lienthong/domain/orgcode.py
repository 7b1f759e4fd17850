"""Agency identification codes (mã định danh) — QCVN 102:2016, Decision 20/2020/QĐ-TTg.

A code has the form ``DDD.DD.DD.LDD`` (13 characters) and is read right to left: the last
group is the level-1 unit (a letter and two digits: ``G..`` ministries and government bodies,
``H..`` provinces, ``A..`` Party bodies), then level 2 (two digits), level 3 (two digits) and
level 4 (three digits). Unused levels are zeros: ``000.00.00.G22`` is the Government Office,
``000.00.11.H53`` a department of Tây Ninh, ``001.00.10.H47`` a unit under ``000.00.10.H47``.

Legacy and test codes of other shapes (``28.22.H17``, ``777.77.04.D77``) exist in the wild;
:func:`parse_agency_code` refuses them, :func:`read_agency_id` accepts them as opaque ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from lienthong.domain.errors import OrgCodeError

# re.ASCII: ``\d`` alone also matches Arabic-Indic, fullwidth … digits, which no code contains.

#: Anything we are willing to carry as an opaque legacy id: printable, no spaces, bounded.
_OPAQUE_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._\-]{0,31}$")

#: Letters seen for level-1 units and what they mean (the standard reserves others).
LEVEL1_KINDS = {
    "G": "Bộ, cơ quan ngang bộ, cơ quan thuộc Chính phủ",  # ministries, government bodies
    "H": "Tỉnh, thành phố trực thuộc trung ương",  # provinces and centrally-run cities
    "A": "Cơ quan Đảng",  # Party bodies
}

# Only the letters above make a standard code; anything else of the same shape (the test
# codes ``777.77.04.D77`` of the national sample set) is a legacy id. ASCII digits only:
# ``\d`` would also match Arabic-Indic or full-width digits.
_CODE_RE = re.compile(
    r"^(\d{3})\.(\d{2})\.(\d{2})\.([" + "".join(LEVEL1_KINDS) + r"])(\d{2})$", re.ASCII
)


@total_ordering
@dataclass(frozen=True, slots=True)
class AgencyCode:
    """A well-formed agency identification code (mã định danh cơ quan).

    The four groups are kept as strings with their fixed widths so that formatting is exact.
    """

    level4: str  #: cấp 4, three digits
    level3: str  #: cấp 3, two digits
    level2: str  #: cấp 2, two digits
    level1: str  #: cấp 1, a letter and two digits

    def __str__(self) -> str:
        return f"{self.level4}.{self.level3}.{self.level2}.{self.level1}"

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, AgencyCode):
            return NotImplemented
        return self._sort_key() < other._sort_key()

    def _sort_key(self) -> tuple[str, str, str, str]:
        # Sort by hierarchy (level 1 first) so a unit follows its parent.
        return (self.level1, self.level2, self.level3, self.level4)

    @property
    def level(self) -> int:
        """The level of the unit: 1 for ``000.00.00.G22`` … 4 for ``001.02.03.H41``."""
        if self.level4 != "000":
            return 4
        if self.level3 != "00":
            return 3
        if self.level2 != "00":
            return 2
        return 1

    @property
    def kind(self) -> str:
        """The letter of the level-1 unit (``G``, ``H``, ``A`` …)."""
        return self.level1[0]

    @property
    def root(self) -> AgencyCode:
        """The level-1 unit this code belongs to."""
        return AgencyCode("000", "00", "00", self.level1)

    @property
    def parent(self) -> AgencyCode | None:
        """The code with its lowest non-zero level set to zeros; ``None`` for level 1."""
        match self.level:
            case 4:
                return AgencyCode("000", self.level3, self.level2, self.level1)
            case 3:
                return AgencyCode("000", "00", self.level2, self.level1)
            case 2:
                return AgencyCode("000", "00", "00", self.level1)
            case _:
                return None

    def ancestors(self) -> tuple[AgencyCode, ...]:
        """Parents from the nearest up to the level-1 unit."""
        chain: list[AgencyCode] = []
        node = self.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        return tuple(chain)

    def is_under(self, other: AgencyCode, *, strict: bool = False) -> bool:
        """True if this unit is ``other`` or one of its descendants (only descendants if strict)."""
        if self == other:
            return not strict
        return other in self.ancestors()


def parse_agency_code(text: str) -> AgencyCode:
    """Parse a standard code, refusing legacy shapes.

    Raises :class:`OrgCodeError` with ``orgcode.empty`` or ``orgcode.bad_format``.
    Intermediate levels may be zero (``001.00.10.H47`` is a level-4 unit directly under the
    level-2 unit ``000.00.10.H47``), so no "gap" is refused. The level-1 group must be
    non-zero (``G00`` names nothing).
    """
    raw = text.strip()
    if not raw:
        raise OrgCodeError("orgcode.empty")
    match = _CODE_RE.match(raw)
    if match is None:
        raise OrgCodeError("orgcode.bad_format", repr(text[:40]))
    l4, l3, l2, letter, digits = match.groups()
    if digits == "00":
        raise OrgCodeError("orgcode.bad_format", f"{raw!r}: level-1 number 00")
    return AgencyCode(l4, l3, l2, letter + digits)


def is_agency_code(text: str) -> bool:
    """True if ``text`` is a standard, well-formed code."""
    try:
        parse_agency_code(text)
    except OrgCodeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class AgencyId:
    """What an ``OrganId`` element names: a standard code, or a legacy id carried opaquely."""

    text: str
    code: AgencyCode | None  #: ``None`` when the id is a legacy shape

    @property
    def is_legacy(self) -> bool:
        """True for ids such as ``28.22.H17`` that are not standard codes."""
        return self.code is None

    def __str__(self) -> str:
        return self.text


def read_agency_id(text: str, *, allow_legacy: bool = True) -> AgencyId:
    """Read an ``OrganId``: a standard code, or (if allowed) an opaque legacy id.

    Opaque ids must still be short and printable; anything else raises ``orgcode.bad_format``.
    """
    raw = text.strip()
    try:
        return AgencyId(raw, parse_agency_code(raw))
    except OrgCodeError as exc:
        if not allow_legacy or exc.code == "orgcode.empty" or not _OPAQUE_RE.match(raw):
            raise
        return AgencyId(raw, None)
