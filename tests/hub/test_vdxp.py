"""The national SDK's protocol (VDXP) against a live hub on 127.0.0.1, on SQLite and PostgreSQL.

Every call goes through :class:`lienthong.client.vdxp.VdxpClient` (which speaks only that
protocol: signed headers, HMAC, the SDK's JSON) or through raw HTTP built the same way, to a
real uvicorn serving :func:`lienthong.hub.vdxp.vdxp_router` over the real
:class:`lienthong.hub.service.Hub`. Documents are signed with a real organisation certificate
from a CA directory made by ``init_directory``.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from lienthong.authority.service import init_directory
from lienthong.client.vdxp import (
    VdxpCallError,
    VdxpClient,
    java_sha256_hex,
    sign_headers,
    vdxp_timestamp,
)
from lienthong.domain.edxml import Organization, parse_package, serialize_package
from lienthong.domain.edxml.builder import DocumentDraft, build_document, build_status
from lienthong.domain.status import StatusCode
from lienthong.hub.service import Hub
from lienthong.hub.vdxp import (
    PATH_PREFIX,
    VdxpSettings,
    vdxp_router,
)
from lienthong.signing.identity import ca_directory_identity
from lienthong.signing.pdf import SigningIdentity
from lienthong.signing.xmldsig import sign_envelope
from lienthong.store.blobs import BlobStore
from lienthong.store.engine import create_engine, write_transaction
from lienthong.store.hub_store import SystemRepository
from lienthong.store.migrate import upgrade
from lienthong.store.repositories import AgencyRepository

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PASSPHRASE = "mật-khẩu thử VDXP"
#: The demo organisation certificate of ``init_directory`` names this agency.
SO_TTTT = "000.00.12.H41"  # Sở Thông tin và Truyền thông tỉnh Nghệ An (sender)
UBND_NA = "000.00.00.H41"  # UBND tỉnh Nghệ An
VPCP = "000.00.00.G22"  # Văn phòng Chính phủ (recipient)
TAY_NINH = "000.00.00.H53"  # an agency of a third system (the intruder)

SENDER = ("sys.nghean", "bí-mật-nghệ-an")
RECEIVER = ("sys.vpcp", "secret-vpcp-0123456789")
INTRUDER = ("sys.tayninh", "secret-tay-ninh")

_numbers = itertools.count(1)


@dataclass(frozen=True)
class Live:
    """A hub served over VDXP, and what the tests need to talk to it."""

    url: str  #: ``…/XrdAdapter/adapter``
    hub: Hub
    engine: Engine
    signer: SigningIdentity

    def client(self, who: tuple[str, str], **kwargs: object) -> VdxpClient:
        return VdxpClient(self.url, who[0], who[1], **kwargs)  # type: ignore[arg-type]


def _free_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def _start(app: FastAPI, sock: socket.socket) -> tuple[uvicorn.Server, threading.Thread]:
    config = uvicorn.Config(
        app, log_level="warning", ws="none", lifespan="off", access_log=False, http="h11"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    return server, thread


@contextmanager
def serve(app: FastAPI, sock: socket.socket | None = None, delay: float = 0.0) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 in a thread (after ``delay`` seconds, during
    which connections are refused); yield its base URL."""
    sock = sock or _free_socket()
    host, port = sock.getsockname()[:2]
    started: list[tuple[uvicorn.Server, threading.Thread]] = []
    timer = threading.Timer(delay, lambda: started.append(_start(app, sock)))
    timer.start()
    if not delay:
        timer.join()
        deadline = time.monotonic() + 10
        while not started[0][0].started:
            if not started[0][1].is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        timer.join()
        for server, thread in started:
            server.should_exit = True
            thread.join(timeout=10)
        sock.close()


def _registry(engine: Engine, now: datetime) -> None:
    with write_transaction(engine) as connection:
        agencies = AgencyRepository(connection)
        agencies.add(code=UBND_NA, name="UBND tỉnh Nghệ An", created_at=now, level=1)
        agencies.add(
            code=SO_TTTT, name="Sở TTTT Nghệ An", created_at=now, level=2, parent_code=UBND_NA
        )
        agencies.add(code=VPCP, name="Văn phòng Chính phủ", created_at=now, level=1)
        agencies.add(code=TAY_NINH, name="UBND tỉnh Tây Ninh", created_at=now, level=1)
        systems = SystemRepository(connection)
        for (system_id, secret), codes in (
            (SENDER, [UBND_NA, SO_TTTT]),
            (RECEIVER, [VPCP]),
            (INTRUDER, [TAY_NINH]),
        ):
            systems.add(
                system_id=system_id, name=system_id, agencies=codes, created_at=now, secret=secret
            )


@pytest.fixture(scope="module")
def ca_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("vdxp-ca") / "ca"
    init_directory(directory, passphrase=PASSPHRASE, now=datetime.now(UTC))
    return directory


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", marks=pytest.mark.integration),
        pytest.param("postgresql", marks=pytest.mark.integration),
    ],
)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, ca_directory: Path
) -> Iterator[Live]:
    """A fresh database per back-end, the registry, a Hub and the VDXP router served live."""
    tmp = tmp_path_factory.mktemp(f"vdxp-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'hub.db'}"
        drop = None
    else:
        databases = request.getfixturevalue("pg_databases")
        url = databases.create_unique()
        drop = databases
    engine = create_engine(url)
    upgrade(engine)
    _registry(engine, datetime.now(UTC))
    hub = Hub(engine, BlobStore(tmp / "blobs"))
    app = FastAPI()
    app.include_router(vdxp_router(hub))
    signer = ca_directory_identity(ca_directory, "issued/so-tttt-nghe-an", PASSPHRASE)
    try:
        with serve(app) as base:
            yield Live(base + PATH_PREFIX, hub, engine, signer)
    finally:
        hub.close()
        engine.dispose()
        if drop is not None:
            drop.drop(url)


def document(live: Live, *, sender: str = SO_TTTT, to: str = VPCP, sign: bool = True) -> bytes:
    """A new letter (a fresh number each time), signed with the organisation certificate."""
    number = next(_numbers)
    draft = DocumentDraft(
        sender=Organization(organ_id=sender, organ_name="Sở Thông tin và Truyền thông"),
        recipients=[Organization(organ_id=to, organ_name="Văn phòng Chính phủ")],
        code_number=f"{number:02d}",
        code_notation=f"STTTT-VDXP{time.monotonic_ns() % 10**9}",
        promulgation_date=date.today(),
        place="Nghệ An",
        subject=f"Công văn thử nghiệm giao thức VDXP số {number}",
    )
    data = serialize_package(build_document(draft, now=datetime.now(UTC)))
    if sign:
        data = sign_envelope(data, live.signer.key, live.signer.certificate, live.signer.chain)
    return data


def status_about(original: bytes, code: StatusCode, *, sender: str = VPCP) -> bytes:
    header = parse_package(original).header
    package = build_status(
        sender=Organization(organ_id=sender, organ_name="Văn phòng Chính phủ"),
        original=header,
        status=code,
        at=datetime.now(UTC),
    )
    return serialize_package(package)


def refused(error: pytest.ExceptionInfo[VdxpCallError], number: str, code: str) -> None:
    assert (error.value.error_code, error.value.code) == (number, code), error.value.description


def raw_post(
    live: Live,
    method: str,
    params: dict[str, str],
    secret: str,
    *,
    body: bytes = b"",
    edit: dict[str, str] | None = None,
) -> dict[str, object]:
    """A hand-made SDK request (``edit`` overrides headers after signing)."""
    headers = dict(sign_headers(params, secret))
    headers.update(edit or {})
    response = httpx.post(
        f"{live.url}/{method}",
        headers={k: v.encode() for k, v in headers.items()},
        content=body,
        timeout=30,
    )
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) >= {"status", "ErrorCode", "ErrorDesc"}
    return answer  # type: ignore[no-any-return]


def base_params(system_id: str, **extra: str) -> dict[str, str]:
    return {"timestamp": vdxp_timestamp(datetime.now(UTC)), "systemid": system_id, **extra}


# --------------------------------------------------------------------------- round trip
def test_send_receive_acknowledge_and_every_status_back(live: Live) -> None:
    edxml = document(live)
    sent_at = datetime.now(UTC)
    with (
        live.client(SENDER, sticky=True) as sender,
        live.client(RECEIVER, sticky=True) as receiver,
    ):
        result = sender.send_edoc(edxml, sender=SO_TTTT, to=[VPCP])
        assert result.doc_id.isdigit()
        assert not result.duplicate

        inbox = [i for i in receiver.received_list() if i.document_id == result.document_id]
        assert len(inbox) == 1
        item = inbox[0]
        assert (item.sender, item.recipient, item.message_type) == (SO_TTTT, VPCP, "edoc")
        assert item.doc_id == f"{result.doc_id}_{VPCP}"

        fetched = receiver.get_edoc(item.doc_id)
        package = parse_package(fetched)
        assert package.header.document_id == result.document_id
        hops = package.envelope.header.trace_header_list.trace_headers  # type: ignore[union-attr]
        assert len(hops) == 2  # the sender's and the hub's own TraceHeader

        # Fetched but not acknowledged: redelivered.
        assert any(i.doc_id == item.doc_id for i in receiver.received_list())
        receiver.update_status(item.doc_id, "done")
        assert all(i.doc_id != item.doc_id for i in receiver.received_list())

        for code in ("01", "03", "04", "05", "06"):
            answer = receiver.send_status(status_about(edxml, StatusCode(code)), sender=VPCP)
            assert answer.doc_id.isdigit()

        statuses = [
            s for s in sender.received_list("status") if s.document_id == result.document_id
        ]
        assert len(statuses) == 5
        for status in statuses:
            data = sender.get_edoc(status.doc_id)
            assert parse_package(data).header.status_code in {"01", "03", "04", "05", "06"}
            sender.update_status(status.doc_id, "done")

        rows = [r for r in sender.sent_list() if r.sender_doc_id == result.doc_id]
        assert len(rows) == 1
        row = rows[0]
        assert (row.from_code, row.to_code, row.send_status) == (SO_TTTT, VPCP, "done")
        assert row.receive_status == "06"
        assert row.statuses == ("01", "03", "04", "05", "06")
        assert row.raw["sentTime"] >= sent_at.astimezone().strftime("%Y/%m/%d")


def test_a_send_is_retried_until_the_hub_answers(live: Live) -> None:
    app = FastAPI()
    app.include_router(vdxp_router(live.hub))
    edxml = document(live)
    with serve(app, delay=0.5) as base:
        # Nothing listens for half a second: the first attempts are refused connections.
        client = VdxpClient(base + PATH_PREFIX, *SENDER, retries=6, backoff=0.1)
        with client:
            started = time.monotonic()
            result = client.send_edoc(edxml, sender=SO_TTTT)
            assert time.monotonic() - started >= 0.4
            again = client.send_edoc(edxml, sender=SO_TTTT)
    assert result.doc_id.isdigit()
    assert (again.doc_id, again.duplicate) == (result.doc_id, True)


def test_a_list_of_statuses_pages_past_documents(live: Live) -> None:
    app = FastAPI()
    app.include_router(vdxp_router(live.hub, settings=VdxpSettings(list_limit=1)))
    with serve(app) as base, live.client(SENDER) as sender:
        url = base + PATH_PREFIX
        for _ in range(3):  # documents waiting for VPCP, before the status
            sender.send_edoc(document(live), sender=SO_TTTT)
        # VPCP sends a document (unsigned: accepted and flagged by default); the Sở answers 01.
        letter = document(live, sender=VPCP, to=SO_TTTT, sign=False)
        with live.client(RECEIVER) as vpcp:
            vpcp.send_edoc(letter, sender=VPCP)
        sender.send_status(status_about(letter, StatusCode.ARRIVED, sender=SO_TTTT), sender=SO_TTTT)
        with VdxpClient(url, *RECEIVER) as small:
            documents = small.received_list("edoc")
            statuses = small.received_list("status")
    assert len(documents) == 1  # the limit
    assert [s.message_type for s in statuses] == ["status"]
    assert statuses[0].document_id == parse_package(letter).header.document_id


def test_a_hash_in_full_hex_is_accepted_too(live: Live) -> None:
    with live.client(SENDER) as sender:
        result = sender.send_edoc(document(live), sender=SO_TTTT, java_hash=False)
    assert result.doc_id.isdigit()


# --------------------------------------------------------------------------- authentication
def test_a_wrong_secret_or_an_unknown_system_is_one_opaque_refusal(live: Live) -> None:
    with VdxpClient(live.url, RECEIVER[0], "not-the-secret") as wrong:
        with pytest.raises(VdxpCallError) as error:
            wrong.received_list()
        refused(error, "1002", "vdxp.auth_failed")
        assert "(" not in error.value.description  # no detail for a security refusal
    with VdxpClient(live.url, "sys.nobody", RECEIVER[1]) as unknown:
        with pytest.raises(VdxpCallError) as error:
            unknown.received_list()
        refused(error, "1002", "vdxp.auth_failed")


def test_tampered_headers_are_refused(live: Live) -> None:
    system_id, secret = RECEIVER
    params = base_params(system_id, docId="1_" + VPCP)
    # A copy of a signed parameter edited after signing.
    answer = raw_post(live, "getEdoc", params, secret, edit={"XroadVnpt-docId": "2_" + VPCP})
    assert (answer["status"], answer["ErrorCode"], answer["code"]) == (
        "FAIL",
        "1003",
        "vdxp.header_mismatch",
    )
    # The signed JSON itself edited: the HMAC no longer matches.
    signed = dict(sign_headers(params, secret))["XroadVnpt-sign-header"]
    forged = signed.replace(f"1_{VPCP}", f"2_{VPCP}")
    answer = raw_post(live, "getEdoc", params, secret, edit={"XroadVnpt-sign-header": forged})
    assert (answer["ErrorCode"], answer["code"]) == ("1002", "vdxp.auth_failed")
    # No signature at all.
    response = httpx.post(f"{live.url}/getEdoc", headers={"docId": "1"}, timeout=30)
    assert response.json()["ErrorCode"] == "1001"
    # A parameter that was not signed never reaches the hub.
    answer = raw_post(live, "getEdoc", base_params(system_id), secret, edit={"docId": "1"})
    assert (answer["ErrorCode"], answer["code"]) == ("1006", "vdxp.missing_parameter")


def test_a_replayed_send_neither_duplicates_nor_carries_another_body(live: Live) -> None:
    system_id, secret = SENDER
    edxml = document(live)
    params = base_params(
        system_id, **{"from": SO_TTTT, "messagetype": "edoc", "hash-file": java_sha256_hex(edxml)}
    )
    first = raw_post(live, "sendEdoc", params, secret, body=edxml)
    assert first["status"] == "OK"
    assert first["duplicate"] is False
    for _ in range(2):  # the captured request, replayed as is
        again = raw_post(live, "sendEdoc", params, secret, body=edxml)
        assert (again["DocId"], again["duplicate"]) == (first["DocId"], True)
    # The same signed headers with another package: hash-file binds the body.
    other = raw_post(live, "sendEdoc", params, secret, body=document(live))
    assert (other["ErrorCode"], other["code"]) == ("1009", "vdxp.hash_mismatch")
    # Without hash-file the hub refuses a send (the body would be unauthenticated).
    bare = base_params(system_id, **{"from": SO_TTTT, "messagetype": "edoc"})
    answer = raw_post(live, "sendEdoc", bare, secret, body=edxml)
    assert (answer["ErrorCode"], answer["code"]) == ("1006", "vdxp.missing_parameter")

    with live.client(RECEIVER) as receiver:
        mine = [i for i in receiver.received_list() if i.document_id == first["documentId"]]
    assert len(mine) == 1


# --------------------------------------------------------------------------- authorisation
def test_another_system_reads_nothing_it_was_not_sent(live: Live) -> None:
    with live.client(SENDER) as sender:
        result = sender.send_edoc(document(live), sender=SO_TTTT)
    doc_id = f"{result.doc_id}_{VPCP}"
    with live.client(INTRUDER) as intruder:
        assert all(i.document_id != result.document_id for i in intruder.received_list())
        with pytest.raises(VdxpCallError) as error:
            intruder.get_edoc(doc_id)
        refused(error, "2005", "vdxp.not_your_agency")
        with pytest.raises(VdxpCallError) as error:
            intruder.get_edoc(result.doc_id)  # the bare package number
        refused(error, "3001", "hub.not_found")
        with pytest.raises(VdxpCallError) as error:
            intruder.update_status(doc_id, "done")
        refused(error, "2005", "vdxp.not_your_agency")
        with pytest.raises(VdxpCallError) as error:
            intruder.get_edoc(f"{result.doc_id}_{TAY_NINH}")
        refused(error, "3001", "hub.not_found")
        # Sending as someone else's agency: refused by the hub (the From of the package).
        with pytest.raises(VdxpCallError) as error:
            intruder.send_edoc(document(live, sign=False), sender=TAY_NINH)
        refused(error, "2003", "hub.forged_sender")
        with pytest.raises(VdxpCallError) as error:
            intruder.send_edoc(document(live, sign=False), sender=SO_TTTT)
        refused(error, "2005", "vdxp.not_your_agency")
    # The recipient still has it, untouched.
    with live.client(RECEIVER) as receiver:
        mine = [i for i in receiver.received_list() if i.doc_id == doc_id]
    assert [i.status for i in mine] == ["queued"]


def test_a_status_for_a_package_the_agency_never_received_is_refused(live: Live) -> None:
    edxml = document(live)
    with live.client(SENDER) as sender:
        sender.send_edoc(edxml, sender=SO_TTTT)
    with live.client(INTRUDER) as intruder, pytest.raises(VdxpCallError) as error:
        intruder.send_status(status_about(edxml, StatusCode.DONE, sender=TAY_NINH), sender=TAY_NINH)
    refused(error, "2002", "hub.forbidden")


def test_unknown_methods_and_bad_parameters(live: Live) -> None:
    system_id, secret = RECEIVER
    answer = raw_post(live, "dropAllTables", base_params(system_id), secret)
    assert (answer["ErrorCode"], answer["code"]) == ("1008", "vdxp.unknown_method")
    answer = raw_post(
        live, "updateStatus", base_params(system_id, docid="x", status="done"), secret
    )
    assert (answer["ErrorCode"], answer["code"]) == ("1007", "vdxp.bad_parameter")
    params = base_params(system_id, docid=f"1_{VPCP}", status="processing")
    answer = raw_post(live, "updateStatus", params, secret)
    assert (answer["ErrorCode"], answer["code"]) == ("1007", "vdxp.bad_parameter")
    params = base_params(system_id, messagetype="fax")
    answer = raw_post(live, "getReceivedEdocList", params, secret)
    assert (answer["ErrorCode"], answer["code"]) == ("1007", "vdxp.bad_parameter")
    edxml = document(live)
    sender_id, sender_secret = SENDER
    extra = {"from": SO_TTTT, "to": "[not json", "hash-file": java_sha256_hex(edxml)}
    answer = raw_post(live, "sendEdoc", base_params(sender_id, **extra), sender_secret, body=edxml)
    assert (answer["ErrorCode"], answer["code"]) == ("1007", "vdxp.bad_parameter")
    params = {"timestamp": "2026-01-01T00:00:00", "systemid": system_id}
    answer = raw_post(live, "getReceivedEdocList", params, secret)
    assert (answer["ErrorCode"], answer["code"]) == ("1004", "vdxp.bad_timestamp")


# --------------------------------------------------------------------------- freshness
def test_the_default_accepts_a_timestamp_set_weeks_ago_like_the_sdks(live: Live) -> None:
    old = datetime.now(UTC) - timedelta(days=30)
    with live.client(RECEIVER, created_at=old) as receiver:
        assert isinstance(receiver.received_list(), list)


def test_a_configured_window_refuses_stale_and_future_timestamps(live: Live) -> None:
    app = FastAPI()
    window = VdxpSettings(max_age=timedelta(minutes=5), max_ahead=timedelta(minutes=1))
    hub = live.hub
    app.include_router(vdxp_router(hub, settings=window))
    with serve(app) as base:
        url = base + PATH_PREFIX
        now = datetime.now(UTC)
        for created, accepted in (
            (now - timedelta(hours=1), False),
            (now + timedelta(minutes=10), False),
            (now - timedelta(minutes=1), True),
            (now, True),
        ):
            with VdxpClient(url, RECEIVER[0], RECEIVER[1], created_at=created) as client:
                if accepted:
                    client.received_list()
                else:
                    with pytest.raises(VdxpCallError) as error:
                        client.received_list()
                    refused(error, "1005", "vdxp.stale_timestamp")
        # A long-lived client object can refresh its timestamp on every call instead.
        with VdxpClient(
            url,
            RECEIVER[0],
            RECEIVER[1],
            created_at=now - timedelta(hours=1),
            fresh_timestamps=True,
        ) as client:
            client.received_list()


# --------------------------------------------------------------------------- the registry
def test_agencies_list_register_and_delete_a_sub_unit(live: Live) -> None:
    sub = f"{next(_numbers) % 900 + 100:03d}.00.12.H41"
    with live.client(SENDER) as sender, live.client(INTRUDER) as intruder:
        codes = {a["code"] for a in sender.agencies_list()}
        assert {SO_TTTT, VPCP, UBND_NA} <= codes
        with pytest.raises(VdxpCallError) as error:
            intruder.register_agency(sub, "Phòng giả mạo", SO_TTTT)
        refused(error, "2005", "vdxp.not_your_agency")

        sender.register_agency(
            sub, "Phòng Bưu chính, Viễn thông", SO_TTTT, mail="pbcvt@x.vn", mobile="0238 3844 555"
        )
        listed = {a["code"]: a for a in sender.agencies_list()}
        assert listed[sub]["pcode"] == SO_TTTT
        assert listed[sub]["status"] == "active"
        assert listed[sub]["name"] == "Phòng Bưu chính, Viễn thông"
        assert (listed[sub]["mail"], listed[sub]["mobile"]) == ("pbcvt@x.vn", "0238 3844 555")
        info = live.hub.system_by_id(SENDER[0])
        assert info is not None
        assert sub in info.caller.agencies
        # The adapter remembers systems for a few seconds, but forgets this one at once:
        # the new unit may send straight away (unsigned: the certificate is Sở TT&TT's).
        accepted = sender.send_edoc(document(live, sender=sub, sign=False), sender=sub)
        assert accepted.doc_id

        with pytest.raises(VdxpCallError) as error:
            intruder.delete_agency(sub)
        refused(error, "2005", "vdxp.not_your_agency")
        with pytest.raises(VdxpCallError) as error:
            sender.delete_agency(UBND_NA)  # a top-level agency of the system
        refused(error, "2005", "vdxp.not_your_agency")
        sender.delete_agency(sub)
        listed = {a["code"]: a for a in sender.agencies_list()}
        assert (listed[sub]["status"], listed[sub]["successor"]) == ("retired", SO_TTTT)
