"""The CA's HTTP services: status for relying parties, and online registration.

Two kinds of route live in one ASGI app:

* **Status** (``/ca``, ``/crl``, ``/ocsp``, ``/tsa``): plain Starlette routes, hit thousands of
  times a second by verifiers. No validation models, no dependency injection: the handler reads
  the body, asks the :class:`~lienthong.authority.api.StatusService`, returns the bytes.
* **Registration** (``/v1/requests``, ``/v1/certificates``): a FastAPI app (JSON, OpenAPI at
  ``/openapi.json``) over the :class:`~lienthong.authority.api.RegistrationService`; approval
  needs the operator's bearer token.

The status routes are matched first; everything else falls through to the FastAPI app.
Errors leave as ``application/problem+json`` through :mod:`lienthong.authority.problems`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import unquote

from cryptography import x509
from cryptography.x509 import ocsp
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from lienthong.authority.api import (
    MAX_BATCH_APPROVALS,
    Approval,
    CertificateRequest,
    RegistrationService,
    RequestStatus,
    StatusService,
)
from lienthong.authority.problems import (
    http_problem,
    http_problem_for_status,
    problem_body,
    problem_response,
)
from lienthong.domain.errors import LienthongError, UsageError
from lienthong.web import BodyTooLargeError, read_body

log = logging.getLogger(__name__)

#: Largest OCSP or timestamp request accepted (a real one is a few hundred bytes).
MAX_REQUEST_BYTES = 10 * 1024
#: How long a CA certificate may be cached (it changes only when the CA is re-keyed).
CA_CERT_MAX_AGE = 86_400
#: Upper bound on a CRL's max-age, whatever its nextUpdate (a revocation shows within this).
CRL_MAX_AGE = 3_600

PKIX_CERT = "application/pkix-cert"
PKIX_CRL = "application/pkix-crl"
OCSP_REQUEST = "application/ocsp-request"
OCSP_RESPONSE = "application/ocsp-response"
TIMESTAMP_QUERY = "application/timestamp-query"
TIMESTAMP_REPLY = "application/timestamp-reply"
PEM_FILE = "application/x-pem-file"

T = TypeVar("T")
_Caller = Callable[..., Awaitable[Any]]


def decode_ocsp_get(encoded: str) -> bytes | None:
    """The DER request from an RFC 6960 Appendix A.1 GET path, or ``None`` if undecodable.

    The path is ``url-encoding(base64(DER))``. Clients differ: some percent-encode ``/``, ``+``
    and ``=`` (``%2F``…), some leave them raw, some use the URL-safe alphabet or drop the
    padding. All are accepted; Starlette has already undone one level of percent-encoding.
    """
    text = encoded
    for _ in range(3):  # base64 has no '%': what is left was encoded again (proxies, clients)
        if "%" not in text:
            break
        text = unquote(text)
    text = "".join(text.split()).replace("-", "+").replace("_", "/").rstrip("=")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _max_age_until(next_update: datetime | None, now: datetime, cap: int) -> int:
    if next_update is None:
        return 0
    return max(0, min(cap, int((next_update - now).total_seconds())))


def _ocsp_cache_control(der: bytes, now: datetime) -> str:
    """RFC 5019 §6.2: a GET response may be cached until its nextUpdate."""
    try:
        response = ocsp.load_der_ocsp_response(der)
        if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            return "no-store"
        max_age = _max_age_until(response.next_update_utc, now, CRL_MAX_AGE)
    except ValueError:
        return "no-store"
    return f"max-age={max_age}, public, no-transform, must-revalidate"


# --------------------------------------------------------------------------- status routes
def _status_routes(
    status: StatusService, clock: Callable[[], datetime], call: _Caller
) -> list[Route]:
    async def ca_certificate(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            der = await call(status.ca_certificate_der, name)
        except LienthongError as error:
            return problem_response(error)
        return Response(
            der, media_type=PKIX_CERT, headers={"Cache-Control": f"max-age={CA_CERT_MAX_AGE}"}
        )

    async def crl(request: Request) -> Response:
        name = request.path_params["name"]
        now = clock()
        try:
            der = await call(functools.partial(status.crl_der, name, now=now))
        except LienthongError as error:
            return problem_response(error)
        try:
            next_update = x509.load_der_x509_crl(der).next_update_utc
        except ValueError:
            next_update = None
        max_age = _max_age_until(next_update, now, CRL_MAX_AGE)
        return Response(
            der, media_type=PKIX_CRL, headers={"Cache-Control": f"max-age={max_age}, public"}
        )

    async def ocsp_post(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            body = await read_body(request, MAX_REQUEST_BYTES)
        except BodyTooLargeError:
            return http_problem("http.too_large", f"at most {MAX_REQUEST_BYTES} bytes")
        try:
            der = await call(functools.partial(status.ocsp, name, body, now=clock()))
        except LienthongError as error:
            return problem_response(error)
        # RFC 5019 §5: responses to POST are not cached by intermediaries.
        return Response(der, media_type=OCSP_RESPONSE, headers={"Cache-Control": "no-store"})

    async def ocsp_get(request: Request) -> Response:
        name = request.path_params["name"]
        encoded = request.path_params["encoded"]
        if len(encoded) > 2 * MAX_REQUEST_BYTES:
            return http_problem("http.too_large", f"at most {MAX_REQUEST_BYTES} bytes")
        body = decode_ocsp_get(encoded)
        if body is not None and len(body) > MAX_REQUEST_BYTES:
            return http_problem("http.too_large", f"at most {MAX_REQUEST_BYTES} bytes")
        now = clock()
        try:
            # Undecodable base64 goes to the responder as an empty request: it answers
            # malformedRequest (RFC 6960 §2.3), as for any other garbage.
            der = await call(functools.partial(status.ocsp, name, body or b"", now=now))
        except LienthongError as error:
            return problem_response(error)
        return Response(
            der, media_type=OCSP_RESPONSE, headers={"Cache-Control": _ocsp_cache_control(der, now)}
        )

    async def timestamp(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            body = await read_body(request, MAX_REQUEST_BYTES)
        except BodyTooLargeError:
            return http_problem("http.too_large", f"at most {MAX_REQUEST_BYTES} bytes")
        try:
            der = await call(functools.partial(status.timestamp, name, body, now=clock()))
        except LienthongError as error:
            return problem_response(error)
        return Response(der, media_type=TIMESTAMP_REPLY, headers={"Cache-Control": "no-store"})

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/ca/{name}.crt", ca_certificate, methods=["GET"]),
        Route("/crl/{name}.crl", crl, methods=["GET"]),
        Route("/ocsp/{name}", ocsp_post, methods=["POST"]),
        Route("/ocsp/{name}/", ocsp_post, methods=["POST"]),
        Route("/ocsp/{name}/{encoded:path}", ocsp_get, methods=["GET"]),
        Route("/tsa/{name}", timestamp, methods=["POST"]),
    ]


def _caller(offload: bool) -> _Caller:
    """How services are called: in the worker threads (may block on a database), or inline."""
    if offload:
        return run_in_threadpool

    async def inline(function: Callable[..., T], *args: Any) -> T:
        return function(*args)

    return inline


# --------------------------------------------------------------------------- registration API
class SubmitBody(BaseModel):
    """A certificate request as submitted online."""

    ca: str = Field(description="The CA asked to issue, e.g. `nghe-an`")
    profile: str = Field(description="`organization` or `person`")
    csr_pem: str = Field(description="PKCS#10 CSR, PEM")
    agency_code: str = Field(description="Mã định danh, e.g. `000.00.12.H41`")
    agency_name: str
    full_name: str | None = None
    title: str | None = None
    citizen_id: str | None = None
    province: str | None = None
    requested_by: str | None = Field(
        default=None, description="Who asks; the `X-Requested-By` header takes precedence"
    )


class ApproveAllBody(BaseModel):
    """Requests to approve in one call."""

    ids: list[int] = Field(
        min_length=1, max_length=MAX_BATCH_APPROVALS, description="Request ids, in order"
    )


class RejectBody(BaseModel):
    """Why a request is refused."""

    reason: str = Field(min_length=1)


def request_json(request: CertificateRequest) -> dict[str, object]:
    """A request as JSON: times in ISO 8601, the serial also in hex (as in the URL)."""
    data = asdict(request)
    for key in ("requested_at", "decided_at"):
        value = data[key]
        data[key] = value.isoformat() if value is not None else None
    data["status"] = str(request.status)
    data["serial_hex"] = f"{request.serial:x}" if request.serial is not None else None
    return data


def _approval_json(outcome: Approval) -> dict[str, object]:
    if outcome.request is not None:
        return request_json(outcome.request)
    error = outcome.error
    assert error is not None
    return {
        "id": outcome.request_id,
        "problem": problem_body(
            error.code, message_vi=error.message_vi, message_en=error.message_en,
            detail=error.detail,
        ),
    }  # fmt: skip


def _problem_handlers(api: FastAPI) -> None:
    """Every error of the registration API as problem+json."""

    @api.exception_handler(LienthongError)
    async def coded(_: Request, error: Exception) -> Response:
        assert isinstance(error, LienthongError)
        return problem_response(error)

    @api.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in error.errors()
        )
        return problem_response(UsageError("usage.bad_argument", fields))

    @api.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        return http_problem_for_status(error.status_code)


def _registration_app(
    registration: RegistrationService | None,
    clock: Callable[[], datetime],
    operator_token: str | None,
) -> FastAPI:
    api = FastAPI(
        title="lienthong CA registration",
        version="1",
        description="Online certificate requests (đăng ký trực tuyến) and their approval.",
    )

    _problem_handlers(api)

    if registration is None:
        return api
    service = registration

    def operator(request: Request) -> Response | str:
        """The operator's name if the bearer token is right, else the refusal."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return http_problem("http.unauthorized", headers={"WWW-Authenticate": "Bearer"})
        expected = operator_token
        # compare_digest on bytes: constant time whatever the token's characters.
        if expected is None or not hmac.compare_digest(token.strip().encode(), expected.encode()):
            log.warning("operator call with a wrong token from %s", request.client)
            return http_problem("http.forbidden")
        return request.headers.get("x-operator", "operator")

    @api.post("/v1/requests", status_code=201, tags=["requests"])
    async def submit(body: SubmitBody, request: Request) -> JSONResponse:
        """Submit a CSR for approval; scope and CSR are checked at once."""
        requested_by = request.headers.get("x-requested-by") or body.requested_by
        if not requested_by:
            raise UsageError(
                "usage.bad_argument", "requested_by: give X-Requested-By or requested_by"
            )
        created = await run_in_threadpool(
            functools.partial(
                service.submit,
                ca=body.ca,
                profile=body.profile,
                csr_pem=body.csr_pem,
                agency_code=body.agency_code,
                agency_name=body.agency_name,
                full_name=body.full_name,
                title=body.title,
                citizen_id=body.citizen_id,
                province=body.province,
                requested_by=requested_by,
                now=clock(),
            )
        )
        return JSONResponse(
            request_json(created),
            status_code=201,
            headers={"Location": f"/v1/requests/{created.id}"},
        )

    @api.get("/v1/requests", tags=["requests"], response_model=None)
    async def list_requests(
        request: Request, status: RequestStatus | None = None, ca: str | None = None
    ) -> Response:
        """Requests, newest first (operator only: they carry citizen IDs)."""
        who = operator(request)
        if isinstance(who, Response):
            return who
        found = await run_in_threadpool(functools.partial(service.requests, ca=ca, status=status))
        return JSONResponse([request_json(r) for r in found])

    @api.post("/v1/requests/approve", tags=["requests"], response_model=None)
    async def approve_all(body: ApproveAllBody, request: Request) -> Response:
        """Issue the certificates of many requests in one transaction (operator only).

        Always 200 when the call itself is allowed: each result is the issued request, or a
        problem object for a request that could not be issued.
        """
        who = operator(request)
        if isinstance(who, Response):
            return who
        outcomes = await run_in_threadpool(
            functools.partial(service.approve_all, body.ids, operator=who, now=clock())
        )
        return JSONResponse({"results": [_approval_json(outcome) for outcome in outcomes]})

    @api.post("/v1/requests/{request_id}/approve", tags=["requests"], response_model=None)
    async def approve(request_id: int, request: Request) -> Response:
        """Issue the certificate (operator only)."""
        who = operator(request)
        if isinstance(who, Response):
            return who
        decided = await run_in_threadpool(
            functools.partial(service.approve, request_id, operator=who, now=clock())
        )
        return JSONResponse(request_json(decided))

    @api.post("/v1/requests/{request_id}/reject", tags=["requests"], response_model=None)
    async def reject(request_id: int, body: RejectBody, request: Request) -> Response:
        """Refuse the request with a reason (operator only)."""
        who = operator(request)
        if isinstance(who, Response):
            return who
        decided = await run_in_threadpool(
            functools.partial(
                service.reject, request_id, operator=who, reason=body.reason, now=clock()
            )
        )
        return JSONResponse(request_json(decided))

    @api.get("/v1/certificates/{ca}/{serial_hex}", tags=["certificates"], response_model=None)
    async def certificate(ca: str, serial_hex: str) -> Response:
        """An issued certificate, PEM."""
        try:
            serial = int(serial_hex.lower().removeprefix("0x"), 16)
        except ValueError:
            raise UsageError("usage.bad_argument", "serial: hexadecimal") from None
        pem = await run_in_threadpool(service.certificate_pem, ca, serial)
        return Response(pem, media_type=PEM_FILE)

    return api


# --------------------------------------------------------------------------- the app
def create_app(
    status: StatusService,
    registration: RegistrationService | None,
    *,
    clock: Callable[[], datetime],
    operator_token: str | None,
    offload: bool = True,
) -> ASGIApp:
    """The CA's HTTP app.

    ``clock`` gives ``now`` (aware) for every request. ``operator_token`` guards approval
    and the request list; ``None`` refuses every operator call. ``registration`` ``None``
    serves status only. ``offload`` (default) calls the status service in worker threads,
    for services that may block; ``False`` calls it inline, the fastest for in-memory ones.
    """
    api = _registration_app(registration, clock, operator_token)

    async def not_found(_: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        return http_problem_for_status(error.status_code)

    async def crashed(_: Request, error: Exception) -> Response:
        log.error("unhandled error", exc_info=error)
        return http_problem("http.error")

    routes: list[Route | Mount] = [*_status_routes(status, clock, _caller(offload))]
    routes.append(Mount("/", app=api))
    return Starlette(
        routes=routes,
        exception_handlers={StarletteHTTPException: not_found, Exception: crashed},
    )


__all__ = ["MAX_REQUEST_BYTES", "create_app", "decode_ocsp_get", "request_json"]
