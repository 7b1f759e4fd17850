"""The agency SDK for the hub's ``/v1`` API (bộ thư viện kết nối trục liên thông).

:class:`HubClient` signs every request with the system's organisation certificate (ADR 0009),
retries what is safe to retry, and maps the hub's problems back to coded
:class:`~lienthong.domain.errors.LienthongError`\\ s (the one place that does so).

* **Send** — :meth:`HubClient.send` retries on connection failures and 5xx. A retry cannot
  duplicate a document: the hub keys packages by (sender, ``DocumentId``) and answers a resend
  with the original receipt (``duplicate: true``).
* **Receive** — :meth:`HubClient.receive` is a loop: Server-Sent Events while they work, long-poll
  when they do not, resumable from the last event number (keep it and pass it back as
  ``after``). For every new package call :meth:`fetch`, store it, then :meth:`acknowledge`.
* **Statuses and business packages** — :meth:`send_status` (01…16 about a received package),
  :meth:`recall` (thu hồi), :meth:`replace` (thay thế), :meth:`update` (cập nhật).

Only the standard library, httpx, the domain and the signing layer are used: no hub code.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography import x509

from lienthong.client.signing import RequestSigner
from lienthong.domain.edxml import Organization, Package, parse_package, serialize_package
from lienthong.domain.edxml.builder import (
    DocumentDraft,
    build_document,
    build_status,
    revoke_document,
)
from lienthong.domain.edxml.model import Business, BusinessType, ReplacementInfo, ResponseFor
from lienthong.domain.errors import CATALOGUE, LienthongError
from lienthong.domain.status import StatusCode
from lienthong.pki.keys import SigningKey
from lienthong.signing.xmldsig import sign_envelope

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({502, 503, 504})


class HubError(LienthongError):
    """Trục liên thông từ chối yêu cầu / the hub refused the request."""

    default_code = "client.refused"

    def __init__(self, code: str | None = None, detail: str = "", *, status: int = 0) -> None:
        super().__init__(code, detail)
        self.status = status


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """The hub's receipt for a package (given only once it is durably stored)."""

    package_id: int
    document_id: str
    sha256: str
    received_at: str
    recipients: tuple[str, ...]
    duplicate: bool
    notices: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SendReceipt:
        return cls(
            package_id=int(data["package_id"]),
            document_id=str(data["document_id"]),
            sha256=str(data["sha256"]),
            received_at=str(data["received_at"]),
            recipients=tuple(data.get("recipients", ())),
            duplicate=bool(data.get("duplicate", False)),
            notices=tuple(data.get("notices", ())),
        )


@dataclass(frozen=True, slots=True)
class HubEvent:
    """One event of an agency's stream (``package``, ``status``, ``delivery``, ``notice``)."""

    seq: int
    agency: str
    kind: str
    package_id: int | None
    at: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HubEvent:
        pid = data.get("package_id")
        return cls(
            seq=int(data["seq"]),
            agency=str(data["agency"]),
            kind=str(data["kind"]),
            package_id=int(pid) if pid is not None else None,
            at=str(data.get("at", "")),
        )


@dataclass
class ReceiveState:
    """Where a receive loop stands: keep ``last_seq`` to resume after a restart."""

    last_seq: int = 0
    via: str = ""  #: ``sse`` or ``poll``: how the last event arrived
    errors: list[str] = field(default_factory=list)


def _error_from(response: httpx.Response) -> HubError:
    try:
        body = response.json()
        code = str(body.get("code", ""))
        detail = str(body.get("detail", ""))
    except (ValueError, AttributeError):
        code, detail = "", response.text[:200]
    if code not in CATALOGUE:
        detail = f"{code or response.status_code}: {detail}".strip()
        code = "client.refused"
    return HubError(code, detail, status=response.status_code)


class HubClient:
    """A signed client of one hub for one connected system."""

    def __init__(
        self,
        base_url: str,
        *,
        key: SigningKey,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
        retries: int = 5,
        backoff: float = 0.2,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.signer = RequestSigner(key, certificate, chain)
        self.key = key
        self.certificate = certificate
        self.chain = tuple(chain)
        self.retries = retries
        self.backoff = backoff
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------------
    def _target(self, path: str, params: Mapping[str, object] | None) -> str:
        if not params:
            return path
        clean = {
            k: ("true" if v is True else "false" if v is False else v) for k, v in params.items()
        }
        return f"{path}?{urlencode(clean)}"

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        retry: bool = True,
        timeout: float | None = None,
    ) -> httpx.Response:
        target = self._target(path, params)
        attempts = self.retries + 1 if retry else 1
        last: Exception | None = None
        for attempt in range(attempts):
            headers = self.signer.headers(method, target, body)  # fresh date and nonce each try
            if content_type:
                headers["Content-Type"] = content_type
            try:
                response = self._http.request(
                    method,
                    target,
                    content=body or None,
                    headers=headers,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TransportError as exc:
                last = exc
                log.info("hub unreachable (%s), attempt %d", exc, attempt + 1)
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in RETRY_STATUSES or attempt + 1 >= attempts:
                    raise _error_from(response)
                last = _error_from(response)
            if attempt + 1 < attempts:
                time.sleep(min(5.0, self.backoff * 2**attempt) * (0.5 + random.random()))  # noqa: S311
        if isinstance(last, HubError):
            raise last
        raise HubError("client.unreachable", str(last))

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise HubError("client.bad_response", response.text[:200]) from exc

    # -- the API -------------------------------------------------------------------------------
    def whoami(self) -> dict[str, Any]:
        """The system the hub sees and the agencies it acts for."""
        result: dict[str, Any] = self._json(self._request("GET", "/v1/whoami"))
        return result

    def send(self, edxml: bytes) -> SendReceipt:
        """Send a package (already signed); safe to call again with the same bytes."""
        response = self._request("POST", "/v1/packages", body=edxml, content_type="application/xml")
        return SendReceipt.from_json(self._json(response))

    def inbox(
        self, agency: str, *, include_fetched: bool = True, limit: int = 100, after_id: int = 0
    ) -> list[dict[str, Any]]:
        """Packages waiting for ``agency``, oldest first."""
        params = {"include_fetched": include_fetched, "limit": limit, "after_id": after_id}
        body = self._json(self._request("GET", f"/v1/agencies/{agency}/inbox", params=params))
        return list(body["items"])

    def fetch(self, package_id: int, agency: str) -> bytes:
        """The package's bytes as the hub stored them (with its trace entry)."""
        response = self._request("GET", f"/v1/packages/{package_id}", params={"agency": agency})
        return response.content

    def acknowledge(
        self, package_id: int, agency: str, *, ok: bool = True, reason: str | None = None
    ) -> dict[str, Any]:
        """Close the delivery: received (``ok``) or not processable (``reason``)."""
        body = json.dumps({"agency": agency, "ok": ok, "reason": reason}).encode()
        response = self._request(
            "POST", f"/v1/packages/{package_id}/ack", body=body, content_type="application/json"
        )
        result: dict[str, Any] = self._json(response)
        return result

    def sent(self, agency: str, *, limit: int = 100, after_id: int = 0) -> list[dict[str, Any]]:
        """Packages ``agency`` sent, newest first, with every recipient's progress."""
        params = {"limit": limit, "after_id": after_id}
        body = self._json(self._request("GET", f"/v1/agencies/{agency}/sent", params=params))
        return list(body["items"])

    def report(self, package_id: int, agency: str) -> dict[str, Any]:
        """The validation report the hub kept with a package (its sender or a recipient)."""
        response = self._request(
            "GET", f"/v1/packages/{package_id}/report", params={"agency": agency}
        )
        result: dict[str, Any] = self._json(response)
        return result

    def overdue(self) -> list[dict[str, Any]]:
        """Registrations (03) late under the legal limit, where the caller's agencies take part."""
        return list(self._json(self._request("GET", "/v1/reports/overdue"))["items"])

    def undelivered(self) -> list[dict[str, Any]]:
        """Deliveries open for too long, where the caller's agencies take part."""
        return list(self._json(self._request("GET", "/v1/reports/undelivered"))["items"])

    def poll(self, agency: str, *, after: int = 0, wait: float = 25.0) -> list[HubEvent]:
        """Long-poll: events after ``after``, waiting up to ``wait`` seconds for one."""
        response = self._request(
            "GET",
            f"/v1/agencies/{agency}/events/poll",
            params={"after": after, "wait": wait},
            timeout=wait + 30.0,
        )
        return [HubEvent.from_json(e) for e in self._json(response)["events"]]

    def stream(
        self, agency: str, *, after: int = 0, read_timeout: float = 60.0
    ) -> Iterator[HubEvent]:
        """Server-Sent Events from ``after`` on; ends when the connection does."""
        path = f"/v1/agencies/{agency}/events"
        target = self._target(path, {"after": after})
        headers = self.signer.headers("GET", target, b"")
        headers["Accept"] = "text/event-stream"
        timeout = httpx.Timeout(10.0, read=read_timeout)
        with self._http.stream("GET", target, headers=headers, timeout=timeout) as response:
            if response.status_code >= 400:
                response.read()
                raise _error_from(response)
            data: list[str] = []
            kind = "message"
            for line in response.iter_lines():
                if not line:
                    if data and kind != "error":
                        yield HubEvent.from_json(json.loads("\n".join(data)))
                    elif data:
                        raise HubError("client.refused", "\n".join(data))
                    data, kind = [], "message"
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif line.startswith("event:"):
                    kind = line[6:].strip()

    def receive(
        self,
        agency: str,
        handle: Callable[[HubEvent], None],
        *,
        state: ReceiveState | None = None,
        stop: threading.Event | None = None,
        poll_wait: float = 25.0,
    ) -> ReceiveState:
        """Call ``handle`` for every event of ``agency``, in order, until ``stop`` is set.

        SSE first; if the stream fails (a proxy that buffers, a dropped connection) the loop
        long-polls once, then tries SSE again. ``state.last_seq`` advances only after
        ``handle`` returns, so a crash in ``handle`` replays that event on restart.
        Refusals (401/403/404) end the loop with the error.
        """
        state = state or ReceiveState()
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                for event in self.stream(agency, after=state.last_seq, read_timeout=poll_wait + 20):
                    handle(event)
                    state.last_seq, state.via = event.seq, "sse"
                    if stop.is_set():
                        return state
            except HubError as error:
                if error.status in (401, 403, 404):
                    raise
                state.errors.append(error.code)
            except httpx.HTTPError as exc:
                state.errors.append(type(exc).__name__)
            if stop.is_set():
                break
            try:
                for event in self.poll(agency, after=state.last_seq, wait=min(poll_wait, 2.0)):
                    handle(event)
                    state.last_seq, state.via = event.seq, "poll"
            except HubError as error:
                if error.status in (401, 403, 404):
                    raise
                state.errors.append(error.code)
                stop.wait(self.backoff)
        return state

    # -- packages built and signed here --------------------------------------------------------
    def sign(self, package: Package) -> bytes:
        """Serialise ``package`` and sign its envelope with the system's key."""
        return sign_envelope(serialize_package(package), self.key, self.certificate, self.chain)

    def send_status(
        self,
        original: bytes | Package,
        *,
        sender: Organization,
        status: StatusCode,
        description: str | None = None,
        at: datetime | None = None,
    ) -> SendReceipt:
        """Report ``status`` (01…16) about a package ``sender`` received (or sent, for 13)."""
        package = parse_package(original) if isinstance(original, bytes) else original
        header = package.header
        status_package = build_status(
            sender=sender,
            original=header,
            status=status,
            at=at or datetime.now(UTC),
            description=description,
        )
        return self.send(self.sign(status_package))

    def send_document(self, draft: DocumentDraft, *, at: datetime | None = None) -> SendReceipt:
        """Build, sign and send a document package from a draft."""
        return self.send(self.sign(build_document(draft, now=at or datetime.now(UTC))))

    def recall(
        self,
        draft: DocumentDraft,
        original_document_id: str,
        *,
        reason: str = "Thu hồi văn bản điện tử",
        at: datetime | None = None,
    ) -> SendReceipt:
        """Thu hồi: a revoke package (type 1) naming ``original_document_id``, to the original
        recipients (give them in ``draft.recipients``)."""
        draft = replace(
            draft,
            business=revoke_document(original_document_id, reason),
            response_for=(*draft.response_for, _response_for(original_document_id)),
        )
        return self.send_document(draft, at=at)

    def replace(
        self,
        draft: DocumentDraft,
        original_document_id: str,
        *,
        reason: str = "Thay thế văn bản điện tử",
        at: datetime | None = None,
    ) -> SendReceipt:
        """Thay thế: a replace package (type 3) listing ``original_document_id``."""
        organs = tuple(o.organ_id or "" for o in draft.recipients)
        business = Business(
            document_id=original_document_id,
            business_doc_type=str(int(BusinessType.REPLACE)),
            business_doc_reason=reason,
            paper="0",
            replacements=(ReplacementInfo(original_document_id, organs),),
        )
        draft = replace(
            draft,
            business=business,
            response_for=(*draft.response_for, _response_for(original_document_id)),
        )
        return self.send_document(draft, at=at)

    def update(
        self,
        draft: DocumentDraft,
        original_document_id: str,
        *,
        reason: str = "Cập nhật văn bản điện tử",
        at: datetime | None = None,
    ) -> SendReceipt:
        """Cập nhật: an update package (type 2) about ``original_document_id``."""
        business = Business(
            document_id=original_document_id,
            business_doc_type=str(int(BusinessType.UPDATE)),
            business_doc_reason=reason,
            paper="0",
        )
        draft = replace(
            draft,
            business=business,
            response_for=(*draft.response_for, _response_for(original_document_id)),
        )
        return self.send_document(draft, at=at)


def _response_for(document_id: str) -> ResponseFor:
    organ, _, rest = document_id.partition(",")
    day, _, code = rest.partition(",")
    return ResponseFor(organ_id=organ, code=code, promulgation_date=day, document_id=document_id)


__all__ = ["HubClient", "HubError", "HubEvent", "ReceiveState", "SendReceipt"]
