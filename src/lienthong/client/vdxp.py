"""A client of the national SDK's protocol (VDXP), speaking only that protocol.

It does what the national Java SDK (``KnobstickServiceImp``/``AgencyServiceImp``) does on the
wire, quirks included, so that tests against our hub prove that software written for the SDK
works unchanged (SPEC §4, ``docs/vdxp.md``):

- every call is ``POST {endpoint}/{method}``; parameters travel only as ``XroadVnpt-{name}``
  headers, plus ``XroadVnpt-sign-header`` (a compact JSON object of those pairs, written as
  Gson writes it), ``XroadVnpt-sign-header-key`` (the names joined by ``;``) and
  ``XroadVnpt-hash-header`` (hex HMAC-SHA256 of the JSON string keyed with the secret);
- ``timestamp`` (``ddMMyyyy'T'HHmmss+SSSS``) is set once, when the client is created, unless
  ``fresh_timestamps`` asks for a new one per call;
- ``sendEdoc`` signs ``hash-file``, the body's SHA-256 written as the SDK writes it (each
  byte's leading zero dropped) unless ``java_hash=False``;
- answers are the SDK's JSON (``status``, ``ErrorCode``, ``ErrorDesc``): a ``FAIL`` raises
  :class:`VdxpCallError` with the hub's ``ErrorCode`` and catalogue code.

``sendEdoc`` is retried on transport failures and when the hub's store is unavailable
(``ErrorCode`` 5xxx, or HTTP 5xx): the hub is idempotent by (sender, DocumentId), so a retry
after a lost answer returns the original ``DocId``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from lienthong.domain.errors import CATALOGUE, LienthongError
from lienthong.domain.vntime import VIETNAM_TZ

SIGNED_PREFIX = "XroadVnpt-"
#: What the Java SDK sends as ``User-Agent`` and ``XroadVnpt-version``.
USER_AGENT = "JAVASDKAgent/1.0.0 XRoad/VPCP"
SDK_VERSION = "3.0.201608"

# Gson (the SDK's JSON writer) escapes these by default (HTML-safe output).
_GSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "=": "\\u003d", "'": "\\u0027"}


class VdxpCallError(LienthongError):
    """Trục từ chối yêu cầu VDXP / the hub refused a VDXP call."""

    default_code = "vdxp.failed"

    def __init__(self, error_code: str, description: str, code: str | None = None) -> None:
        known = code if code is not None and code in CATALOGUE else None
        super().__init__(known, f"ErrorCode {error_code}: {description}")
        self.error_code = error_code  #: the SDK's ``ErrorCode`` (digits)
        self.description = description  #: the SDK's ``ErrorDesc``


def gson_json(pairs: Mapping[str, str]) -> str:
    """A JSON object written as Gson's ``JsonObject.toString()`` writes it: compact, in
    insertion order, non-ASCII kept, ``< > & = '`` escaped."""
    text = json.dumps(dict(pairs), ensure_ascii=False, separators=(",", ":"))
    for char, escape in _GSON_ESCAPES.items():
        text = text.replace(char, escape)
    return text


def java_sha256_hex(data: bytes) -> str:
    """SHA-256 hex as the SDK's ``createContentHA256`` writes it (leading zeros dropped)."""
    return "".join(f"{b:x}" for b in hashlib.sha256(data).digest())


def vdxp_timestamp(at: datetime) -> str:
    """``ddMMyyyy'T'HHmmss+SSSS`` in Vietnam time (the tail is milliseconds)."""
    local = at.astimezone(VIETNAM_TZ)
    return f"{local:%d%m%Y}T{local:%H%M%S}+{local.microsecond // 1000:04d}"


def sign_headers(params: Mapping[str, str], secret: str) -> list[tuple[str, str]]:
    """The headers the SDK sends for ``params``: each as ``XroadVnpt-name`` plus the three
    signature headers."""
    signed = {f"{SIGNED_PREFIX}{name}": value for name, value in params.items()}
    document = gson_json(signed)
    digest = hmac.new(secret.encode("utf-8"), document.encode("utf-8"), hashlib.sha256)
    headers = list(signed.items())
    headers += [
        ("XroadVnpt-sign-header-key", ";".join(params)),
        ("XroadVnpt-sign-header", document),
        ("XroadVnpt-hash-header", digest.hexdigest()),
        ("User-Agent", USER_AGENT),
        ("XroadVnpt-version", SDK_VERSION),
    ]
    return headers


@dataclass(frozen=True, slots=True)
class SendResult:
    """``sendEdoc``'s answer."""

    doc_id: str  #: the hub's ``DocId`` for the package
    document_id: str | None = None
    duplicate: bool = False
    notices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReceivedEdoc:
    """One item of ``getReceivedEdocList``."""

    doc_id: str
    message_type: str
    sender: str
    recipient: str
    status: str
    created_time: str
    document_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SentEdoc:
    """One row (one recipient) of ``getSentEdocList``."""

    sender_doc_id: str
    receiver_doc_id: str
    from_code: str
    to_code: str
    send_status: str
    receive_status: str
    statuses: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON of an ``OK`` answer; :class:`VdxpCallError` for anything else."""
    try:
        answer = response.json()
    except ValueError as exc:
        raise VdxpCallError(str(response.status_code), response.text[:200]) from exc
    if not isinstance(answer, dict):
        raise VdxpCallError(str(response.status_code), "not a JSON object")
    if answer.get("status") != "OK" or str(answer.get("ErrorCode")) != "0":
        code = answer.get("code")
        raise VdxpCallError(
            str(answer.get("ErrorCode", "")),
            str(answer.get("ErrorDesc", "")),
            code if isinstance(code, str) else None,
        )
    return answer


class VdxpClient:
    """One connected system calling ``{endpoint}/{method}`` (``…/XrdAdapter/adapter``).

    ``sticky`` reproduces the SDK's habit of keeping every header it ever set on the client
    object and sending (and signing) them again on later calls.
    """

    def __init__(
        self,
        endpoint: str,
        system_id: str,
        secret: str,
        *,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
        created_at: datetime | None = None,
        fresh_timestamps: bool = False,
        sticky: bool = False,
        retries: int = 3,
        backoff: float = 0.2,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.system_id = system_id
        self.secret = secret
        self._http = http or httpx.Client(timeout=timeout)
        self._owns_http = http is None
        self.fresh_timestamps = fresh_timestamps
        self.sticky = sticky
        self.retries = retries
        self.backoff = backoff
        self.timestamp = vdxp_timestamp(created_at or datetime.now(UTC))
        self._sticky_headers: dict[str, str] = {}

    # -- the wire ------------------------------------------------------------------------
    def params_for(self, extra: Mapping[str, str], content_type: str) -> dict[str, str]:
        """The parameters one call signs: the base ones, the remembered ones, ``extra``."""
        stamp = vdxp_timestamp(datetime.now(UTC)) if self.fresh_timestamps else self.timestamp
        params = {"timestamp": stamp, "systemid": self.system_id}
        if self.sticky:
            self._sticky_headers.update(extra)
            self._sticky_headers["Content-Type"] = content_type
            params.update(self._sticky_headers)
        else:
            params["Content-Type"] = content_type
            params.update(extra)
        return params

    def call(
        self,
        method: str,
        params: Mapping[str, str],
        *,
        body: bytes | None = None,
        retry: bool = False,
    ) -> dict[str, Any]:
        """One signed call; the JSON answer, or :class:`VdxpCallError` for a ``FAIL``."""
        content_type = "application/octet-stream" if body is not None else "application/json"
        signed = self.params_for(params, content_type)
        headers = [
            (name.encode("ascii"), value.encode("utf-8"))
            for name, value in sign_headers(signed, self.secret)
        ]
        headers.append((b"Content-Type", content_type.encode("ascii")))
        url = f"{self.endpoint}/{method}"
        attempts = self.retries + 1 if retry else 1
        for attempt in range(attempts):
            last = attempt + 1 >= attempts
            try:
                response = self._http.post(url, headers=headers, content=body or b"")
            except httpx.TransportError:
                if last:
                    raise
                time.sleep(self.backoff * (2**attempt))
                continue
            try:
                return _answer(response)
            except VdxpCallError as error:
                # The hub's store unavailable (5xxx) or a fault (HTTP 5xx): worth another try
                # when the call is idempotent (sendEdoc is, by DocumentId).
                if last or not (error.error_code.startswith("5") or response.status_code >= 500):
                    raise
                time.sleep(self.backoff * (2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    # -- the SDK's methods ---------------------------------------------------------------
    def send_edoc(
        self,
        edxml: bytes,
        *,
        sender: str,
        to: Sequence[str] = (),
        message_type: str = "edoc",
        java_hash: bool = True,
    ) -> SendResult:
        """``sendEdoc``: a document (``edoc``) or a status package (``status``)."""
        params = {"from": sender, "servicetype": "eDoc", "messagetype": message_type}
        if to:
            params["to"] = json.dumps(list(to), separators=(",", ":"))
        params["hash-file"] = (
            java_sha256_hex(edxml) if java_hash else hashlib.sha256(edxml).hexdigest()
        )
        answer = self.call("sendEdoc", params, body=edxml, retry=True)
        return SendResult(
            doc_id=str(answer["DocId"]),
            document_id=answer.get("documentId"),
            duplicate=bool(answer.get("duplicate", False)),
            notices=tuple(answer.get("notices") or ()),
        )

    def send_status(self, edxml: bytes, *, sender: str) -> SendResult:
        """A status package (phản hồi trạng thái) through ``sendEdoc``."""
        return self.send_edoc(edxml, sender=sender, message_type="status")

    def received_list(self, message_type: str = "edoc") -> list[ReceivedEdoc]:
        """``getReceivedEdocList``: ``edoc`` documents or ``status`` packages waiting."""
        answer = self.call(
            "getReceivedEdocList", {"servicetype": "eDoc", "messagetype": message_type}
        )
        return [
            ReceivedEdoc(
                doc_id=str(row["docId"]),
                message_type=str(row.get("messageType", "")),
                sender=str(row.get("from", "")),
                recipient=str(row.get("to", "")),
                status=str(row.get("status", "")),
                created_time=str(row.get("created_time", "")),
                document_id=row.get("documentId"),
                raw=row,
            )
            for row in answer.get("data") or []
        ]

    def get_edoc(self, doc_id: str) -> bytes:
        """``getEdoc``: the package's bytes."""
        answer = self.call("getEdoc", {"docId": doc_id})
        return base64.b64decode(answer["data"])

    def update_status(self, doc_id: str, status: str = "done") -> None:
        """``updateStatus``: acknowledge a delivery (``done``) or report it unusable (``fail``)."""
        self.call("updateStatus", {"docid": doc_id, "status": status})

    def sent_list(self, **filters: str) -> list[SentEdoc]:
        """``getSentEdocList``: one row per recipient of each package sent."""
        answer = self.call("getSentEdocList", {"servicetype": "eDoc", **filters})
        return [
            SentEdoc(
                sender_doc_id=str(row.get("senderDocId", "")),
                receiver_doc_id=str(row.get("receiverDocId", "")),
                from_code=str(row.get("fromCode", "")),
                to_code=str(row.get("toCode", "")),
                send_status=str(row.get("sendStatus", "")),
                receive_status=str(row.get("receiveStatus", "")),
                statuses=tuple(str(s.get("code")) for s in row.get("statuses") or ()),
                raw=row,
            )
            for row in answer.get("data") or []
        ]

    def agencies_list(self) -> list[dict[str, Any]]:
        """``getAgenciesList``."""
        return list(self.call("getAgenciesList", {}).get("data") or [])

    def register_agency(
        self, code: str, name: str, parent: str, *, mail: str = "", mobile: str = ""
    ) -> None:
        """``registerAgency``: a sub-unit ``code`` under the caller's ``parent`` (``pcode``)."""
        params = {"code": code, "pcode": parent, "name": name}
        if mail:
            params["mail"] = mail
        if mobile:
            params["mobile"] = mobile
        self.call("registerAgency", params)

    def delete_agency(self, code: str) -> None:
        """``deleteAgency``."""
        self.call("deleteAgency", {"code": code})

    def close(self) -> None:
        """Close the HTTP connection pool (if this client made it)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> VdxpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "ReceivedEdoc",
    "SendResult",
    "SentEdoc",
    "VdxpCallError",
    "VdxpClient",
    "gson_json",
    "java_sha256_hex",
    "sign_headers",
    "vdxp_timestamp",
]
