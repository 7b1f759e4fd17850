"""The hub's registry (danh mục): agencies and the connected systems that act for them.

Agencies have a code (mã định danh), name, level, parent, contacts, a status (active or
retired) and, when retired (merged, reorganised), a successor that receives their documents.
Connected systems (hệ thống kết nối — a ministry's or a province's document software) act for a
set of agencies. Both import from and export to CSV (UTF-8, a header row; a system's agencies
are joined by ``;``). :func:`demo_registry` builds a deterministic demo: the real level-1
codes seen in ``edxml-samples`` with generated level-2/3/4 units, one retired unit, and one
system per level-1 unit with a demo secret (never use those secrets outside a demo).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Connection, Engine

from lienthong.domain.errors import UsageError
from lienthong.domain.orgcode import is_agency_code, parse_agency_code
from lienthong.store.engine import write_transaction
from lienthong.store.hub_store import SystemRepository, agency_contacts, set_agency_contacts
from lienthong.store.repositories import AgencyRepository
from lienthong.store.schema import agencies as table

AGENCY_COLUMNS = (
    "code",
    "name",
    "level",
    "parent",
    "status",
    "successor",
    "email",
    "telephone",
    "address",
)
SYSTEM_COLUMNS = ("system_id", "name", "agencies", "secret", "cert_sha256", "operator")


@dataclass(frozen=True, slots=True)
class AgencyEntry:
    """One agency of the registry."""

    code: str
    name: str
    level: int | None = None
    parent: str | None = None
    status: str = "active"
    successor: str | None = None
    email: str | None = None
    telephone: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class SystemEntry:
    """One connected system and the agencies it acts for."""

    system_id: str
    name: str
    agencies: tuple[str, ...] = ()
    secret: str | None = None
    cert_sha256: str | None = None
    operator: bool = False


@dataclass(frozen=True, slots=True)
class Registry:
    """Agencies (parents before children) and systems."""

    agencies: tuple[AgencyEntry, ...] = ()
    systems: tuple[SystemEntry, ...] = field(default=())

    def system(self, system_id: str) -> SystemEntry:
        """The system ``system_id`` (``usage.bad_argument`` if absent)."""
        for entry in self.systems:
            if entry.system_id == system_id:
                return entry
        raise UsageError("usage.bad_argument", f"no system {system_id}")


# --------------------------------------------------------------------------- demo

#: The level-1 units of the demo: the real codes the samples carry, with their names.
DEMO_LEVEL1: tuple[tuple[str, str, str], ...] = (
    ("000.00.00.G22", "Văn phòng Chính phủ", "vpcp"),
    ("000.00.00.G17", "Bộ (mã G17)", "bo-g17"),
    ("000.00.00.H41", "UBND tỉnh Nghệ An", "nghe-an"),
    ("000.00.00.H14", "UBND tỉnh (mã H14)", "tinh-h14"),
    ("000.00.00.H53", "UBND tỉnh Tây Ninh", "tay-ninh"),
    ("000.00.00.A80", "Cơ quan Đảng (mã A80)", "dang-a80"),
)

#: Units of the samples and of the demo CA, named explicitly.
DEMO_NAMED: tuple[tuple[str, str], ...] = (
    ("000.00.12.H41", "Sở Thông tin và Truyền thông tỉnh Nghệ An"),
    ("000.00.11.H53", "Sở (mã 11) tỉnh Tây Ninh"),
    ("000.00.12.H53", "Sở (mã 12) tỉnh Tây Ninh"),
)

#: A demo unit retired in a reorganisation: documents for it go to its successor.
DEMO_RETIRED: tuple[tuple[str, str, str], ...] = (
    ("000.00.09.H41", "Sở (đã sáp nhập) tỉnh Nghệ An", "000.00.12.H41"),
)

#: The demo operator system (the hub's own staff).
DEMO_OPERATOR = "operator"


def demo_secret(system_id: str) -> str:
    """The deterministic demo secret of a system (documented, printed by ``make run``)."""
    return hashlib.sha256(f"lienthong-demo-secret:{system_id}".encode()).hexdigest()[:32]


def demo_registry(*, per_level: Sequence[int] = (3, 2, 2)) -> Registry:
    """The demo registry: level-1 units of the samples and ``per_level`` generated units.

    ``per_level`` is how many level-2 units each level-1 unit has, level-3 units each level-2
    unit has, level-4 units each level-3 unit has ((3, 2, 2): 21 units per level-1 unit).
    Larger values make large registries for benchmarks: (20, 9, 10) gives 12,006 agencies.
    """
    n2, n3, n4 = [*per_level, 0, 0, 0][:3]
    agencies: list[AgencyEntry] = []
    systems: list[SystemEntry] = []
    named = dict(DEMO_NAMED)
    for root, root_name, system_id in DEMO_LEVEL1:
        l1 = root.rsplit(".", 1)[1]
        members = [root]
        agencies.append(AgencyEntry(root, root_name, 1, None, email=f"vanthu@{system_id}.gov.vn"))
        for i2 in range(1, n2 + 1):
            code2 = f"000.00.{i2:02d}.{l1}"
            agencies.append(AgencyEntry(code2, f"Đơn vị cấp 2 số {i2} - {root_name}", 2, root))
            members.append(code2)
            for i3 in range(1, n3 + 1):
                code3 = f"000.{i3:02d}.{i2:02d}.{l1}"
                agencies.append(AgencyEntry(code3, f"Đơn vị cấp 3 số {i3} - {code2}", 3, code2))
                members.append(code3)
                for i4 in range(1, n4 + 1):
                    code4 = f"{i4:03d}.{i3:02d}.{i2:02d}.{l1}"
                    agencies.append(AgencyEntry(code4, f"Đơn vị cấp 4 số {i4} - {code3}", 4, code3))
                    members.append(code4)
        for code, name in named.items():
            if code.endswith(l1) and code not in members:
                agencies.append(AgencyEntry(code, name, 2, root))
                members.append(code)
        for code, name, successor in DEMO_RETIRED:
            if code.endswith(l1) and code not in members:
                agencies.append(AgencyEntry(code, name, 2, root, "retired", successor))
        systems.append(
            SystemEntry(
                system_id, f"Hệ thống quản lý văn bản - {root_name}", tuple(members),
                demo_secret(system_id),
            )
        )  # fmt: skip
    systems.append(
        SystemEntry(DEMO_OPERATOR, "Vận hành trục", (), demo_secret(DEMO_OPERATOR), operator=True)
    )
    return Registry(tuple(agencies), tuple(systems))


def describe_systems(registry: Registry) -> str:
    """A plain table of the systems, their secrets and agencies (what ``make run`` prints)."""
    lines = [f"{'system id':<10}  {'secret':<32}  agencies"]
    for system in registry.systems:
        shown = ", ".join(system.agencies[:3]) + (" …" if len(system.agencies) > 3 else "")
        role = "(operator)" if system.operator else f"{len(system.agencies)}: {shown}"
        lines.append(f"{system.system_id:<10}  {system.secret or '-':<32}  {role}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- database


def load_registry(engine: Engine, registry: Registry, *, now: datetime) -> None:
    """Write ``registry`` to the database in one transaction (existing entries are updated:
    name-independent fields such as status, successor and contacts; systems' agencies)."""
    with write_transaction(engine) as connection:
        load_into(connection, registry, now=now)


def load_into(connection: Connection, registry: Registry, *, now: datetime) -> None:
    """:func:`load_registry` inside the caller's transaction."""
    agencies = AgencyRepository(connection)
    entries = _parents_first(registry.agencies)
    known = {e.code for e in entries}
    for entry in entries:
        if agencies.find(entry.code) is None:
            parent = entry.parent
            if parent and parent not in known and agencies.find(parent) is None:
                parent = None  # a parent outside the registry: the unit is a root here
            agencies.add(
                code=entry.code,
                name=entry.name,
                created_at=now,
                level=entry.level if entry.level is not None else _level(entry.code),
                parent_code=parent,
                email=entry.email,
            )
        if entry.telephone or entry.address:
            set_agency_contacts(
                connection, entry.code, telephone=entry.telephone, address=entry.address
            )
    for entry in entries:
        if entry.status == "retired":
            agencies.retire(entry.code, entry.successor)
    systems = SystemRepository(connection)
    for system in registry.systems:
        if systems.get(system.system_id) is None:
            systems.add(
                system_id=system.system_id,
                name=system.name,
                agencies=system.agencies,
                created_at=now,
                secret=system.secret,
                cert_sha256=system.cert_sha256,
                operator=system.operator,
            )
        else:
            systems.set_agencies(system.system_id, system.agencies)
            if system.cert_sha256:
                systems.set_certificate(system.system_id, system.cert_sha256)


def bind_certificate(engine: Engine, system_id: str, cert_sha256: str) -> None:
    """Make the organisation certificate with this SHA-256 (hex of the DER) authenticate
    ``system_id`` on our ``/v1`` API."""
    with write_transaction(engine) as connection:
        systems = SystemRepository(connection)
        if systems.get(system_id) is None:
            raise UsageError("usage.bad_argument", f"no system {system_id}")
        systems.set_certificate(system_id, cert_sha256)


def read_registry(connection: Connection) -> Registry:
    """The registry as stored (agencies by code, parents first; systems by id)."""
    codes = [row.code for row in connection.execute(table.select().order_by(table.c.code))]
    entries = []
    for code in codes:
        row = agency_contacts(connection, code)
        assert row is not None
        entries.append(
            AgencyEntry(
                code=row["code"],
                name=row["name"],
                level=row["level"],
                parent=row["parent_code"],
                status=row["status"],
                successor=row["successor_code"],
                email=row["email"],
                telephone=row["telephone"],
                address=row["address"],
            )
        )
    systems = [
        SystemEntry(
            s.system_id, s.name, tuple(sorted(s.agencies)), s.secret, s.cert_sha256, s.operator
        )
        for s in SystemRepository(connection).all()
    ]
    return Registry(tuple(_parents_first(entries)), tuple(systems))


# --------------------------------------------------------------------------- CSV


def agencies_to_csv(entries: Iterable[AgencyEntry]) -> str:
    """The agencies as CSV (``AGENCY_COLUMNS``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(AGENCY_COLUMNS)
    for e in entries:
        writer.writerow(
            [
                e.code, e.name, "" if e.level is None else e.level, e.parent or "", e.status,
                e.successor or "", e.email or "", e.telephone or "", e.address or "",
            ]
        )  # fmt: skip
    return out.getvalue()


def agencies_from_csv(text: str) -> tuple[AgencyEntry, ...]:
    """Agencies read from CSV with a header row naming at least ``code`` and ``name``."""
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    entries = []
    for number, row in enumerate(rows, start=2):
        code = (row.get("code") or "").strip()
        name = (row.get("name") or "").strip()
        if not code or not name:
            raise UsageError("usage.bad_argument", f"CSV line {number}: code and name required")
        status = (row.get("status") or "active").strip() or "active"
        if status not in {"active", "retired"}:
            raise UsageError("usage.bad_argument", f"CSV line {number}: status {status!r}")
        level_text = (row.get("level") or "").strip()
        entries.append(
            AgencyEntry(
                code=code,
                name=name,
                level=int(level_text) if level_text else _level(code),
                parent=_blank(row.get("parent")) or _parent(code),
                status=status,
                successor=_blank(row.get("successor")),
                email=_blank(row.get("email")),
                telephone=_blank(row.get("telephone")),
                address=_blank(row.get("address")),
            )
        )
    return tuple(entries)


def systems_to_csv(entries: Iterable[SystemEntry]) -> str:
    """The systems as CSV (``SYSTEM_COLUMNS``; agencies joined by ``;``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SYSTEM_COLUMNS)
    for s in entries:
        writer.writerow(
            [
                s.system_id, s.name, ";".join(s.agencies), s.secret or "", s.cert_sha256 or "",
                "1" if s.operator else "0",
            ]
        )  # fmt: skip
    return out.getvalue()


def systems_from_csv(text: str) -> tuple[SystemEntry, ...]:
    """Systems read from CSV (``SYSTEM_COLUMNS``)."""
    entries = []
    for number, row in enumerate(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))), start=2):
        system_id = (row.get("system_id") or "").strip()
        if not system_id:
            raise UsageError("usage.bad_argument", f"CSV line {number}: system_id required")
        agencies = tuple(a.strip() for a in (row.get("agencies") or "").split(";") if a.strip())
        entries.append(
            SystemEntry(
                system_id=system_id,
                name=(row.get("name") or system_id).strip(),
                agencies=agencies,
                secret=_blank(row.get("secret")),
                cert_sha256=_blank(row.get("cert_sha256")),
                operator=(row.get("operator") or "").strip().lower() in {"1", "true", "yes"},
            )
        )
    return tuple(entries)


# --------------------------------------------------------------------------- helpers


def _blank(value: str | None) -> str | None:
    text = (value or "").strip()
    return text or None


def _level(code: str) -> int | None:
    return parse_agency_code(code).level if is_agency_code(code) else None


def _parent(code: str) -> str | None:
    if not is_agency_code(code):
        return None
    parent = parse_agency_code(code).parent
    return None if parent is None else str(parent)


def _parents_first(entries: Iterable[AgencyEntry]) -> list[AgencyEntry]:
    """Order entries so that a parent (and a successor) is written before who refers to it."""
    pending = {e.code: e for e in entries}
    ordered: list[AgencyEntry] = []
    placed: set[str] = set()
    while pending:
        progressed = False
        for code, entry in list(pending.items()):
            needs = [c for c in (entry.parent,) if c and c in pending and c != code]
            if not needs:
                ordered.append(entry)
                placed.add(code)
                del pending[code]
                progressed = True
        if not progressed:  # a cycle: let the database refuse it
            ordered.extend(pending.values())
            break
    return ordered
