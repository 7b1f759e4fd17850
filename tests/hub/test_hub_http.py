"""Our ``/v1`` API over real HTTP on 127.0.0.1: two agencies exchange a signed document end to
end, statuses come back, push (SSE and long-poll) is prompt, refusals are coded problems."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from live_hub import OUTSIDER, RECIPIENT, SENDER, LiveHub, draft, live_hub, serve
from starlette.concurrency import run_in_threadpool

from lienthong.client.api import HubClient, HubError, HubEvent, ReceiveState
from lienthong.domain.edxml import parse_package, serialize_package
from lienthong.domain.edxml.builder import build_document
from lienthong.domain.status import StatusCode
from lienthong.hub.http import create_hub_app
from lienthong.hub.push import Notifier, PgNotifyBridge
from lienthong.hub.service import Hub
from lienthong.signing.xmldsig import sign_envelope
from lienthong.store.blobs import BlobStore
from lienthong.store.engine import create_engine

pytestmark = pytest.mark.integration


@pytest.fixture
def live(empty_db_url: str, tmp_path: Path) -> Iterator[LiveHub]:
    with live_hub(empty_db_url, tmp_path) as served:
        yield served


def test_two_agencies_exchange_a_signed_document(live: LiveHub) -> None:
    sender, recipient = live.client(SENDER), live.client(RECIPIENT)
    letter = draft(live.org(SENDER), [live.org(RECIPIENT)], "101")
    receipt = sender.send_document(letter)
    assert receipt.recipients == (RECIPIENT,)
    assert not receipt.duplicate

    items = recipient.inbox(RECIPIENT)
    assert [i["package_id"] for i in items] == [receipt.package_id]
    assert items[0]["sender"] == SENDER
    data = recipient.fetch(receipt.package_id, RECIPIENT)
    package = parse_package(data)
    assert package.header.document_id == receipt.document_id
    traces = package.envelope.header.trace_header_list.trace_headers  # type: ignore[union-attr]
    assert len(traces) == 2  # the sender's and the hub's own

    ack = recipient.acknowledge(receipt.package_id, RECIPIENT)
    assert ack["state"] == "done"
    assert recipient.inbox(RECIPIENT) == []

    for code in ("01", "03", "04", "05", "06"):
        recipient.send_status(
            data, sender=live.org(RECIPIENT).organization, status=StatusCode(code)
        )
    sent = sender.sent(SENDER)
    view = sent[0]["recipients"][0]
    assert view["recipient"] == RECIPIENT
    assert [s["code"] for s in view["statuses"]] == ["01", "03", "04", "05", "06"]
    assert view["current_status"] == "06"


def test_a_resend_returns_the_original_receipt(live: LiveHub) -> None:
    sender = live.client(SENDER)
    signed = sender.sign(
        build_document(draft(live.org(SENDER), [live.org(RECIPIENT)], "7"), now=_now())
    )
    first = sender.send(signed)
    again = sender.send(signed)
    assert again.duplicate
    assert again.package_id == first.package_id
    assert len(live.client(RECIPIENT).inbox(RECIPIENT)) == 1


def test_send_answers_201_then_200_on_the_wire(live: LiveHub) -> None:
    sender = live.client(SENDER)
    signed = sender.sign(
        build_document(draft(live.org(SENDER), [live.org(RECIPIENT)], "8"), now=_now())
    )
    statuses = []
    for _ in range(2):
        headers = sender.signer.headers("POST", "/v1/packages", signed)
        headers["Content-Type"] = "application/xml"
        statuses.append(
            httpx.post(f"{live.url}/v1/packages", content=signed, headers=headers).status_code
        )
    assert statuses == [201, 200]


def test_sse_notifies_the_recipient_within_a_second(live: LiveHub) -> None:
    recipient, sender = live.client(RECIPIENT), live.client(SENDER)
    got: list[tuple[HubEvent, float]] = []
    ready = threading.Event()

    def listen() -> None:
        for event in recipient.stream(RECIPIENT, read_timeout=10):
            got.append((event, time.monotonic()))
            return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    ready.wait(0.5)  # the stream is open once the hub answered its first bytes
    started = time.monotonic()
    receipt = sender.send_document(draft(live.org(SENDER), [live.org(RECIPIENT)], "9"))
    thread.join(timeout=5)
    assert got, "no event arrived"
    event, at = got[0]
    assert event.kind == "package"
    assert event.package_id == receipt.package_id
    assert at - started < 1.0


def test_sse_resumes_after_the_last_event_id(live: LiveHub) -> None:
    sender, recipient = live.client(SENDER), live.client(RECIPIENT)
    first = sender.send_document(draft(live.org(SENDER), [live.org(RECIPIENT)], "10"))
    second = sender.send_document(draft(live.org(SENDER), [live.org(RECIPIENT)], "11"))
    events = iter(recipient.stream(RECIPIENT, read_timeout=5))
    one = next(events)
    assert one.package_id == first.package_id
    resumed = next(iter(recipient.stream(RECIPIENT, after=one.seq, read_timeout=5)))
    assert resumed.package_id == second.package_id


def test_long_poll_waits_and_wakes(live: LiveHub) -> None:
    recipient, sender = live.client(RECIPIENT), live.client(SENDER)
    assert recipient.poll(RECIPIENT, wait=0) == []
    timer = threading.Timer(
        0.3, lambda: sender.send_document(draft(live.org(SENDER), [live.org(RECIPIENT)], "12"))
    )
    started = time.monotonic()
    timer.start()
    events = recipient.poll(RECIPIENT, wait=10)
    elapsed = time.monotonic() - started
    timer.join()
    assert [e.kind for e in events] == ["package"]
    assert 0.25 < elapsed < 2.0


def test_reading_another_agencys_inbox_is_refused(live: LiveHub) -> None:
    sender = live.client(SENDER)
    with pytest.raises(HubError) as refused:
        sender.inbox(RECIPIENT)
    assert refused.value.status == 403
    with pytest.raises(HubError) as streaming:
        next(iter(sender.stream(RECIPIENT)))
    assert streaming.value.code == "hub.forbidden_agency"


def test_fetching_a_package_not_addressed_to_you_is_refused(live: LiveHub) -> None:
    sender, other = live.client(SENDER), live.client(RECIPIENT)
    receipt = sender.send_document(draft(live.org(SENDER), [live.org(OUTSIDER)], "13"))
    with pytest.raises(HubError) as refused:
        other.fetch(receipt.package_id, RECIPIENT)
    assert refused.value.status in (403, 404)
    assert refused.value.code.startswith("hub.")
    with pytest.raises(HubError) as not_yours:
        other.fetch(receipt.package_id, OUTSIDER)
    assert not_yours.value.status == 403


def test_a_forged_sender_is_refused(live: LiveHub) -> None:
    # The recipient's system sends a package whose From is the sender agency.
    forger = live.client(RECIPIENT)
    package = build_document(draft(live.org(SENDER), [live.org(RECIPIENT)], "14"), now=_now())
    with pytest.raises(HubError) as refused:
        forger.send(forger.sign(package))
    assert refused.value.code == "hub.forged_sender"
    assert refused.value.status == 403


def test_a_status_for_a_package_you_did_not_receive_is_refused(live: LiveHub) -> None:
    sender = live.client(SENDER)
    receipt = sender.send_document(draft(live.org(SENDER), [live.org(RECIPIENT)], "15"))
    data = live.client(RECIPIENT).fetch(receipt.package_id, RECIPIENT)
    # The sender reports "03 registered" about its own letter, as if it had received it.
    with pytest.raises(HubError) as refused:
        sender.send_status(data, sender=live.org(SENDER).organization, status=StatusCode("03"))
    assert refused.value.status in (400, 403, 409, 422)


def test_problems_are_coded_and_bilingual(live: LiveHub) -> None:
    answer = httpx.get(f"{live.url}/v1/agencies/{RECIPIENT}/inbox")
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["code"] == "hub.auth_missing"
    assert body["message_vi"]
    assert body["message_en"]
    missing = httpx.get(f"{live.url}/v1/nothing-here")
    assert missing.json()["code"] == "http.not_found"


def test_body_size_and_media_type_limits(live: LiveHub) -> None:
    sender = live.client(SENDER)
    headers = sender.signer.headers("POST", "/v1/packages", b"{}")
    headers["Content-Type"] = "application/json"
    wrong = httpx.post(f"{live.url}/v1/packages", content=b"{}", headers=headers)
    assert wrong.status_code == 415
    big = b"x" * (20 * 1024)
    headers = sender.signer.headers("POST", "/v1/packages/1/ack", big)
    too_big = httpx.post(f"{live.url}/v1/packages/1/ack", content=big, headers=headers)
    assert too_big.status_code == 413
    assert too_big.json()["code"] == "http.too_large"


def test_health_metrics_and_openapi(live: LiveHub) -> None:
    live.client(SENDER).send_document(draft(live.org(SENDER), [live.org(RECIPIENT)], "16"))
    assert httpx.get(f"{live.url}/healthz").json()["status"] == "ok"
    metrics = httpx.get(f"{live.url}/metrics").text
    assert "lienthong_hub_packages_accepted_total 1" in metrics
    assert (
        'lienthong_hub_requests_total{method="POST",route="/v1/packages",status="201"} 1' in metrics
    )
    # Where the send's time went, and the writer that committed it.
    for stage in ("check", "store", "write"):
        assert f'lienthong_hub_send_stage_seconds_count{{stage="{stage}"}} 1' in metrics
    works = re.search(r"^lienthong_hub_writer_works_total (\S+)$", metrics, re.MULTILINE)
    busy = re.search(r"^lienthong_hub_writer_busy_seconds_total (\S+)$", metrics, re.MULTILINE)
    assert works is not None
    assert float(works[1]) >= 1
    assert busy is not None
    assert float(busy[1]) > 0
    assert "lienthong_hub_writer_queue 0" in metrics
    paths = httpx.get(f"{live.url}/openapi.json").json()["paths"]
    assert "/v1/packages" in paths
    assert "/v1/agencies/{agency}/events" in paths


def test_recall_and_replace_reach_the_recipient(live: LiveHub) -> None:
    sender, recipient = live.client(SENDER), live.client(RECIPIENT)
    original = sender.send_document(draft(live.org(SENDER), [live.org(RECIPIENT)], "20"))
    replaced = sender.replace(
        draft(live.org(SENDER), [live.org(RECIPIENT)], "21"), original.document_id
    )
    recalled = sender.recall(
        draft(live.org(SENDER), [live.org(RECIPIENT)], "22"), original.document_id
    )
    business = {i["package_id"]: i["business"] for i in recipient.inbox(RECIPIENT)}
    assert business[replaced.package_id] == "3"
    assert business[recalled.package_id] == "1"


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_client_retries_do_not_duplicate(live: LiveHub) -> None:
    # A client pointed first at a dead port retries, then succeeds once against the hub.
    client: HubClient = live.client(SENDER, retries=2, backoff=0.01)
    receipt = client.send_document(draft(live.org(SENDER), [live.org(RECIPIENT)], "30"))
    again = client.send(
        client.sign(
            build_document(draft(live.org(SENDER), [live.org(RECIPIENT)], "30"), now=_now())
        )
    )
    assert again.duplicate
    assert again.package_id == receipt.package_id


def test_reports_of_the_core_are_served(live: LiveHub) -> None:
    sender, recipient = live.client(SENDER), live.client(RECIPIENT)
    receipt = sender.send_document(draft(live.org(SENDER), [live.org(RECIPIENT)], "31"))
    report = sender.report(receipt.package_id, SENDER)
    assert isinstance(report, dict)
    assert recipient.report(receipt.package_id, RECIPIENT) == report
    assert sender.undelivered() == []  # nothing is old enough yet
    assert sender.overdue() == []
    with pytest.raises(HubError) as refused:
        sender.report(receipt.package_id, RECIPIENT)
    assert refused.value.status == 403


def test_push_reaches_a_stream_served_by_another_hub_process(
    empty_db_url: str, tmp_path: Path
) -> None:
    """Two hub instances on one database (as two processes behind a load balancer): a send to
    the first wakes a stream on the second — through LISTEN/NOTIFY on PostgreSQL (well under
    the second's 5 s re-read), through the re-read safety net on SQLite."""
    postgres = empty_db_url.startswith("postgresql")
    with live_hub(empty_db_url, tmp_path) as first:
        engine = create_engine(empty_db_url)
        second_hub = Hub(engine, BlobStore(tmp_path / "blobs"))
        notifier = Notifier()
        bridges = []
        if postgres:
            bridges = [PgNotifyBridge(empty_db_url, first.app.state.notifier),
                       PgNotifyBridge(empty_db_url, notifier)]  # fmt: skip
            for bridge in bridges:
                bridge.start()
            time.sleep(0.3)  # both listeners connected
        second_app = create_hub_app(
            second_hub, authenticator=first.authenticator, notifier=notifier,
            poll_interval=5.0 if postgres else 0.5,
        )  # fmt: skip
        try:
            with serve(second_app) as second_url:
                recipient = first.org(RECIPIENT).client(second_url)
                got: list[float] = []

                def listen() -> None:
                    for _ in recipient.stream(RECIPIENT, read_timeout=10):
                        got.append(time.monotonic())
                        return

                thread = threading.Thread(target=listen, daemon=True)
                thread.start()
                time.sleep(0.5)
                started = time.monotonic()
                first.client(SENDER).send_document(
                    draft(first.org(SENDER), [first.org(RECIPIENT)], "40")
                )
                thread.join(timeout=10)
                recipient.close()
        finally:
            for bridge in bridges:
                bridge.stop()
            second_hub.close()
            engine.dispose()
        assert got, "the other process never saw the package"
        assert got[0] - started < (1.0 if postgres else 1.5)


def test_sse_heartbeats_and_last_event_id(empty_db_url: str, tmp_path: Path) -> None:
    with live_hub(empty_db_url, tmp_path, heartbeat=0.3, poll_interval=0.1) as live:
        sender = live.client(SENDER)
        first = sender.send_document(draft(live.org(SENDER), [live.org(RECIPIENT)], "50"))
        second = sender.send_document(draft(live.org(SENDER), [live.org(RECIPIENT)], "51"))
        seq = live.client(RECIPIENT).poll(RECIPIENT, wait=0)[0].seq
        target = f"/v1/agencies/{RECIPIENT}/events"
        headers = live.client(RECIPIENT).signer.headers("GET", target, b"")
        headers["Last-Event-ID"] = str(seq)
        lines: list[str] = []
        with httpx.stream("GET", live.url + target, headers=headers, timeout=5) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                lines.append(line)
                if line == ": ping":
                    break
        ids = [int(line[3:]) for line in lines if line.startswith("id: ")]
        assert len(ids) == 1  # only what came after Last-Event-ID
        assert ids[0] > seq
        data = [line for line in lines if line.startswith("data: ")]
        assert f'"package_id": {second.package_id}' in data[0]
        assert first.package_id != second.package_id


def test_an_invalid_package_is_refused_with_its_findings(live: LiveHub) -> None:
    sender = live.client(SENDER)
    letter = build_document(draft(live.org(SENDER), [live.org(RECIPIENT)], "60"), now=_now())
    # An attachment that is not base64, signed as it is.
    unsigned = serialize_package(letter).replace(
        b"ContentTransferEncoded>", b"ContentTransferEncoded>!!!", 1
    )
    body = sign_envelope(unsigned, sender.key, sender.certificate, sender.chain)
    headers = sender.signer.headers("POST", "/v1/packages", body)
    headers["Content-Type"] = "application/xml"
    answer = httpx.post(f"{live.url}/v1/packages", content=body, headers=headers)
    assert answer.status_code == 400
    problem = answer.json()
    assert problem["code"] == "hub.invalid_package"
    assert problem["findings"]
    assert "edxml.bad_base64" in [f["code"] for f in problem["findings"]]


def test_receive_falls_back_to_long_poll_when_streams_are_blocked(live: LiveHub) -> None:
    """Behind a proxy that refuses event streams (502), the receive loop long-polls."""
    upstream = httpx.Client(base_url=live.url)
    proxy = FastAPI()

    @proxy.api_route("/{path:path}", methods=["GET", "POST"])
    async def forward(path: str, request: Request) -> Response:
        if path.endswith("/events"):
            return Response(b"event streams are not allowed here", status_code=502)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        answer = await run_in_threadpool(
            upstream.request,
            request.method, target, content=await request.body(),
            headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
        )  # fmt: skip
        return Response(
            answer.content, answer.status_code, media_type=answer.headers.get("content-type")
        )

    with serve(proxy) as proxy_url:
        recipient = live.org(RECIPIENT).client(proxy_url, retries=0, backoff=0.05)
        got: list[HubEvent] = []
        stop = threading.Event()

        def handle(event: HubEvent) -> None:
            got.append(event)
            stop.set()

        loop = threading.Thread(
            target=recipient.receive, args=(RECIPIENT, handle),
            kwargs={"state": (state := ReceiveState()), "stop": stop, "poll_wait": 2.0},
            daemon=True,
        )  # fmt: skip
        loop.start()
        receipt = live.client(SENDER).send_document(
            draft(live.org(SENDER), [live.org(RECIPIENT)], "70")
        )
        loop.join(timeout=15)
        recipient.close()
    upstream.close()
    assert [e.package_id for e in got] == [receipt.package_id]
    assert state.via == "poll"
    assert "client.refused" in state.errors
