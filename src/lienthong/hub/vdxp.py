"""The national SDK's protocol (VDXP, "trục liên thông văn bản quốc gia") served by our hub.

Software written for the national hub's SDK (``KnobstickServiceImp``, ``AgencyServiceImp``)
points its ``endpoint`` at ``…/XrdAdapter/adapter`` and calls ``{endpoint}/{method}`` with
every parameter as an HTTP header. This module serves that endpoint over the hub's core
(:class:`~lienthong.hub.api.HubService`) so such software works unchanged (SPEC §4,
``docs/vdxp.md``).

Authentication (xác thực): the SDK copies each parameter ``name: value`` into a JSON object
``{"XroadVnpt-name": value, …}`` sent verbatim as the ``XroadVnpt-sign-header`` header, and
sends the hex HMAC-SHA256 of that exact string, keyed with the system's secret, as
``XroadVnpt-hash-header``. We recompute the HMAC over the bytes received (never over a
re-serialisation), compare in constant time, and then read every parameter **only** from that
signed JSON: an unsigned header never reaches the core, and a plain or ``XroadVnpt-`` header
that disagrees with its signed value is refused as tampering.

Replays: a captured request can only repeat what the key holder signed. ``sendEdoc`` requires
a signed ``hash-file`` (the SHA-256 of the body), so a replay cannot carry another package,
and the core is idempotent by (sender, DocumentId), so a replay returns the original receipt
instead of a second document. ``timestamp`` is checked against a freshness window that is
configurable (:class:`VdxpSettings`) and **off by default**: the Java SDK sets it once when
its service object is created and reuses it for the object's whole life.

Responses use the SDK's JSON shape: ``status`` (``OK``/``FAIL``), ``ErrorCode`` (``"0"`` on
success, otherwise a stable number from :data:`ERROR_NUMBERS`), ``ErrorDesc`` (Vietnamese /
English), plus our catalogue code as ``code``. They are always HTTP 200 (the SDK reads the
JSON body whatever the status line says, and some of its clients stop at a non-2xx status),
except 500 for an unexpected fault.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from lienthong.domain.edxml.dates import format_timestamp
from lienthong.domain.errors import LienthongError
from lienthong.domain.orgcode import parse_agency_code
from lienthong.domain.vntime import VIETNAM_TZ
from lienthong.hub.api import (
    Caller,
    DeliveryState,
    HubService,
    InboxItem,
    PackageKind,
    SentItem,
    SystemInfo,
)
from lienthong.store import schema
from lienthong.store.engine import write_transaction
from lienthong.store.hub_store import SystemRepository, set_agency_contacts
from lienthong.store.repositories import AgencyRepository
from lienthong.web import BodyTooLargeError, read_body

if TYPE_CHECKING:
    from lienthong.hub.service import Hub

log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: Where the national endpoint serves the adapter; agency configurations point here.
PATH_PREFIX = "/XrdAdapter/adapter"
#: The prefix the SDK puts before every signed parameter name.
SIGNED_PREFIX = "XroadVnpt-"
SIGN_HEADER = "XroadVnpt-sign-header"
SIGN_HEADER_KEY = "XroadVnpt-sign-header-key"
HASH_HEADER = "XroadVnpt-hash-header"

#: The methods we serve (the SDK's names, case-sensitive as in its URLs).
METHODS = (
    "sendEdoc",
    "getReceivedEdocList",
    "getEdoc",
    "updateStatus",
    "getSentEdocList",
    "getAgenciesList",
    "registerAgency",
    "deleteAgency",
)

#: The SDK's ``ErrorCode`` (a string of digits; ``"0"`` is success) for each catalogue code we
#: answer with. Codes of the core not listed here fall back by prefix (:func:`error_number`).
ERROR_NUMBERS: Mapping[str, str] = {
    # 1xxx: the protocol and authentication
    "vdxp.unsigned": "1001",
    "vdxp.auth_failed": "1002",
    "vdxp.header_mismatch": "1003",
    "vdxp.bad_timestamp": "1004",
    "vdxp.stale_timestamp": "1005",
    "vdxp.missing_parameter": "1006",
    "vdxp.bad_parameter": "1007",
    "vdxp.unknown_method": "1008",
    "vdxp.hash_mismatch": "1009",
    "vdxp.too_large": "1010",
    "vdxp.unsupported": "1011",
    # 2xxx: authorisation (the caller may not do this for this agency or package)
    "hub.forbidden_agency": "2001",
    "hub.forbidden": "2002",
    "hub.forged_sender": "2003",
    "hub.operator_only": "2004",
    "vdxp.not_your_agency": "2005",
    # 3xxx: what was named does not exist (for this caller)
    "hub.not_found": "3001",
    "hub.unknown_recipient": "3002",
    "hub.unknown_original": "3003",
    "hub.unknown_system": "3004",
    # 4xxx: the package is refused
    "hub.invalid_package": "4001",
    "hub.bad_signature": "4002",
    "hub.unsigned": "4003",
    "hub.no_recipient": "4004",
    "hub.too_large": "4005",
}
#: Fallbacks by catalogue group: the first prefix that matches wins.
ERROR_GROUPS: Sequence[tuple[str, str]] = (
    ("hub.auth", "1002"),
    ("hub.forbidden", "2002"),
    ("store.not_found", "3009"),
    ("edxml.", "4011"),
    ("orgcode.", "4012"),
    ("verify.", "4013"),
    ("status.", "4014"),
    ("hub.", "4000"),
    ("usage.", "1007"),
    ("store.", "5001"),
)
#: An unexpected fault (a bug): logged with its traceback, never shown.
INTERNAL_ERROR = "9999"

_TIMESTAMP = re.compile(r"^(\d{2})(\d{2})(\d{4})T(\d{2})(\d{2})(\d{2})\+(\d{1,4})$")


def error_number(code: str) -> str:
    """The SDK ``ErrorCode`` for a catalogue code."""
    if code in ERROR_NUMBERS:
        return ERROR_NUMBERS[code]
    for prefix, number in ERROR_GROUPS:
        if code.startswith(prefix):
            return number
    return "4000" if "." in code else INTERNAL_ERROR


class VdxpError(LienthongError):
    """Yêu cầu theo giao thức VDXP bị từ chối / VDXP request refused."""

    default_code = "vdxp.bad_parameter"


@dataclass(frozen=True, slots=True)
class VdxpSettings:
    """How strict the adapter is. The defaults accept every client the national SDK builds.

    ``max_age``/``max_ahead`` bound how far the signed ``timestamp`` may lie before/after the
    hub's clock; ``None`` (the default) does not check that side, because the Java SDK stamps
    a client object once at creation and long-running services reuse it for days. Set both
    (e.g. 15 minutes) where every client is known to refresh its timestamp.
    """

    max_age: timedelta | None = None
    max_ahead: timedelta | None = None
    require_hash_file: bool = True  #: ``sendEdoc`` must sign the body's SHA-256
    max_body: int = 64 * 1024 * 1024  #: bytes of one ``sendEdoc`` body
    list_limit: int = 500  #: items per agency in one list answer
    credentials_ttl: float = 5.0  #: seconds a system's secret and agencies are remembered

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> VdxpSettings:
        """Settings from ``LIENTHONG_VDXP_MAX_AGE`` / ``LIENTHONG_VDXP_MAX_AHEAD`` (seconds;
        empty or unset: not checked) and ``LIENTHONG_VDXP_REQUIRE_HASH_FILE`` (``0`` to
        accept sends without ``hash-file``, for SDK ports that do not send it)."""

        def seconds(name: str) -> timedelta | None:
            text = environ.get(name, "").strip()
            if not text:
                return None
            try:
                value = float(text)
            except ValueError as exc:
                raise VdxpError("vdxp.bad_parameter", f"{name}={text!r}") from exc
            if value < 0:
                raise VdxpError("vdxp.bad_parameter", f"{name} < 0")
            return timedelta(seconds=value)

        require = environ.get("LIENTHONG_VDXP_REQUIRE_HASH_FILE", "1").strip().lower()
        ttl = seconds("LIENTHONG_VDXP_CREDENTIALS_TTL")
        return cls(
            max_age=seconds("LIENTHONG_VDXP_MAX_AGE"),
            max_ahead=seconds("LIENTHONG_VDXP_MAX_AHEAD"),
            require_hash_file=require not in ("0", "false", "no"),
            credentials_ttl=5.0 if ttl is None else ttl.total_seconds(),
        )


@dataclass(frozen=True, slots=True)
class VdxpCredentials:
    """A connected system as the adapter needs it: its HMAC secret and what it may act for."""

    secret: str
    caller: Caller


@dataclass(frozen=True, slots=True)
class AgencyEntry:
    """One agency as ``getAgenciesList`` shows it."""

    code: str
    name: str
    parent: str | None = None
    email: str | None = None
    telephone: str | None = None
    address: str | None = None
    status: str = "active"
    successor: str | None = None


class AgencyDirectory(Protocol):
    """The registry operations behind ``getAgenciesList``/``registerAgency``/``deleteAgency``."""

    def list_agencies(self, caller: Caller) -> Sequence[AgencyEntry]:
        """Agencies the caller may address (all active ones)."""
        ...

    def register_agency(self, caller: Caller, entry: AgencyEntry, *, now: datetime) -> None:
        """Add (or update) a sub-unit under one of the caller's agencies."""
        ...

    def delete_agency(self, caller: Caller, code: str, *, now: datetime) -> None:
        """Retire one of the caller's sub-units."""
        ...


#: Looks a system up by its ``systemid``; ``None`` when unknown (or it has no VDXP secret).
CredentialLookup = Callable[[str], VdxpCredentials | None]


def credentials_from(system_by_id: Callable[[str], SystemInfo | None]) -> CredentialLookup:
    """A :data:`CredentialLookup` over the registry (``Hub.system_by_id``): a system without
    a VDXP secret cannot use this protocol."""

    def lookup(system_id: str) -> VdxpCredentials | None:
        info = system_by_id(system_id)
        if info is None or not info.secret:
            return None
        return VdxpCredentials(info.secret, info.caller)

    return lookup


class CachedCredentials:
    """A :data:`CredentialLookup` that remembers each known system for ``ttl`` seconds.

    Reading a system and its agencies costs about a millisecond of CPU, as much as parsing
    the package; a hub serves a few hundred systems that call many times a second. A change
    to the registry (secret rotated, system removed, agency added or retired) reaches a
    process within ``ttl`` (``LIENTHONG_VDXP_CREDENTIALS_TTL``, default 5 s; ``0`` reads the
    registry on every request); the adapter forgets a system at once after its own
    ``registerAgency`` / ``deleteAgency``. Unknown systems are not remembered (a flood of
    made-up ids cannot fill the cache), and at most ``size`` systems are.
    """

    def __init__(
        self,
        lookup: CredentialLookup,
        *,
        ttl: float = 5.0,
        size: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl = ttl
        self._size = size
        self._clock = clock
        self._known: dict[str, tuple[float, VdxpCredentials]] = {}
        self._lock = threading.Lock()

    def __call__(self, system_id: str) -> VdxpCredentials | None:
        """The credentials of ``system_id``, from the cache while they are fresh."""
        now = self._clock()
        with self._lock:
            cached = self._known.get(system_id)
        if cached is not None and now < cached[0]:
            return cached[1]
        found = self._lookup(system_id)
        with self._lock:
            if found is None or self._ttl <= 0:
                self._known.pop(system_id, None)
            else:
                if len(self._known) >= self._size:
                    self._known.clear()
                self._known[system_id] = (now + self._ttl, found)
        return found

    def forget(self, system_id: str) -> None:
        """Read ``system_id`` from the registry at its next request."""
        with self._lock:
            self._known.pop(system_id, None)


class StoreDirectory:
    """:class:`AgencyDirectory` over the hub's store (agencies and connected systems).

    ``registerAgency`` adds a sub-unit under one of the caller's agencies and makes the
    calling system act for it; ``deleteAgency`` retires one of the caller's sub-units (never a
    top-level agency of the system) with its parent as successor, so documents still sent to
    it reach the parent organisation with a notice (docs/vdxp.md).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def list_agencies(self, caller: Caller) -> Sequence[AgencyEntry]:
        """Every agency in the registry (retired ones show their successor), by code."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(schema.agencies).order_by(schema.agencies.c.code)
            ).mappings()
            return [
                AgencyEntry(
                    code=row["code"],
                    name=row["name"],
                    parent=row["parent_code"],
                    email=row["email"],
                    telephone=row.get("telephone"),
                    address=row.get("address"),
                    status=row["status"],
                    successor=row["successor_code"],
                )
                for row in rows
            ]

    def register_agency(self, caller: Caller, entry: AgencyEntry, *, now: datetime) -> None:
        """Add ``entry`` under ``entry.parent`` (one of the caller's agencies)."""
        parent = entry.parent or ""
        if parent not in caller.agencies and not caller.operator:
            raise VdxpError("vdxp.not_your_agency", parent)
        try:
            level = parse_agency_code(entry.code).level
        except LienthongError as exc:
            raise VdxpError("vdxp.bad_parameter", "code") from exc
        with write_transaction(self.engine) as connection:
            agencies = AgencyRepository(connection)
            existing = agencies.find(entry.code)
            if existing is None:
                agencies.add(
                    code=entry.code,
                    name=entry.name,
                    created_at=now,
                    level=level,
                    parent_code=parent,
                    email=entry.email,
                )
            elif existing.parent_code != parent or existing.status != "active":
                raise VdxpError("vdxp.not_your_agency", entry.code)
            if entry.telephone or entry.address:
                set_agency_contacts(
                    connection, entry.code, telephone=entry.telephone, address=entry.address
                )
            systems = SystemRepository(connection)
            record = systems.get(caller.system_id)
            if record is not None and entry.code not in record.agencies:
                systems.set_agencies(caller.system_id, {*record.agencies, entry.code})

    def delete_agency(self, caller: Caller, code: str, *, now: datetime) -> None:
        """Retire ``code`` (a sub-unit of one of the caller's agencies) in favour of its parent."""
        with write_transaction(self.engine) as connection:
            agencies = AgencyRepository(connection)
            found = agencies.find(code)
            parent = found.parent_code if found is not None else None
            allowed = caller.operator or (
                code in caller.agencies and parent is not None and parent in caller.agencies
            )
            if found is None or not allowed:
                raise VdxpError("vdxp.not_your_agency", code)
            if found.status != "retired":
                agencies.retire(code, parent)


# --------------------------------------------------------------------------- authentication
@dataclass(frozen=True, slots=True)
class SignedRequest:
    """An authenticated request: who calls, and the parameters it signed.

    ``params`` keeps the names as signed (without the prefix). The SDK keeps every header it
    ever set on its client object, so ``docId`` (set by ``getEdoc``) and ``docid`` (set by
    ``updateStatus``) may both be signed with different values: a method reads the spelling
    it expects first, and another spelling only when it is the only one.
    """

    caller: Caller
    params: Mapping[str, str]
    timestamp: datetime | None

    def get(self, name: str) -> str | None:
        """A signed parameter (exact spelling first), or ``None``."""
        if name in self.params:
            return self.params[name]
        values = {v for k, v in self.params.items() if k.lower() == name.lower()}
        if len(values) > 1:
            raise VdxpError("vdxp.header_mismatch", f"{name}: several spellings")
        return values.pop() if values else None

    def require(self, name: str) -> str:
        """A signed parameter that must be present and not blank."""
        value = self.get(name)
        if value is None or not value.strip():
            raise VdxpError("vdxp.missing_parameter", name)
        return value.strip()


#: Plain headers a proxy or HTTP library may legitimately rewrite: not compared with the
#: signed copy the SDK also sends.
_UNCOMPARED = frozenset(
    {"content-type", "content-length", "user-agent", "host", "accept", "connection"}
)


def parse_timestamp(text: str) -> datetime:
    """Read the SDK's ``ddMMyyyy'T'HHmmss+SSSS`` (Vietnam time; the tail is milliseconds)."""
    match = _TIMESTAMP.match(text.strip())
    if match is None:
        raise VdxpError("vdxp.bad_timestamp", text[:40])
    day, month, year, hour, minute, second, millis = (int(g) for g in match.groups())
    try:
        return datetime(
            year, month, day, hour, minute, second, min(millis, 999) * 1000, tzinfo=VIETNAM_TZ
        )
    except ValueError as exc:
        raise VdxpError("vdxp.bad_timestamp", text[:40]) from exc


def format_vdxp_timestamp(at: datetime) -> str:
    """Write ``at`` as the SDK does: ``ddMMyyyy'T'HHmmss+SSSS`` in Vietnam time."""
    local = at.astimezone(VIETNAM_TZ)
    return f"{local:%d%m%Y}T{local:%H%M%S}+{local.microsecond // 1000:04d}"


def _raw_headers(request: Request) -> list[tuple[str, bytes]]:
    return [(name.decode("latin-1").lower(), value) for name, value in request.headers.raw]


def _signed_params(signed_bytes: bytes) -> dict[str, str]:
    """The parameters in the signed JSON, names without the prefix."""
    try:
        document = json.loads(signed_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise VdxpError("vdxp.unsigned", "XroadVnpt-sign-header is not JSON") from exc
    if not isinstance(document, dict):
        raise VdxpError("vdxp.unsigned", "XroadVnpt-sign-header is not a JSON object")
    params: dict[str, str] = {}
    for key, value in document.items():
        if not key.startswith(SIGNED_PREFIX) or not isinstance(value, str | int | float):
            raise VdxpError("vdxp.header_mismatch", key[:60])
        params[key[len(SIGNED_PREFIX) :]] = value if isinstance(value, str) else json.dumps(value)
    return params


def _check_copies(raw: Sequence[tuple[str, bytes]], params: Mapping[str, str]) -> None:
    """The key list and every copy of a signed parameter must agree with the signed JSON
    (HTTP header names are case-insensitive: a copy must equal one of the signed values of
    that name)."""
    signed: dict[str, set[bytes]] = {}
    for key, text in params.items():
        signed.setdefault(key.lower(), set()).add(text.encode("utf-8"))
    key_list = [v for n, v in raw if n == SIGN_HEADER_KEY.lower()]
    if key_list:
        names = {n.strip().lower() for n in key_list[0].decode("latin-1").split(";") if n}
        if names != set(signed):
            raise VdxpError("vdxp.header_mismatch", "XroadVnpt-sign-header-key")
    prefix = SIGNED_PREFIX.lower()
    skip = (SIGN_HEADER.lower(), HASH_HEADER.lower(), SIGN_HEADER_KEY.lower())
    for name, value in raw:
        if name in skip:
            continue
        bare = name[len(prefix) :] if name.startswith(prefix) else name
        compared = name.startswith(prefix) or bare not in _UNCOMPARED
        if bare in signed and compared and value not in signed[bare]:
            raise VdxpError("vdxp.header_mismatch", name)


def _first(params: Mapping[str, str], name: str) -> str | None:
    """A base parameter (``systemid``, ``timestamp``), which must have one value."""
    values = {v for k, v in params.items() if k.lower() == name}
    if len(values) > 1:
        raise VdxpError("vdxp.header_mismatch", name)
    return values.pop() if values else None


def check_freshness(stamp: datetime, now: datetime, settings: VdxpSettings) -> None:
    """The signed ``timestamp`` within the configured window (each side optional)."""
    if settings.max_age is not None and stamp < now - settings.max_age:
        raise VdxpError("vdxp.stale_timestamp", f"older than {settings.max_age}")
    if settings.max_ahead is not None and stamp > now + settings.max_ahead:
        raise VdxpError("vdxp.stale_timestamp", f"more than {settings.max_ahead} ahead")


def authenticate(
    request: Request,
    lookup: CredentialLookup,
    settings: VdxpSettings,
    now: datetime,
) -> SignedRequest:
    """Check the HMAC over ``XroadVnpt-sign-header`` and return the signed parameters.

    Unknown systems, wrong secrets and edited signed headers are one opaque refusal
    (``vdxp.auth_failed``); the log says which.
    """
    raw = _raw_headers(request)
    signed_raw = [v for n, v in raw if n == SIGN_HEADER.lower()]
    hashes = [v for n, v in raw if n == HASH_HEADER.lower()]
    if len(signed_raw) != 1 or len(hashes) != 1:
        raise VdxpError("vdxp.unsigned")
    params = _signed_params(signed_raw[0])

    system_id = (_first(params, "systemid") or "").strip()
    credentials = lookup(system_id) if system_id else None
    # Compute the HMAC even for an unknown system, so timing does not tell them apart.
    key = credentials.secret.encode("utf-8") if credentials else b"\x00" * 32
    expected = hmac.new(key, signed_raw[0], hashlib.sha256).hexdigest().encode("ascii")
    if not hmac.compare_digest(expected, hashes[0].strip().lower()) or credentials is None:
        log.warning(
            "vdxp: authentication failed for systemid %r (%s)",
            system_id,
            "unknown system" if credentials is None else "HMAC mismatch",
        )
        raise VdxpError("vdxp.auth_failed")

    _check_copies(raw, params)
    stamp_text = _first(params, "timestamp")
    if stamp_text is None:
        raise VdxpError("vdxp.missing_parameter", "timestamp")
    stamp = parse_timestamp(stamp_text)
    check_freshness(stamp, now, settings)
    return SignedRequest(credentials.caller, params, stamp)


# --------------------------------------------------------------------------- responses
def ok(**fields: Any) -> JSONResponse:
    """A success in the SDK's shape."""
    body: dict[str, Any] = {
        "status": "OK",
        "ErrorCode": "0",
        "ErrorDesc": "Thành công / Success",
    }
    body.update(fields)
    return JSONResponse(body)


def fail(error: LienthongError) -> JSONResponse:
    """A refusal in the SDK's shape; security refusals carry no detail."""
    desc = f"{error.message_vi} / {error.message_en}"
    if error.detail and not error.code.startswith(("vdxp.auth", "hub.auth")):
        desc += f" ({error.detail})"
    body = {
        "status": "FAIL",
        "ErrorCode": error_number(error.code),
        "ErrorDesc": desc,
        "code": error.code,
    }
    return JSONResponse(body)


def _hex_forms(digest: bytes) -> tuple[str, str]:
    """The SHA-256 hex as written normally and as the Java SDK writes it (each byte's leading
    zero dropped: ``Integer.toHexString(0xFF & b)``)."""
    return digest.hex(), "".join(f"{b:x}" for b in digest)


def check_hash_file(body: bytes, given: str | None, *, required: bool) -> None:
    """The signed ``hash-file`` must be the body's SHA-256 (either hex form)."""
    if given is None or not given.strip():
        if required:
            raise VdxpError("vdxp.missing_parameter", "hash-file")
        return
    if given.strip().lower() not in _hex_forms(hashlib.sha256(body).digest()):
        raise VdxpError("vdxp.hash_mismatch")


def _time(at: datetime | None) -> str:
    return format_timestamp(at) if at is not None else ""


def receiver_doc_id(package_id: int, agency: str) -> str:
    """The ``docId`` a recipient sees: the package and which of its agencies it is for
    (a system acting for two recipients of one package sees two items)."""
    return f"{package_id}_{agency}"


def parse_doc_id(text: str) -> tuple[int, str | None]:
    """Read a ``docId``: ``{package}`` (as ``sendEdoc`` returns it) or ``{package}_{agency}``."""
    head, sep, agency = text.strip().partition("_")
    if not head.isdigit() or len(head) > 18 or (sep and not agency):
        raise VdxpError("vdxp.bad_parameter", "docId")
    return int(head), agency or None


#: How many inbox pages one list answer reads at most per agency.
_MAX_PAGES = 20
_MESSAGE_TYPES = {"edoc": PackageKind.DOCUMENT, "status": PackageKind.STATUS}
_DELIVERY_DESC = {
    DeliveryState.HELD: "Chờ kiểm tra chữ ký / Signatures being checked",
    DeliveryState.QUEUED: "Chờ nhận / Waiting",
    DeliveryState.FETCHED: "Đã lấy, chưa xác nhận / Fetched, not acknowledged",
    DeliveryState.DONE: "Đã nhận / Received",
    DeliveryState.FAILED: "Nhận lỗi / Failed",
    DeliveryState.REFUSED: "Từ chối do chữ ký PDF / Refused: PDF signatures",
}


def _message_type(kind: PackageKind) -> str:
    return "status" if kind == PackageKind.STATUS else "edoc"


def _received_entry(item: InboxItem) -> dict[str, Any]:
    return {
        "docId": receiver_doc_id(item.package_id, item.recipient),
        "serviceType": "eDoc",
        "messageType": _message_type(item.kind),
        "created_time": _time(item.received_at),
        "updated_time": _time(item.received_at),
        "from": item.sender,
        "to": item.recipient,
        "status": item.state.value,
        "status_desc": _DELIVERY_DESC[item.state],
        "documentId": item.document_id,
        "business": item.business,
        "statusCode": item.status_code,
        "size": item.size,
    }


def _sent_entries(item: SentItem) -> list[dict[str, Any]]:
    return [
        {
            "serviceType": "eDoc",
            "messageType": "edoc",
            "senderDocId": str(item.package_id),
            "receiverDocId": receiver_doc_id(item.package_id, view.recipient),
            "fromCode": item.sender,
            "toCode": view.recipient,
            "title": item.document_id,
            "notation": item.document_id.split(",", 2)[-1],
            "sentTime": _time(item.received_at),
            "receivedTime": _time(view.acknowledged_at or view.fetched_at),
            "sendStatus": view.delivery.value,
            "sendStatusDesc": _DELIVERY_DESC[view.delivery],
            "receiveStatus": view.current_status or "",
            "receiveStatusDesc": _status_desc(view.current_status),
            "documentId": item.document_id,
            "late": item.late,
            "statuses": [
                {"code": s.code, "at": _time(s.at), "reportedBy": s.reported_by}
                for s in view.statuses
            ],
        }
        for view in item.recipients
    ]


_STATUS_DESC = {
    "01": "Đã đến / Arrived",
    "02": "Từ chối tiếp nhận / Refused",
    "03": "Đã tiếp nhận / Registered",
    "04": "Phân công / Assigned",
    "05": "Đang xử lý / Being handled",
    "06": "Hoàn thành / Finished",
    "13": "Yêu cầu lấy lại / Take-back requested",
    "15": "Đồng ý cập nhật/lấy lại / Update or take-back agreed",
    "16": "Từ chối cập nhật/lấy lại / Update or take-back refused",
}


def _status_desc(code: str | None) -> str:
    return _STATUS_DESC.get(code or "", "")


# --------------------------------------------------------------------------- the router
class VdxpAdapter:
    """The eight methods over a :class:`HubService`; each takes a :class:`SignedRequest`."""

    def __init__(
        self,
        hub: HubService,
        lookup: CredentialLookup,
        *,
        directory: AgencyDirectory | None = None,
        settings: VdxpSettings | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.hub = hub
        self.lookup = lookup
        self.directory = directory
        self.settings = settings or VdxpSettings()
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- documents -----------------------------------------------------------------------
    def send_edoc(self, req: SignedRequest, body: bytes, now: datetime) -> JSONResponse:
        """``sendEdoc``: the body is the package; the core validates and stores it."""
        message_type = (req.get("messagetype") or "edoc").strip().lower()
        if message_type not in _MESSAGE_TYPES:
            raise VdxpError("vdxp.bad_parameter", "messagetype")
        sender = req.get("from")
        if sender is not None and sender.strip() not in req.caller.agencies:
            raise VdxpError("vdxp.not_your_agency", sender.strip())
        to = req.get("to")
        if to is not None and to.strip():
            try:
                json.loads(to)
            except ValueError as exc:
                raise VdxpError("vdxp.bad_parameter", "to") from exc
        if not body:
            raise VdxpError("vdxp.missing_parameter", "body")
        check_hash_file(body, req.get("hash-file"), required=self.settings.require_hash_file)
        receipt = self.hub.send(req.caller, body, now=now)
        return ok(
            DocId=str(receipt.package_id),
            documentId=receipt.document_id,
            duplicate=receipt.duplicate,
            recipients=list(receipt.recipients),
            notices=list(receipt.notices),
        )

    def received_list(self, req: SignedRequest) -> JSONResponse:
        """``getReceivedEdocList``: what waits for any of the caller's agencies."""
        message_type = (req.get("messagetype") or "").strip().lower()
        if message_type and message_type not in _MESSAGE_TYPES:
            raise VdxpError("vdxp.bad_parameter", "messagetype")
        wanted = _MESSAGE_TYPES.get(message_type)
        data: list[dict[str, Any]] = []
        limit = self.settings.list_limit
        for agency in self._agencies(req):
            found: list[InboxItem] = []
            after = 0
            # Page past packages of the other kind, up to ``limit`` items of the wanted one.
            for _ in range(_MAX_PAGES):
                items = self.hub.inbox(req.caller, agency, limit=limit, after_id=after)
                found.extend(i for i in items if wanted is None or i.kind == wanted)
                if len(items) < limit or len(found) >= limit:
                    break
                after = items[-1].package_id
            data.extend(_received_entry(i) for i in found[:limit])
        return ok(data=data)

    def get_edoc(self, req: SignedRequest, now: datetime) -> JSONResponse:
        """``getEdoc``: the package (base64), marked fetched until acknowledged."""
        doc_id = req.require("docId")
        package_id, agency = parse_doc_id(doc_id)
        data = self._for_agency(
            req, package_id, agency, lambda a: self.hub.fetch(req.caller, package_id, a, now=now)
        )
        return ok(data=base64.b64encode(data).decode("ascii"), docId=doc_id)

    def update_status(self, req: SignedRequest, now: datetime) -> JSONResponse:
        """``updateStatus``: the delivery acknowledgement (``done``/``fail``), not a business
        status (those travel as ``messagetype=status`` packages)."""
        doc_id = req.require("docid")
        status = req.require("status").lower()
        if status not in ("done", "fail"):
            raise VdxpError("vdxp.bad_parameter", "status")
        reason = req.get("reason") or req.get("description")
        package_id, agency = parse_doc_id(doc_id)
        item = self._for_agency(
            req,
            package_id,
            agency,
            lambda a: self.hub.acknowledge(
                req.caller, package_id, a, ok=status == "done", reason=reason, now=now
            ),
        )
        return ok(docId=doc_id, delivery=item.state.value)

    def sent_list(self, req: SignedRequest) -> JSONResponse:
        """``getSentEdocList``: what the caller's agencies sent, one row per recipient."""
        data: list[dict[str, Any]] = []
        for agency in self._agencies(req):
            for item in self.hub.sent(req.caller, agency, limit=self.settings.list_limit):
                data.extend(_sent_entries(item))
        return ok(data=data)

    # -- the registry --------------------------------------------------------------------
    def agencies_list(self, req: SignedRequest) -> JSONResponse:
        """``getAgenciesList``: the agencies one may address."""
        directory = self._directory()
        data = [
            {
                "id": entry.code,
                "code": entry.code,
                "pcode": entry.parent or "",
                "name": entry.name,
                "mail": entry.email or "",
                "mobile": entry.telephone or "",
                "address": entry.address or "",
                "status": entry.status,
                "successor": entry.successor or "",
            }
            for entry in directory.list_agencies(req.caller)
        ]
        return ok(data=data)

    def register_agency(self, req: SignedRequest, now: datetime) -> JSONResponse:
        """``registerAgency``: a sub-unit (``code``) under one of the caller's (``pcode``)."""
        directory = self._directory()
        entry = AgencyEntry(
            code=req.require("code"),
            name=req.require("name"),
            parent=req.require("pcode"),
            email=req.get("mail"),
            telephone=req.get("mobile"),
            address=req.get("address"),
        )
        directory.register_agency(req.caller, entry, now=now)
        self._forget(req.caller.system_id)
        return ok(code=entry.code)

    def delete_agency(self, req: SignedRequest, now: datetime) -> JSONResponse:
        """``deleteAgency``: retire one of the caller's sub-units."""
        directory = self._directory()
        code = req.require("code")
        directory.delete_agency(req.caller, code, now=now)
        self._forget(req.caller.system_id)
        return ok(code=code)

    def _forget(self, system_id: str) -> None:
        forget = getattr(self.lookup, "forget", None)
        if forget is not None:
            forget(system_id)

    # -- helpers -------------------------------------------------------------------------
    def _directory(self) -> AgencyDirectory:
        if self.directory is None:
            raise VdxpError("vdxp.unsupported", "registry")
        return self.directory

    def _agencies(self, req: SignedRequest) -> list[str]:
        """The caller's agencies, or the one it names (``agency``/``from``, if its own)."""
        named = req.get("agency")
        if named is not None and named.strip():
            if named.strip() not in req.caller.agencies:
                raise VdxpError("vdxp.not_your_agency", named.strip())
            return [named.strip()]
        return sorted(req.caller.agencies)

    def _for_agency(
        self,
        req: SignedRequest,
        package_id: int,
        agency: str | None,
        call: Callable[[str], _T],
    ) -> _T:
        """Run ``call`` for the recipient agency the ``docId`` names, or, for a bare package
        number, for the first of the caller's agencies the core accepts."""
        if agency is not None:
            if agency not in req.caller.agencies:
                raise VdxpError("vdxp.not_your_agency", agency)
            return call(agency)
        first_error: LienthongError | None = None
        for candidate in sorted(req.caller.agencies):
            try:
                return call(candidate)
            except LienthongError as exc:
                if not exc.code.startswith("hub."):
                    raise
                first_error = first_error or exc
        raise first_error or VdxpError("vdxp.not_your_agency", str(package_id))

    def dispatch(self, method: str, req: SignedRequest, body: bytes, now: datetime) -> JSONResponse:
        """Run one method (in a worker thread: the core blocks on the database)."""
        handlers: dict[str, Callable[[], JSONResponse]] = {
            "sendEdoc": lambda: self.send_edoc(req, body, now),
            "getReceivedEdocList": lambda: self.received_list(req),
            "getEdoc": lambda: self.get_edoc(req, now),
            "updateStatus": lambda: self.update_status(req, now),
            "getSentEdocList": lambda: self.sent_list(req),
            "getAgenciesList": lambda: self.agencies_list(req),
            "registerAgency": lambda: self.register_agency(req, now),
            "deleteAgency": lambda: self.delete_agency(req, now),
        }
        handler = handlers.get(method)
        if handler is None:
            raise VdxpError("vdxp.unknown_method", method[:40])
        return handler()

    def _authenticated(
        self, method: str, request: Request, body: bytes, now: datetime
    ) -> JSONResponse:
        signed = authenticate(request, self.lookup, self.settings, now)
        return self.dispatch(method, signed, body, now)

    async def handle(self, method: str, request: Request) -> JSONResponse:
        """Authenticate, read the body within the limit, dispatch; refusals in the SDK shape."""
        try:
            now = self.clock()
            body = await _read_body(request, self.settings.max_body)
            # One hop to the thread pool: the lookup and the dispatch both touch the database.
            return await run_in_threadpool(self._authenticated, method, request, body, now)
        except LienthongError as exc:
            return fail(exc)
        except Exception:  # a bug: logged in full, never shown to the caller
            log.exception("vdxp: %s failed", method)
            return JSONResponse(
                {
                    "status": "FAIL",
                    "ErrorCode": INTERNAL_ERROR,
                    "ErrorDesc": "Lỗi hệ thống / Internal error",
                    "code": "lienthong.error",
                },
                status_code=500,
            )


async def _read_body(request: Request, limit: int) -> bytes:
    try:
        return await read_body(request, limit)
    except BodyTooLargeError:
        raise VdxpError("vdxp.too_large", f"> {limit} bytes") from None


def create_vdxp_router(
    hub: HubService,
    lookup: CredentialLookup,
    *,
    directory: AgencyDirectory | None = None,
    settings: VdxpSettings | None = None,
    clock: Callable[[], datetime] | None = None,
) -> APIRouter:
    """The ``/XrdAdapter/adapter/{method}`` router (GET and POST, as the SDK uses both)."""
    adapter = VdxpAdapter(hub, lookup, directory=directory, settings=settings, clock=clock)
    router = APIRouter(prefix=PATH_PREFIX, tags=["VDXP (national SDK protocol)"])

    @router.api_route(
        "/{method}",
        methods=["GET", "POST"],
        summary="A national-SDK (VDXP) method",
        description=(
            "Parameters are HTTP headers signed with HMAC-SHA256 (XroadVnpt-sign-header, "
            "XroadVnpt-hash-header); the answer is the SDK's JSON (status, ErrorCode, "
            "ErrorDesc). Methods: " + ", ".join(METHODS) + ". See docs/vdxp.md."
        ),
    )
    async def vdxp_method(method: str, request: Request) -> JSONResponse:
        return await adapter.handle(method, request)

    return router


def vdxp_router(
    core: Hub,
    *,
    service: HubService | None = None,
    settings: VdxpSettings | None = None,
    clock: Callable[[], datetime] | None = None,
) -> APIRouter:
    """The router wired to a :class:`~lienthong.hub.service.Hub`: systems from its registry,
    the registry methods over its store, sends through ``service`` (give the same notifying
    wrapper as the ``/v1`` app so VDXP sends wake its event streams) or the core itself."""
    settings = settings or VdxpSettings.from_env(os.environ)
    return create_vdxp_router(
        service or core,
        CachedCredentials(credentials_from(core.system_by_id), ttl=settings.credentials_ttl),
        directory=StoreDirectory(core.engine),
        settings=settings,
        clock=clock,
    )


__all__ = [
    "ERROR_NUMBERS",
    "METHODS",
    "PATH_PREFIX",
    "AgencyDirectory",
    "AgencyEntry",
    "CachedCredentials",
    "CredentialLookup",
    "SignedRequest",
    "StoreDirectory",
    "VdxpAdapter",
    "VdxpCredentials",
    "VdxpError",
    "VdxpSettings",
    "authenticate",
    "check_freshness",
    "check_hash_file",
    "create_vdxp_router",
    "credentials_from",
    "error_number",
    "format_vdxp_timestamp",
    "parse_doc_id",
    "parse_timestamp",
    "receiver_doc_id",
    "vdxp_router",
]
