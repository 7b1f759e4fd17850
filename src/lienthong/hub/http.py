"""Our own HTTP API of the hub (``/v1``), with push (SSE and long-poll), health and metrics.

:func:`create_hub_app` builds the FastAPI app over any :class:`~lienthong.hub.api.HubService`
(the core, ``lienthong.hub.service.Hub``). Every ``/v1`` request is authenticated by a
:class:`~lienthong.hub.auth.RequestAuthenticator` (signed requests, ADR 0009); the core then
checks what the caller may do. Other protocols (the VDXP adapter) are mounted with
``extra_routers``. Every refusal leaves as ``application/problem+json`` with the catalogue code
and its Vietnamese and English messages (:func:`problem`), never a traceback.

Routes (documented in ``docs/hub-api.md`` and at ``/openapi.json``):

* ``POST /v1/packages`` — a document or status package (edXML bytes): 201 with the receipt,
  200 with the original receipt for a resend of the same DocumentId.
* ``GET /v1/agencies/{code}/inbox``, ``GET /v1/packages/{id}?agency=``,
  ``POST /v1/packages/{id}/ack``, ``GET /v1/agencies/{code}/sent``.
* ``GET /v1/agencies/{code}/events`` (Server-Sent Events, ``Last-Event-ID``, heartbeats) and
  ``GET /v1/agencies/{code}/events/poll?after=&wait=`` (long-poll).
* ``GET /v1/whoami``, ``GET /healthz``, ``GET /metrics``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import functools
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lienthong.domain.errors import CATALOGUE, LienthongError
from lienthong.hub.api import Caller, Event, HubService
from lienthong.hub.auth import AuthError, RequestAuthenticator, SignedRequest
from lienthong.hub.maintenance import Maintenance
from lienthong.hub.metrics import Metrics
from lienthong.hub.push import Notifier, NotifyingHub
from lienthong.hub.service import SendTiming
from lienthong.store.group_commit import GroupCommitter
from lienthong.web import BodyTooLargeError, read_body

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
EDXML_TYPES = ("application/xml", "text/xml", "application/edxml+xml", "application/octet-stream")
#: Largest package accepted by default (the national hub's limit is of this order).
DEFAULT_MAX_BODY = 50 * 1024 * 1024
#: Largest body of any other request (an acknowledgement is a few bytes).
SMALL_BODY = 16 * 1024
HEARTBEAT_SECONDS = 15.0
MAX_WAIT_SECONDS = 60.0

T = TypeVar("T")

# --------------------------------------------------------------------------- problems
#: Status per code prefix or code, for the codes the hub raises. Checked in order.
_STATUS_BY_CODE: dict[str, int] = {
    "hub.auth_missing": 401,
    "hub.auth_invalid": 401,
    "hub.auth_untrusted": 401,
    "hub.auth_revoked": 401,
    "hub.auth_expired": 401,
    "hub.auth_replayed": 401,
    "hub.auth_unknown_system": 403,
    "hub.auth_revocation_unknown": 503,
    "hub.forbidden_agency": 403,
    "hub.operator_only": 403,
    # the core's refusals (lienthong.hub.service)
    "hub.forbidden": 403,
    "hub.forged_sender": 403,
    "hub.invalid_package": 400,
    "hub.bad_signature": 400,
    "hub.unsigned": 400,
    "hub.unknown_recipient": 422,
    "hub.no_recipient": 400,
    "hub.unknown_original": 422,
    "hub.not_found": 404,
    "hub.too_large": 413,
    "hub.unknown_system": 403,
    "usage.bad_argument": 400,
    "store.unavailable": 503,
    "store.not_found": 404,
    "store.conflict": 409,
}
#: For ``hub.*`` codes of the core, by what their name says.
_STATUS_BY_WORD: tuple[tuple[str, int], ...] = (
    ("not_found", 404),
    ("unknown", 404),
    ("forbidden", 403),
    ("not_allowed", 403),
    ("not_yours", 403),
    ("not_authorised", 403),
    ("not_authorized", 403),
    ("conflict", 409),
    ("duplicate", 409),
    ("too_large", 413),
    ("unavailable", 503),
)
_STATUS_BY_GROUP: dict[str, int] = {
    "edxml": 400,
    "orgcode": 400,
    "status": 409,
    "signing": 422,
    "verify": 422,
    "hub": 400,
}

#: Refusals of the HTTP layer itself (not in the catalogue): code → (status, vi, en).
HTTP_PROBLEMS: dict[str, tuple[int, str, str]] = {
    "http.not_found": (404, "Không tìm thấy tài nguyên", "No such resource"),
    "http.method_not_allowed": (405, "Phương thức không được hỗ trợ", "Method not allowed"),
    "http.too_large": (413, "Nội dung yêu cầu quá lớn", "Request body too large"),
    "http.unsupported_media_type": (
        415,
        "Kiểu nội dung không được hỗ trợ",
        "Unsupported media type",
    ),
    "http.bad_request": (400, "Yêu cầu không hợp lệ", "Invalid request"),
    "http.error": (500, "Lỗi máy chủ", "Internal server error"),
}


def status_for(code: str) -> int:
    """The HTTP status of a catalogue or ``http.*`` code (the one mapping of the hub)."""
    if code in _STATUS_BY_CODE:
        return _STATUS_BY_CODE[code]
    if code in HTTP_PROBLEMS:
        return HTTP_PROBLEMS[code][0]
    group, _, name = code.partition(".")
    if group == "hub":
        for word, status in _STATUS_BY_WORD:
            if word in name:
                return status
    return _STATUS_BY_GROUP.get(group, 500)


def problem(
    code: str,
    detail: str = "",
    *,
    status: int | None = None,
    vi: str = "",
    en: str = "",
    extra: Mapping[str, object] | None = None,
) -> Response:
    """An RFC 9457 problem: ``type``, ``title``, ``status``, ``code``, ``detail``,
    ``message_vi``, ``message_en``."""
    if not (vi and en):
        entry = CATALOGUE.get(code)
        if entry is not None:
            vi, en = entry.vi, entry.en
        else:
            _, vi, en = HTTP_PROBLEMS.get(code, HTTP_PROBLEMS["http.error"])
    status = status if status is not None else status_for(code)
    body = {
        "type": f"urn:lienthong:problem:{code}",
        "title": en,
        "status": status,
        "code": code,
        "detail": detail,
        "message_vi": vi,
        "message_en": en,
        **(extra or {}),
    }
    headers = {"WWW-Authenticate": "Lienthong-Signature"} if status == 401 else None
    return Response(
        json.dumps(body, ensure_ascii=False).encode(),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def error_problem(error: LienthongError) -> Response:
    """The problem for a coded error. Security refusals and 5xx keep their detail in the log."""
    status = status_for(error.code)
    detail = error.detail
    if status >= 500 or isinstance(error, AuthError):
        log.warning("refused: %s", error.describe())
        detail = ""
    findings = getattr(error, "findings", ())  # the core's validation findings, if any
    extra = {"findings": list(findings)} if findings and status < 500 else None
    return problem(
        error.code, detail, status=status, vi=error.message_vi, en=error.message_en, extra=extra
    )


class _HttpProblemError(Exception):
    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


# --------------------------------------------------------------------------- JSON shapes
def to_json(value: Any) -> Any:
    """Our dataclasses as JSON-ready values (datetimes ISO 8601, enums by value)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple | frozenset | set):
        items = [to_json(v) for v in value]
        return sorted(items) if isinstance(value, frozenset | set) else items
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    return value


def _json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(to_json(value), ensure_ascii=False).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


class Acknowledgement(BaseModel):
    """Body of ``POST /v1/packages/{id}/ack``."""

    agency: str = Field(description="The recipient agency acknowledging (mã định danh)")
    ok: bool = Field(
        default=True, description="true: received (done); false: not processable (fail)"
    )
    reason: str | None = Field(None, max_length=2000, description="Why, when ok is false")


# --------------------------------------------------------------------------- the app
async def _authenticated(request: Request) -> Caller:
    """The dependency of every ``/v1`` route: the app's authenticator, run on the request."""
    authenticate: Callable[[Request], Awaitable[Caller]] = request.app.state.authenticate
    return await authenticate(request)


AuthenticatedCaller = Annotated[Caller, Depends(_authenticated)]
AgencyCode = Annotated[str, Path(max_length=64, description="Agency code (mã định danh)")]


async def _read_body(request: Request, limit: int) -> bytes:
    try:
        return await read_body(request, limit)
    except BodyTooLargeError as exc:
        raise _HttpProblemError("http.too_large", str(exc)) from None


def _target(scope: Scope) -> str:
    raw = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    text = raw.decode("latin-1")
    return f"{text}?{query.decode('latin-1')}" if query else text


class _MetricsMiddleware:
    """Counts requests and times them per route template (pure ASGI: streams untouched)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                route = scope.get("route")
                path = getattr(route, "path", None) or "unmatched"
                self.metrics.inc(
                    "lienthong_hub_requests_total",
                    method=scope["method"],
                    route=path,
                    status=str(status["code"]),
                )
                if not path.endswith(("/events", "/events/poll")):
                    self.metrics.observe(
                        "lienthong_hub_request_seconds",
                        time.perf_counter() - started,
                        route=path,
                    )
            await send(message)

        await self.app(scope, receive, capture)


def _observe_core(hub: HubService, metrics: Metrics) -> None:
    """Count the core's accepted sends (every edge: ``/v1`` and VDXP), time their stages, and
    read its writer's totals, when the core offers them (:class:`~lienthong.hub.service.Hub`)."""
    on_sent = getattr(hub, "on_sent", None)
    if callable(on_sent):
        metrics.describe(
            "lienthong_hub_send_stage_seconds", "histogram", "Time of an accepted send by "
            "stage: check (parse, envelope signature, validation), store (blob fsync), write "
            "(queued for the writer and committed with its group)",
        )  # fmt: skip

        def sent(timing: SendTiming) -> None:
            if timing.duplicate:
                return
            metrics.inc("lienthong_hub_packages_accepted_total")
            metrics.observe("lienthong_hub_send_stage_seconds", timing.check, stage="check")
            metrics.observe("lienthong_hub_send_stage_seconds", timing.store, stage="store")
            metrics.observe("lienthong_hub_send_stage_seconds", timing.write, stage="write")

        on_sent(sent)
    committer = getattr(hub, "committer", None)
    if not isinstance(committer, GroupCommitter):
        return
    writer = committer
    metrics.describe(
        "lienthong_hub_writer_busy_seconds_total", "counter", "Seconds the writer thread spent "
        "on group commits (per second: its utilisation, summed over processes)",
    )  # fmt: skip
    metrics.describe(
        "lienthong_hub_writer_wait_seconds_total", "counter", "Of which waiting to begin: "
        "another process's writer holds SQLite's writer lock or PostgreSQL's event-order lock",
    )  # fmt: skip
    metrics.describe("lienthong_hub_writer_groups_total", "counter", "Group commits")
    metrics.describe("lienthong_hub_writer_works_total", "counter", "Writes in those groups")
    metrics.describe(
        "lienthong_hub_writer_reruns_total", "counter", "Groups run again work by work "
        "because one of their writes failed (a refusal found only in the transaction)",
    )  # fmt: skip
    metrics.describe("lienthong_hub_writer_queue", "gauge", "Writes waiting for the writer")
    metrics.counter_from("lienthong_hub_writer_busy_seconds_total", lambda: writer.busy_seconds)
    metrics.counter_from("lienthong_hub_writer_wait_seconds_total", lambda: writer.wait_seconds)
    metrics.counter_from("lienthong_hub_writer_groups_total", lambda: float(writer.groups))
    metrics.counter_from("lienthong_hub_writer_works_total", lambda: float(writer.works))
    metrics.counter_from("lienthong_hub_writer_reruns_total", lambda: float(writer.reruns))
    metrics.gauge("lienthong_hub_writer_queue", lambda: float(writer.queued()), across="sum")


def create_hub_app(  # noqa: PLR0915 - one closure per route keeps the wiring in one place
    hub: HubService,
    *,
    authenticator: RequestAuthenticator,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    notifier: Notifier | None = None,
    extra_routers: Sequence[APIRouter] = (),
    max_body: int = DEFAULT_MAX_BODY,
    poll_interval: float = 2.0,
    heartbeat: float = HEARTBEAT_SECONDS,
    health: Callable[[], Mapping[str, object]] | None = None,
    metrics: Metrics | None = None,
    call: Callable[..., Awaitable[Any]] | None = None,
    maintenance: Maintenance | None = None,
) -> FastAPI:
    """The hub's ASGI app.

    ``hub`` is wrapped in a :class:`~lienthong.hub.push.NotifyingHub` unless it already is one
    (build the wrapper yourself to give the same one to other edges). ``poll_interval`` is how
    often a waiting stream re-reads the store even if nobody woke it (a safety net across
    processes without LISTEN/NOTIFY). ``call`` runs the core's blocking calls (a thread pool by
    default). ``health`` returns extra members of ``/healthz`` (e.g. a database ping).
    ``maintenance`` (the background PDF check and reminders, ``lienthong.hub.maintenance``)
    is started with the app's lifespan, stopped at its end, and reports into ``metrics``.
    """
    service: HubService
    if isinstance(hub, NotifyingHub):
        notifier = hub.notifier
        service = hub
    else:
        notifier = notifier or Notifier()
        listen = getattr(hub, "listen", None)
        if callable(listen):  # the core tells us of every commit, whichever edge wrote it
            wake = notifier
            listen(lambda events: wake.wake({agency for agency, _ in events}))
            service = hub
        else:
            service = NotifyingHub(hub, notifier)
    metrics = metrics or Metrics()
    metrics.describe("lienthong_hub_requests_total", "counter", "HTTP requests by route and status")
    metrics.describe("lienthong_hub_request_seconds", "histogram", "Request latency")
    metrics.describe("lienthong_hub_packages_accepted_total", "counter", "Packages accepted")
    metrics.describe("lienthong_hub_refusals_total", "counter", "Refusals by error code")
    metrics.describe("lienthong_hub_stream_listeners", "gauge", "Event streams waiting")
    metrics.gauge(
        "lienthong_hub_stream_listeners", lambda: float(notifier.listening()), across="sum"
    )
    _observe_core(hub, metrics)
    run: Callable[..., Awaitable[Any]] = call or run_in_threadpool

    if maintenance is not None:
        maintenance.bind_metrics(metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        notifier.bind(asyncio.get_running_loop())
        if maintenance is not None:
            maintenance.start()
        try:
            yield
        finally:
            if maintenance is not None:
                await run_in_threadpool(maintenance.stop)
            metrics.close()  # the last snapshot for the other workers (shared metrics)

    app = FastAPI(
        title="lienthong hub — trục liên thông văn bản",
        version="1",
        description=(
            "Exchange of official documents between agencies (edXML, QCVN 102:2016). "
            "Requests are signed with the system's organisation certificate: see ADR 0009 and "
            "docs/hub-api.md."
        ),
        lifespan=lifespan,
    )
    app.state.hub = service
    app.state.notifier = notifier
    app.state.metrics = metrics

    @app.exception_handler(LienthongError)
    async def coded(_: Request, error: LienthongError) -> Response:
        metrics.inc("lienthong_hub_refusals_total", code=error.code)
        return error_problem(error)

    @app.exception_handler(_HttpProblemError)
    async def http_refusal(_: Request, error: _HttpProblemError) -> Response:
        metrics.inc("lienthong_hub_refusals_total", code=error.code)
        return problem(error.code, error.detail)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> Response:
        parts = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in error.errors()
        ]
        return problem("usage.bad_argument", "; ".join(parts)[:500])

    @app.exception_handler(StarletteHTTPException)
    async def starlette_refusal(_: Request, error: StarletteHTTPException) -> Response:
        code = {404: "http.not_found", 405: "http.method_not_allowed"}.get(
            error.status_code, "http.bad_request"
        )
        return problem(code, status=error.status_code)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> Response:
        log.error("unexpected error", exc_info=error)
        return problem("http.error")

    async def authenticate(request: Request) -> Caller:
        limit = max_body if request.url.path == "/v1/packages" else SMALL_BODY
        body = await _read_body(request, limit)
        request.state.body = body
        signed = SignedRequest(
            method=request.method,
            target=_target(request.scope),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
        )
        caller: Caller = await run(
            functools.partial(authenticator.authenticate, signed, now=clock())
        )
        return caller

    app.state.authenticate = authenticate

    def own(caller: Caller, agency: str) -> None:
        if agency not in caller.agencies and not caller.operator:
            raise LienthongError("hub.forbidden_agency", agency)

    v1 = APIRouter(prefix="/v1", tags=["v1"])

    @v1.get("/whoami", summary="The authenticated system and its agencies")
    async def whoami(caller: AuthenticatedCaller) -> Response:
        return _json(caller)

    @v1.post(
        "/packages",
        summary="Send a package (gửi gói tin): edXML document or status",
        status_code=201,
        responses={200: {"description": "A resend: the original receipt"}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/xml": {"schema": {"type": "string"}}},
            }
        },
    )
    async def send(request: Request, caller: AuthenticatedCaller) -> Response:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in EDXML_TYPES:
            raise _HttpProblemError("http.unsupported_media_type", "send application/xml")
        body: bytes = request.state.body
        receipt = await run(functools.partial(service.send, caller, body, now=clock()))
        return _json(
            receipt,
            status=200 if receipt.duplicate else 201,
            headers={"Location": f"/v1/packages/{receipt.package_id}"},
        )

    @v1.get("/agencies/{agency}/inbox", summary="Packages waiting for an agency (hộp thư đến)")
    async def inbox(
        agency: AgencyCode,
        caller: AuthenticatedCaller,
        include_fetched: bool = True,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        after_id: Annotated[int, Query(ge=0)] = 0,
    ) -> Response:
        items = await run(
            functools.partial(
                service.inbox,
                caller,
                agency,
                include_fetched=include_fetched,
                limit=limit,
                after_id=after_id,
            )
        )
        return _json({"items": list(items)})

    @v1.get(
        "/packages/{package_id}",
        summary="Fetch a package (the edXML bytes, with the hub's trace)",
        response_class=Response,
        responses={200: {"content": {"application/xml": {}}}},
    )
    async def fetch(
        package_id: int,
        caller: AuthenticatedCaller,
        agency: Annotated[str, Query(max_length=64, description="The recipient fetching it")],
    ) -> Response:
        data = await run(functools.partial(service.fetch, caller, package_id, agency, now=clock()))
        return Response(data, media_type="application/xml")

    @v1.post("/packages/{package_id}/ack", summary="Acknowledge delivery (done or fail)")
    async def acknowledge(
        package_id: int, request: Request, caller: AuthenticatedCaller
    ) -> Response:
        try:
            ack = Acknowledgement.model_validate_json(request.state.body or b"{}")
        except ValueError as exc:
            raise _HttpProblemError("http.bad_request", str(exc)[:300]) from exc
        item = await run(
            functools.partial(
                service.acknowledge,
                caller,
                package_id,
                ack.agency,
                ok=ack.ok,
                reason=ack.reason,
                now=clock(),
            )
        )
        return _json(item)

    @v1.get("/agencies/{agency}/sent", summary="Packages an agency sent, with their progress")
    async def sent(
        agency: AgencyCode,
        caller: AuthenticatedCaller,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        after_id: Annotated[int, Query(ge=0)] = 0,
    ) -> Response:
        items = await run(
            functools.partial(service.sent, caller, agency, limit=limit, after_id=after_id)
        )
        return _json({"items": list(items)})

    async def read_events(caller: Caller, agency: str, after: int) -> Sequence[Event]:
        events: Sequence[Event] = await run(
            functools.partial(service.events, caller, agency, after_seq=after, limit=100)
        )
        return events

    @v1.get(
        "/agencies/{agency}/events/poll",
        summary="Long-poll: events after a sequence number, waiting up to `wait` seconds",
    )
    async def poll(
        agency: AgencyCode,
        caller: AuthenticatedCaller,
        after: Annotated[int, Query(ge=0)] = 0,
        wait: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS)] = 25.0,
    ) -> Response:
        own(caller, agency)
        deadline = time.monotonic() + wait
        while True:
            events = await read_events(caller, agency, after)
            remaining = deadline - time.monotonic()
            if events or remaining <= 0:
                last = events[-1].seq if events else after
                return _json({"events": list(events), "last": last})
            await notifier.wait(agency, min(remaining, poll_interval))

    @v1.get(
        "/agencies/{agency}/events",
        summary="Server-Sent Events: new packages, statuses, deliveries (resumable)",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def stream(
        agency: AgencyCode,
        request: Request,
        caller: AuthenticatedCaller,
        after: Annotated[int | None, Query(ge=0)] = None,
    ) -> Response:
        own(caller, agency)
        start = after
        last_id = request.headers.get("last-event-id", "")
        if start is None:
            start = int(last_id) if last_id.isdigit() else 0
        # Read once before streaming so that a refusal is a problem, not a broken stream.
        first = await read_events(caller, agency, start)

        async def generate() -> AsyncIterator[bytes]:
            cursor = start
            pending: Sequence[Event] = first
            yield f"retry: 1000\n: lienthong {agency}\n\n".encode()
            idle = 0.0
            while True:
                for event in pending:
                    cursor = event.seq
                    data = json.dumps(to_json(event), ensure_ascii=False)
                    yield f"id: {event.seq}\nevent: {event.kind}\ndata: {data}\n\n".encode()
                if pending:
                    idle = 0.0
                if await request.is_disconnected():
                    return
                waited = time.monotonic()
                await notifier.wait(agency, min(poll_interval, heartbeat))
                idle += time.monotonic() - waited
                if idle >= heartbeat:
                    idle = 0.0
                    yield b": ping\n\n"
                try:
                    pending = await read_events(caller, agency, cursor)
                except LienthongError as error:  # e.g. the system lost the agency
                    yield f"event: error\ndata: {json.dumps({'code': error.code})}\n\n".encode()
                    return

        return StreamingResponse(
            generate(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    # Reports the core offers beyond the HubService contract (lienthong.hub.service.Hub).
    report = getattr(service, "package_report", None)
    if callable(report):

        @v1.get("/packages/{package_id}/report", summary="The validation report of a package")
        async def package_report(
            package_id: int,
            caller: AuthenticatedCaller,
            agency: Annotated[str, Query(max_length=64, description="Sender or recipient")],
        ) -> Response:
            return _json(await run(functools.partial(report, caller, package_id, agency)))

    overdue = getattr(service, "overdue_registrations", None)
    if callable(overdue):

        @v1.get(
            "/reports/overdue",
            summary="Recipients that have not registered (03) within the legal limit",
        )
        async def overdue_registrations(
            caller: AuthenticatedCaller, limit: Annotated[int, Query(ge=1, le=10000)] = 1000
        ) -> Response:
            found = await run(functools.partial(overdue, caller, clock(), limit=limit))
            return _json({"items": list(found)})

    undelivered = getattr(service, "undelivered", None)
    if callable(undelivered):

        @v1.get("/reports/undelivered", summary="Deliveries still open for too long")
        async def long_undelivered(
            caller: AuthenticatedCaller, limit: Annotated[int, Query(ge=1, le=10000)] = 1000
        ) -> Response:
            found = await run(functools.partial(undelivered, caller, clock(), limit=limit))
            return _json({"items": list(found)})

    app.include_router(v1)
    for router in extra_routers:
        app.include_router(router)

    @app.get("/healthz", summary="Health (no authentication)")
    async def healthz() -> Response:
        # The process id tells which worker of ``hub serve --workers N`` answered.
        body: dict[str, object] = {"status": "ok", "time": clock().isoformat(), "pid": os.getpid()}
        if health is not None:
            try:
                body.update(await run(health))
            except Exception as exc:  # the health check reports, never raises
                log.warning("health check failed", exc_info=True)
                body.update({"status": "degraded", "error": type(exc).__name__})
                return JSONResponse(body, status_code=503)
        return JSONResponse(body)

    @app.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def prometheus() -> Response:
        return PlainTextResponse(
            metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    app.add_middleware(_MetricsMiddleware, metrics=metrics)
    return app


__all__ = [
    "DEFAULT_MAX_BODY",
    "HTTP_PROBLEMS",
    "PROBLEM_JSON",
    "Acknowledgement",
    "create_hub_app",
    "error_problem",
    "problem",
    "status_for",
    "to_json",
]
