"""Signed-request authentication (ADR 0009) over real HTTP on 127.0.0.1: revoked, untrusted,
expired, replayed, tampered and unknown requests are refused with coded problems; OCSP is
asked of a real responder."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from fastapi import FastAPI, Request, Response
from live_hub import (
    OUTSIDER,
    RECIPIENT,
    SENDER,
    LiveHub,
    Org,
    draft,
    free_socket,
    live_hub,
    make_pki,
    serve,
)

from lienthong.client.api import HubClient, HubError
from lienthong.client.signing import RequestSigner
from lienthong.hub.api import Caller
from lienthong.hub.auth import (
    AuthError,
    NonceCache,
    OcspRevocation,
    RequestAuthenticator,
    SignedRequest,
    content_digest,
    fingerprint_of,
)
from lienthong.pki.ca import ca_subject
from lienthong.pki.keys import generate_key
from lienthong.pki.ocsp_responder import OcspResponder
from lienthong.pki.profiles import Profile

pytestmark = pytest.mark.integration


@pytest.fixture
def live(empty_db_url: str, tmp_path: Path) -> Iterator[LiveHub]:
    with live_hub(empty_db_url, tmp_path) as served:
        yield served


def _inbox(live: LiveHub, headers: dict[str, str], target: str | None = None) -> httpx.Response:
    return httpx.get(f"{live.url}{target or f'/v1/agencies/{RECIPIENT}/inbox'}", headers=headers)


def test_a_signed_request_is_accepted(live: LiveHub) -> None:
    who = live.client(SENDER).whoami()
    assert who["system_id"] == f"sys-{SENDER}"
    assert who["agencies"] == [SENDER]


def test_a_revoked_certificate_is_refused(live: LiveHub) -> None:
    client = live.client(SENDER)
    assert client.whoami()["agencies"] == [SENDER]
    live.pki.ca.revoke(
        live.org(SENDER).serial, x509.ReasonFlags.key_compromise, now=datetime.now(UTC)
    )
    live.revocation.forget()
    live.authenticator.forget()
    with pytest.raises(HubError) as refused:
        client.whoami()
    assert refused.value.code == "hub.auth_revoked"
    assert refused.value.status == 401


def test_a_replayed_request_is_refused(live: LiveHub) -> None:
    target = f"/v1/agencies/{RECIPIENT}/inbox"
    headers = live.client(RECIPIENT).signer.headers("GET", target, b"")
    assert _inbox(live, headers).status_code == 200
    again = _inbox(live, headers)
    assert again.status_code == 401
    assert again.json()["code"] == "hub.auth_replayed"


def test_a_replayed_send_duplicates_nothing(live: LiveHub) -> None:
    sender = live.client(SENDER)
    body = sender.sign(
        __import__("lienthong.domain.edxml.builder", fromlist=["build_document"]).build_document(
            draft(live.org(SENDER), [live.org(RECIPIENT)], "40"), now=datetime.now(UTC)
        )
    )
    headers = sender.signer.headers("POST", "/v1/packages", body)
    headers["Content-Type"] = "application/xml"
    first = httpx.post(f"{live.url}/v1/packages", content=body, headers=headers)
    replay = httpx.post(f"{live.url}/v1/packages", content=body, headers=headers)
    assert first.status_code == 201
    assert replay.json()["code"] == "hub.auth_replayed"
    assert len(live.client(RECIPIENT).inbox(RECIPIENT)) == 1


def test_an_old_request_is_refused(live: LiveHub) -> None:
    target = f"/v1/agencies/{RECIPIENT}/inbox"
    old = datetime.now(UTC) - timedelta(minutes=10)
    headers = live.client(RECIPIENT).signer.headers("GET", target, b"", now=old)
    answer = _inbox(live, headers)
    assert answer.status_code == 401
    assert answer.json()["code"] == "hub.auth_expired"


def test_a_request_signed_for_another_path_is_refused(live: LiveHub) -> None:
    signer = live.client(RECIPIENT).signer
    headers = signer.headers("GET", f"/v1/agencies/{RECIPIENT}/sent", b"")
    answer = _inbox(live, headers)
    assert answer.json()["code"] == "hub.auth_invalid"
    assert answer.json()["detail"] == ""  # security refusals stay opaque


def test_a_tampered_body_is_refused(live: LiveHub) -> None:
    signer = live.client(RECIPIENT).signer
    body = b'{"agency": "%s", "ok": true}' % RECIPIENT.encode()
    headers = signer.headers("POST", "/v1/packages/1/ack", body)
    tampered = body.replace(b"true", b"false")
    answer = httpx.post(f"{live.url}/v1/packages/1/ack", content=tampered, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["code"] == "hub.auth_invalid"


def test_a_certificate_from_another_pki_is_refused(live: LiveHub) -> None:
    stranger = make_pki(datetime.now(UTC)).orgs[SENDER]
    client = stranger.client(live.url)
    try:
        with pytest.raises(HubError) as refused:
            client.whoami()
    finally:
        client.close()
    assert refused.value.code == "hub.auth_untrusted"


def test_a_certificate_of_no_system_is_refused(live: LiveHub) -> None:
    with pytest.raises(HubError) as refused:
        live.client(OUTSIDER).whoami()
    assert refused.value.code == "hub.auth_unknown_system"
    assert refused.value.status == 403


def test_an_expired_certificate_is_refused(live: LiveHub) -> None:
    past = datetime.now(UTC) - timedelta(days=30)
    expired = live.pki.issue("000.00.13.H41", "Sở cũ", now=past, validity=timedelta(days=1))
    client = expired.client(live.url)
    try:
        with pytest.raises(HubError) as refused:
            client.whoami()
    finally:
        client.close()
    assert refused.value.code == "hub.auth_untrusted"


@pytest.mark.unit
def test_nonces_expire_and_repeat_within_the_window() -> None:
    cache = NonceCache(timedelta(seconds=60))
    assert cache.first_use("a")
    assert not cache.first_use("a")
    assert cache.first_use("b")
    short = NonceCache(timedelta(seconds=0))
    assert short.first_use("a")
    assert short.first_use("a")  # expired at once


@pytest.mark.unit
def test_missing_headers_are_refused_before_any_crypto() -> None:
    authenticator = RequestAuthenticator(trust_roots=[], resolve=lambda _: None, revocation=None)
    request = SignedRequest("GET", "/v1/whoami", {"content-digest": content_digest(b"")}, b"")
    with pytest.raises(AuthError) as refused:
        authenticator.authenticate(request, now=datetime.now(UTC))
    assert refused.value.code == "hub.auth_missing"
    bad = SignedRequest(
        "GET", "/v1/whoami",
        {"lienthong-certificate": base64.b64encode(b"junk").decode(), "lienthong-date": "x",
         "lienthong-nonce": "n" * 16, "lienthong-signature": "AA=="},
        b"",
    )  # fmt: skip
    with pytest.raises(AuthError) as garbled:
        authenticator.authenticate(bad, now=datetime.now(UTC))
    assert garbled.value.code == "hub.auth_invalid"


def test_revocation_is_checked_by_ocsp(empty_db_url: str, tmp_path: Path) -> None:
    """The certificates name a real OCSP responder on 127.0.0.1 (the PKI's own); the hub asks
    it, and a revocation is seen once the cached answer expires."""
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    now = datetime.now(UTC)
    pki = make_pki(now, status_base=f"http://127.0.0.1:{port}")
    signer_key = generate_key("p256")
    signer = pki.ca.issue(
        signer_key.public_key(), ca_subject("OCSP thử nghiệm"), Profile.OCSP_SIGNING, now=now
    )
    responder = OcspResponder(pki.ca, signer.certificate, signer_key, refresh_before=timedelta(0))
    ocsp_app = FastAPI()

    @ocsp_app.post("/ocsp/{name}")
    async def answer(name: str, request: Request) -> Response:
        der = responder.respond(await request.body(), now=datetime.now(UTC))
        return Response(der, media_type="application/ocsp-response")

    checker = OcspRevocation(max_age=timedelta(0))
    with (
        serve(ocsp_app, port=port),
        live_hub(empty_db_url, tmp_path, pki=pki, checker=checker) as live,
    ):
        client = live.client(SENDER)
        assert client.whoami()["agencies"] == [SENDER]
        pki.ca.revoke(pki.orgs[SENDER].serial, x509.ReasonFlags.superseded, now=datetime.now(UTC))
        live.authenticator.forget()
        with pytest.raises(HubError) as refused:
            client.whoami()
        assert refused.value.code == "hub.auth_revoked"
    checker.close()


def test_an_unreachable_ocsp_responder_fails_closed(empty_db_url: str, tmp_path: Path) -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()  # nobody listens there
    pki = make_pki(datetime.now(UTC), status_base=f"http://127.0.0.1:{port}")
    checker = OcspRevocation(timeout=2.0)
    with live_hub(empty_db_url, tmp_path, pki=pki, checker=checker) as live:
        client: HubClient = live.client(SENDER, retries=0)
        with pytest.raises(HubError) as refused:
            client.whoami()
    checker.close()
    assert refused.value.code == "hub.auth_revocation_unknown"
    assert refused.value.status == 503


@pytest.mark.unit
def test_operator_certificates_get_the_operator_role() -> None:
    now = datetime.now(UTC)
    pki = make_pki(now)
    operator, clerk = pki.orgs[SENDER], pki.orgs[RECIPIENT]
    systems = {
        fingerprint_of(o.certificate): Caller(f"sys-{o.code}", frozenset({o.code}))
        for o in (operator, clerk)
    }
    authenticator = RequestAuthenticator(
        trust_roots=[pki.root], resolve=systems.get, revocation=None,
        operators=[fingerprint_of(operator.certificate)],
    )  # fmt: skip

    def caller_of(org: Org) -> Caller:
        signer = RequestSigner(org.key, org.certificate, org.chain)
        headers = {k.lower(): v for k, v in signer.headers("GET", "/v1/whoami", b"").items()}
        return authenticator.authenticate(SignedRequest("GET", "/v1/whoami", headers, b""), now=now)

    assert caller_of(operator).operator
    assert not caller_of(clerk).operator
