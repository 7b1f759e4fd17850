"""The VDXP client writes what the national Java SDK writes (headers, JSON, HMAC, hashes)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lienthong.client.vdxp import (
    VdxpCallError,
    VdxpClient,
    gson_json,
    java_sha256_hex,
    sign_headers,
    vdxp_timestamp,
)
from lienthong.hub.vdxp import VdxpError, check_hash_file, parse_timestamp

pytestmark = pytest.mark.unit


def test_gson_json_is_compact_ordered_and_html_escaped() -> None:
    text = gson_json({"XroadVnpt-b": "x<y>&z='q'", "XroadVnpt-a": "Sở Nội vụ"})
    # Gson: no spaces, insertion order, non-ASCII kept, HTML characters escaped.
    assert text == (
        '{"XroadVnpt-b":"x\\u003cy\\u003e\\u0026z\\u003d\\u0027q\\u0027","XroadVnpt-a":"Sở Nội vụ"}'
    )
    assert json.loads(text) == {"XroadVnpt-b": "x<y>&z='q'", "XroadVnpt-a": "Sở Nội vụ"}


def test_java_hash_drops_each_bytes_leading_zero() -> None:
    # The SDK writes Integer.toHexString(0xFF & b): "0a" becomes "a".
    data = b"edxml"
    digest = hashlib.sha256(data).digest()
    expected = "".join(hex(b)[2:] for b in digest)
    assert java_sha256_hex(data) == expected
    # For this input some byte is below 0x10, so the two forms differ (the test can fail).
    assert any(b < 0x10 for b in digest)
    assert len(java_sha256_hex(data)) < 64


@given(st.binary(max_size=200))
def test_the_hub_accepts_both_hash_forms_and_nothing_else(data: bytes) -> None:
    check_hash_file(data, java_sha256_hex(data), required=True)
    check_hash_file(data, hashlib.sha256(data).hexdigest().upper(), required=True)
    with pytest.raises(VdxpError, match="hash_mismatch"):
        check_hash_file(data + b"!", hashlib.sha256(data).hexdigest(), required=True)


def test_timestamp_is_the_sdk_format_in_vietnam_time() -> None:
    at = datetime(2026, 1, 2, 17, 4, 5, 123456, tzinfo=UTC)
    assert vdxp_timestamp(at) == "03012026T000405+0123"
    assert parse_timestamp("03012026T000405+0123") == at.replace(microsecond=123000)


def test_sign_headers_match_an_independent_hmac() -> None:
    params = {"timestamp": "03012026T000405+0123", "systemid": "sys.h41", "docId": "7_000"}
    headers = dict(sign_headers(params, "bí-mật"))
    document = headers["XroadVnpt-sign-header"]
    assert document == (
        '{"XroadVnpt-timestamp":"03012026T000405+0123",'
        '"XroadVnpt-systemid":"sys.h41","XroadVnpt-docId":"7_000"}'
    )
    expected = hmac.new("bí-mật".encode(), document.encode(), hashlib.sha256).hexdigest()
    assert headers["XroadVnpt-hash-header"] == expected
    assert headers["XroadVnpt-sign-header-key"] == "timestamp;systemid;docId"
    assert headers["XroadVnpt-docId"] == "7_000"


def test_the_timestamp_is_set_once_per_client_object_like_the_sdk() -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    client = VdxpClient("http://127.0.0.1:9/XrdAdapter/adapter", "s", "k", created_at=created)
    try:
        first = client.params_for({}, "application/json")["timestamp"]
        second = client.params_for({"docId": "1"}, "application/json")["timestamp"]
        assert first == second == vdxp_timestamp(created)
    finally:
        client.close()


def test_a_sticky_client_keeps_and_signs_every_header_it_ever_set() -> None:
    client = VdxpClient("http://127.0.0.1:9/XrdAdapter/adapter", "s", "k", sticky=True)
    try:
        client.params_for({"docId": "1"}, "application/json")
        later = client.params_for({"status": "done"}, "application/json")
        assert later["docId"] == "1"
        assert later["status"] == "done"
    finally:
        client.close()


def test_a_refusal_keeps_the_sdk_error_code_and_the_catalogue_code() -> None:
    error = VdxpCallError("1002", "Xác thực thất bại / failed", "vdxp.auth_failed")
    assert error.code == "vdxp.auth_failed"
    assert error.error_code == "1002"
    unknown = VdxpCallError("77", "other hub", "not.a.code")
    assert unknown.code == "vdxp.failed"


def test_every_code_the_hub_can_answer_has_a_stable_sdk_error_code() -> None:
    from lienthong.domain.errors import CATALOGUE
    from lienthong.hub.vdxp import ERROR_NUMBERS, INTERNAL_ERROR, error_number

    numbers = list(ERROR_NUMBERS.values())
    assert len(numbers) == len(set(numbers))  # one number, one meaning
    for code in CATALOGUE:
        if code.startswith(("vdxp.", "hub.")) and code != "vdxp.failed":
            assert error_number(code) != INTERNAL_ERROR, code
    assert all(code in ERROR_NUMBERS for code in CATALOGUE if code.startswith("vdxp.auth"))


def test_docs_list_every_sdk_error_code() -> None:
    from pathlib import Path

    from lienthong.hub.vdxp import ERROR_NUMBERS

    text = (Path(__file__).parents[2] / "docs" / "vdxp.md").read_text(encoding="utf-8")
    for code, number in ERROR_NUMBERS.items():
        assert f"| `{number}` | `{code}` |" in text, code


def test_the_freshness_window_is_configured_from_the_environment() -> None:
    from datetime import timedelta

    from lienthong.hub.vdxp import VdxpSettings

    default = VdxpSettings.from_env({})
    assert (default.max_age, default.max_ahead, default.require_hash_file) == (None, None, True)
    strict = VdxpSettings.from_env(
        {
            "LIENTHONG_VDXP_MAX_AGE": "900",
            "LIENTHONG_VDXP_MAX_AHEAD": "120",
            "LIENTHONG_VDXP_REQUIRE_HASH_FILE": "0",
        }
    )
    assert strict.max_age == timedelta(minutes=15)
    assert strict.max_ahead == timedelta(minutes=2)
    assert strict.require_hash_file is False
    with pytest.raises(VdxpError, match="bad_parameter"):
        VdxpSettings.from_env({"LIENTHONG_VDXP_MAX_AGE": "fifteen minutes"})


def test_docs_list_the_demo_systems_and_their_secrets() -> None:
    from pathlib import Path

    from lienthong.hub.registry import demo_registry

    text = (Path(__file__).parents[2] / "docs" / "vdxp.md").read_text(encoding="utf-8")
    for system in demo_registry().systems:
        assert f"| `{system.system_id}` | `{system.secret}` |" in text, system.system_id
