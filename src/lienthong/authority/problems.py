"""The one place that maps error codes to HTTP (RFC 9457 ``application/problem+json``).

Every refusal of the CA's HTTP services goes through :func:`problem_response`: the code from
the catalogue (``lienthong.domain.errors``) picks the status, the body carries the code and
both messages so that a client (or the SDK) can map it back without parsing prose.

A few refusals happen before any service is asked (no credentials, a body too large, a path
that names nothing); they have codes of their own in :data:`HTTP_PROBLEMS`, in the ``http.*``
group, with the same body shape.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from starlette.responses import Response

from lienthong.domain.errors import CATALOGUE, LienthongError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

#: Status per catalogue code. Every ``pki.*`` code is listed explicitly (a test checks it);
#: other groups may fall back to :data:`STATUS_BY_GROUP`, then to 500.
STATUS_BY_CODE: dict[str, int] = {
    # generic
    "usage.bad_argument": 400,
    "io.not_found": 404,
    # PKI requests and certificates:
    "pki.bad_request": 400,
    "pki.bad_csr": 400,
    "pki.out_of_scope": 403,
    "pki.unknown_ca": 404,
    "pki.unknown_serial": 404,
    "pki.already_revoked": 409,
    "pki.bad_state": 409,
    # PKI: the CA's own keys — the caller did nothing wrong, the service is at fault
    "pki.key_not_found": 500,
    "pki.key_wrong_passphrase": 500,
    "pki.key_unsupported": 500,
    "pki.key_unprotected": 500,
    "pki.key_corrupt": 500,
    "pki.key_exists": 409,
    "pki.key_signature_invalid": 500,
    "pki.token_unavailable": 503,
    "pki.token_wrong_pin": 500,
    "pki.token_pin_locked": 503,
    "pki.token_failed": 503,
    # timestamps (the TSA answers with a rejection, these only surface from other calls)
    "tsa.bad_request": 400,
    "tsa.unsupported_version": 400,
    "tsa.unsupported_hash": 400,
    "tsa.policy_not_accepted": 400,
    "tsa.extension_not_accepted": 400,
    "tsa.unavailable": 503,
    "tsa.bad_certificate": 500,
    "tsa.invalid_token": 400,
    # storage
    "store.conflict": 409,
    "store.not_found": 404,
    "store.bad_reference": 409,
    "store.unavailable": 503,
    # status lifecycle
    "status.illegal_transition": 409,
    "status.out_of_order": 409,
    "status.after_terminal": 409,
    "status.duplicate": 409,
}

#: Fallback per code group (the part before the dot): input the client sent that we refuse.
STATUS_BY_GROUP: dict[str, int] = {"edxml": 400, "orgcode": 400}

DEFAULT_STATUS = 500


@dataclass(frozen=True, slots=True)
class HttpProblem:
    """A refusal made by the HTTP layer itself, before a service is asked."""

    code: str
    status: int
    vi: str
    en: str


#: Refusals of the HTTP layer. Security failures stay opaque (STYLE "Errors"): no detail.
HTTP_PROBLEMS: dict[str, HttpProblem] = {
    p.code: p
    for p in (
        HttpProblem(
            "http.unauthorized", 401, "Cần xác thực người vận hành", "Authentication required"
        ),
        HttpProblem("http.forbidden", 403, "Không có quyền thực hiện", "Not allowed"),
        HttpProblem("http.not_found", 404, "Không tìm thấy tài nguyên", "No such resource"),
        HttpProblem(
            "http.method_not_allowed", 405, "Phương thức không được hỗ trợ", "Method not allowed"
        ),
        HttpProblem("http.too_large", 413, "Nội dung yêu cầu quá lớn", "Request body too large"),
        HttpProblem(
            "http.unsupported_media_type",
            415,
            "Kiểu nội dung không được hỗ trợ",
            "Unsupported media type",
        ),
        HttpProblem("http.error", 500, "Lỗi máy chủ", "Internal server error"),
    )
}


def status_for(code: str) -> int:
    """The HTTP status for a catalogue (or ``http.*``) code."""
    if code in STATUS_BY_CODE:
        return STATUS_BY_CODE[code]
    if code in HTTP_PROBLEMS:
        return HTTP_PROBLEMS[code].status
    return STATUS_BY_GROUP.get(code.partition(".")[0], DEFAULT_STATUS)


def problem_type(code: str) -> str:
    """The problem ``type`` URI: stable per code, documented in ``docs/ca-http.md``."""
    return f"urn:lienthong:problem:{code}"


def problem_body(
    code: str, *, message_vi: str, message_en: str, detail: str = "", status: int | None = None
) -> dict[str, object]:
    """The RFC 9457 members plus ours: ``code``, ``message_vi``, ``message_en``."""
    return {
        "type": problem_type(code),
        "title": message_en,
        "status": status if status is not None else status_for(code),
        "code": code,
        "detail": detail,
        "message_vi": message_vi,
        "message_en": message_en,
    }


def _response(body: dict[str, object], headers: dict[str, str] | None = None) -> Response:
    content = json.dumps(body, ensure_ascii=False).encode()
    status = body["status"]
    assert isinstance(status, int)
    return Response(content, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_response(error: LienthongError) -> Response:
    """The problem+json response for a coded error.

    Server-side failures (5xx) keep their detail in the log, not in the response: it may name
    a key file or a token.
    """
    status = status_for(error.code)
    detail = error.detail
    if status >= 500:
        log.error("%s", error.describe())
        detail = ""
    body = problem_body(
        error.code,
        message_vi=error.message_vi,
        message_en=error.message_en,
        detail=detail,
        status=status,
    )
    return _response(body)


def http_problem(code: str, detail: str = "", headers: dict[str, str] | None = None) -> Response:
    """The problem+json response for a refusal of the HTTP layer (an ``http.*`` code)."""
    problem = HTTP_PROBLEMS[code]
    body = problem_body(
        code, message_vi=problem.vi, message_en=problem.en, detail=detail, status=problem.status
    )
    return _response(body, headers)


def http_problem_for_status(status: int, detail: str = "") -> Response:
    """The ``http.*`` problem closest to a bare status (Starlette's own 404/405)."""
    for problem in HTTP_PROBLEMS.values():
        if problem.status == status:
            return http_problem(problem.code, detail)
    entry = HTTP_PROBLEMS["http.error"]
    body = problem_body(
        entry.code, message_vi=entry.vi, message_en=entry.en, detail=detail, status=status
    )
    return _response(body)


def unmapped_pki_codes() -> list[str]:
    """``pki.*`` catalogue codes without an explicit status (must stay empty)."""
    return [code for code in CATALOGUE if code.startswith("pki.") and code not in STATUS_BY_CODE]


__all__ = [
    "HTTP_PROBLEMS",
    "PROBLEM_JSON",
    "STATUS_BY_CODE",
    "http_problem",
    "http_problem_for_status",
    "problem_body",
    "problem_response",
    "status_for",
    "unmapped_pki_codes",
]
