"""Fixtures for the edXML tests: the real sample packages, read once per session."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import pytest

from lienthong.domain.edxml import Package, parse_package

from .strategies import SAMPLES_DIR, read_sample


@pytest.fixture(scope="session")
def sample_bytes() -> Callable[[str], bytes]:
    """``sample_bytes("truclienthong-example/resources_status.edxml")``: the file's bytes.

    A missing samples folder fails the test (it is part of the suite, never optional).
    """
    if not SAMPLES_DIR.is_dir():
        pytest.fail(f"edXML samples not found at {SAMPLES_DIR} (expected beside the checkout)")
    return cache(read_sample)


@pytest.fixture(scope="session")
def sample(sample_bytes: Callable[[str], bytes]) -> Callable[[str], Package]:
    """``sample("truclienthong-example/resources_status.edxml")``: the parsed package."""

    @cache
    def load(name: str) -> Package:
        return parse_package(sample_bytes(name))

    return load
