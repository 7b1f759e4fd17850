"""The VDXP adapter's memory of systems (``CachedCredentials``): fresh answers are reused for
``ttl`` seconds, stale ones are read again, unknown systems are never remembered, ``forget``
and ``ttl=0`` read the registry at once, and ``LIENTHONG_VDXP_CREDENTIALS_TTL`` sets it."""

from __future__ import annotations

import pytest

from lienthong.hub.api import Caller
from lienthong.hub.vdxp import CachedCredentials, VdxpCredentials, VdxpSettings

pytestmark = pytest.mark.unit


class Registry:
    """A registry that counts how often it is read; ``secret`` may change under the cache."""

    def __init__(self) -> None:
        self.reads = 0
        self.secret = "s1"

    def __call__(self, system_id: str) -> VdxpCredentials | None:
        self.reads += 1
        if system_id != "known":
            return None
        return VdxpCredentials(self.secret, Caller("known", frozenset({"000.00.12.H41"})))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_fresh_answers_are_reused_and_stale_ones_read_again() -> None:
    registry, clock = Registry(), Clock()
    cache = CachedCredentials(registry, ttl=5, clock=clock)
    assert cache("known").secret == "s1"  # type: ignore[union-attr]
    registry.secret = "s2"  # rotated in another process
    clock.now += 4.9
    assert cache("known").secret == "s1"  # type: ignore[union-attr]
    assert registry.reads == 1
    clock.now += 0.2
    assert cache("known").secret == "s2"  # type: ignore[union-attr]
    assert registry.reads == 2


def test_unknown_systems_are_never_remembered() -> None:
    registry = Registry()
    cache = CachedCredentials(registry, ttl=5, clock=Clock())
    for _ in range(3):
        assert cache("made-up") is None
    assert registry.reads == 3


def test_forget_and_a_zero_ttl_read_the_registry() -> None:
    registry = Registry()
    cache = CachedCredentials(registry, ttl=5, clock=Clock())
    cache("known")
    cache.forget("known")
    cache("known")
    assert registry.reads == 2
    uncached = CachedCredentials(registry, ttl=0, clock=Clock())
    uncached("known")
    uncached("known")
    assert registry.reads == 4


def test_the_cache_is_bounded() -> None:
    class Many(Registry):
        def __call__(self, system_id: str) -> VdxpCredentials | None:
            self.reads += 1
            return VdxpCredentials("s", Caller(system_id, frozenset()))

    registry = Many()
    cache = CachedCredentials(registry, ttl=60, size=10, clock=Clock())
    for n in range(25):
        cache(f"system-{n}")
    assert len(cache._known) <= 10


def test_the_ttl_comes_from_the_environment() -> None:
    assert VdxpSettings.from_env({}).credentials_ttl == 5.0
    assert VdxpSettings.from_env({"LIENTHONG_VDXP_CREDENTIALS_TTL": "0"}).credentials_ttl == 0
    assert VdxpSettings.from_env({"LIENTHONG_VDXP_CREDENTIALS_TTL": "30"}).credentials_ttl == 30
