"""The hub's registry: the demo registry, CSV import/export, loading into both engines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from lienthong.domain.errors import UsageError
from lienthong.domain.orgcode import parse_agency_code
from lienthong.hub.registry import (
    DEMO_LEVEL1,
    AgencyEntry,
    Registry,
    SystemEntry,
    agencies_from_csv,
    agencies_to_csv,
    demo_registry,
    demo_secret,
    describe_systems,
    load_registry,
    read_registry,
    systems_from_csv,
    systems_to_csv,
)
from lienthong.store.engine import create_engine
from lienthong.store.hub_store import SystemRepository
from lienthong.store.migrate import upgrade
from lienthong.store.repositories import AgencyRepository

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
SAMPLE_LEVEL1 = {"000.00.00.G22", "000.00.00.H41", "000.00.00.H14", "000.00.00.G17"}


@pytest.fixture
def fresh_engine(empty_db_url: str) -> Iterator[Engine]:
    engine = create_engine(empty_db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.mark.unit
def test_demo_registry_is_deterministic_and_consistent() -> None:
    first, second = demo_registry(), demo_registry()
    assert first == second
    codes = {a.code for a in first.agencies}
    assert codes >= SAMPLE_LEVEL1
    assert "000.00.12.H41" in codes  # the demo CA's organisation
    seen: set[str] = set()
    for agency in first.agencies:
        code = parse_agency_code(agency.code)
        assert agency.level == code.level
        parent = code.parent
        assert agency.parent == (None if parent is None else str(parent))
        if agency.parent is not None:
            assert agency.parent in seen  # parents come first
        seen.add(agency.code)
    levels = {a.level for a in first.agencies}
    assert levels == {1, 2, 3, 4}
    retired = [a for a in first.agencies if a.status == "retired"]
    assert retired
    assert all(a.successor in codes for a in retired)
    system_ids = [s.system_id for s in first.systems]
    assert len(system_ids) == len(set(system_ids)) == len(DEMO_LEVEL1) + 1
    for system in first.systems:
        assert system.secret == demo_secret(system.system_id)
    nghe_an = first.system("nghe-an")
    assert "000.00.12.H41" in nghe_an.agencies
    assert all(code.endswith("H41") for code in nghe_an.agencies)
    assert first.system("operator").operator


@pytest.mark.unit
def test_demo_registry_scales_for_benchmarks() -> None:
    big = demo_registry(per_level=(20, 9, 10))
    assert len(big.agencies) > 12_000
    assert len({a.code for a in big.agencies}) == len(big.agencies)


@pytest.mark.unit
def test_csv_round_trip() -> None:
    registry = demo_registry()
    agencies = agencies_from_csv(agencies_to_csv(registry.agencies))
    assert agencies == registry.agencies
    systems = systems_from_csv(systems_to_csv(registry.systems))
    assert systems == registry.systems


@pytest.mark.unit
def test_csv_import_fills_level_and_parent_and_refuses_bad_rows() -> None:
    text = "\ufeffcode,name\n000.00.12.H41,Sở TTTT Nghệ An\n28.22.H17,Mã cũ\n"
    entries = agencies_from_csv(text)
    assert entries[0].level == 2
    assert entries[0].parent == "000.00.00.H41"
    assert entries[1].level is None  # a legacy id is an opaque id
    assert entries[1].parent is None
    with pytest.raises(UsageError):
        agencies_from_csv("code,name\n000.00.12.H41,\n")
    with pytest.raises(UsageError):
        agencies_from_csv("code,name,status\n000.00.12.H41,X,closed\n")
    with pytest.raises(UsageError):
        systems_from_csv("system_id,name\n,X\n")


def test_load_and_read_back(fresh_engine: Engine) -> None:
    registry = demo_registry()
    load_registry(fresh_engine, registry, now=NOW)
    load_registry(fresh_engine, registry, now=NOW)  # loading again changes nothing
    with fresh_engine.connect() as connection:
        stored = read_registry(connection)
        assert {a.code for a in stored.agencies} == {a.code for a in registry.agencies}
        assert {s.system_id: s for s in stored.systems} == {
            s.system_id: SystemEntry(
                s.system_id, s.name, tuple(sorted(s.agencies)), s.secret, s.cert_sha256,
                s.operator,
            )
            for s in registry.systems
        }  # fmt: skip
        retired = AgencyRepository(connection).get("000.00.09.H41")
        assert retired.status == "retired"
        assert retired.successor_code == "000.00.12.H41"
        assert SystemRepository(connection).systems_of_agency("000.00.12.H41") == ["nghe-an"]


def test_import_csv_with_contacts_and_a_parent_outside(fresh_engine: Engine) -> None:
    agencies = agencies_from_csv(
        "code,name,email,telephone,address\n"
        "000.00.12.H41,Sở TTTT Nghệ An,stttt@nghean.gov.vn,0238 3 123 456,Vinh\n"
    )
    systems = systems_from_csv("system_id,name,agencies,secret\nna,Nghệ An,000.00.12.H41,s3\n")
    load_registry(fresh_engine, Registry(agencies, systems), now=NOW)
    with fresh_engine.connect() as connection:
        (entry,) = read_registry(connection).agencies
        assert entry == AgencyEntry(
            "000.00.12.H41", "Sở TTTT Nghệ An", 2, None, "active", None,
            "stttt@nghean.gov.vn", "0238 3 123 456", "Vinh",
        )  # fmt: skip
        system = SystemRepository(connection).get("na")
        assert system is not None
        assert system.secret == "s3"
        assert system.agencies == frozenset({"000.00.12.H41"})


@pytest.mark.unit
def test_describe_systems_lists_every_secret() -> None:
    registry = demo_registry()
    text = describe_systems(registry)
    for system in registry.systems:
        assert system.system_id in text
        assert demo_secret(system.system_id) in text


@pytest.mark.unit
def test_docs_list_the_demo_secrets() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "hub.md").read_text(encoding="utf-8")
    for system in demo_registry().systems:
        assert f"| `{system.system_id}` |" in docs
        assert f"`{demo_secret(system.system_id)}`" in docs
