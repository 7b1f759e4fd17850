"""What the HTTP layer needs from the CA service: a narrow interface, so that the routes stay
thin and the service can be tested without HTTP.

Every method takes ``now`` where time matters and raises coded ``PkiError``s for bad input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from lienthong.domain.errors import LienthongError


class RequestStatus(StrEnum):
    """Where a certificate request stands (yêu cầu cấp chứng thư)."""

    PENDING = "pending"  #: chờ duyệt
    ISSUED = "issued"  #: đã cấp
    REJECTED = "rejected"  #: từ chối


@dataclass(frozen=True, slots=True)
class CertificateRequest:
    """An online request: a CSR plus who the certificate is for, waiting for approval."""

    id: int
    ca: str  #: the CA asked to issue
    profile: str  #: "organization" or "person"
    csr_pem: str
    agency_code: str
    agency_name: str
    full_name: str | None  #: person certificates only
    title: str | None
    citizen_id: str | None
    province: str | None
    requested_by: str
    requested_at: datetime
    status: RequestStatus = RequestStatus.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None  #: why it was rejected
    serial: int | None = None  #: the certificate issued for it


@dataclass(frozen=True, slots=True)
class Approval:
    """The outcome for one request of a batch approval: decided, or refused with a code."""

    request_id: int
    request: CertificateRequest | None = None  #: the issued request, with its serial
    error: LienthongError | None = None  #: why this one was not issued (the others may be)


#: Most requests one batch approval may decide (one transaction, one HTTP call).
MAX_BATCH_APPROVALS = 1000


class StatusService(Protocol):
    """Certificate status for relying parties: CRL, OCSP, timestamps, CA certificates."""

    def ca_names(self) -> Sequence[str]:
        """The CAs this service answers for."""
        ...

    def ca_certificate_der(self, ca: str) -> bytes:
        """The CA's own certificate (AIA caIssuers); ``pki.unknown_ca`` if none."""
        ...

    def crl_der(self, ca: str, *, now: datetime) -> bytes:
        """The CA's current full CRL, DER."""
        ...

    def ocsp(self, ca: str, request_der: bytes, *, now: datetime) -> bytes:
        """An OCSP response (DER) to a DER request; never raises for a bad request."""
        ...

    def timestamp(self, ca: str, request_der: bytes, *, now: datetime) -> bytes:
        """An RFC 3161 TimeStampResp (DER) to a DER TimeStampReq; never raises for bad input."""
        ...


class RegistrationService(Protocol):
    """Online requests and their approval (đăng ký trực tuyến)."""

    def submit(
        self,
        *,
        ca: str,
        profile: str,
        csr_pem: str,
        agency_code: str,
        agency_name: str,
        full_name: str | None,
        title: str | None,
        citizen_id: str | None,
        province: str | None,
        requested_by: str,
        now: datetime,
    ) -> CertificateRequest:
        """Record a request; ``pki.bad_csr`` for a malformed CSR or a bad self-signature,
        ``pki.out_of_scope`` for an agency outside the CA's scope (checked at once)."""
        ...

    def requests(
        self, *, ca: str | None = None, status: RequestStatus | None = None
    ) -> Sequence[CertificateRequest]:
        """Requests, newest first."""
        ...

    def approve(self, request_id: int, *, operator: str, now: datetime) -> CertificateRequest:
        """Issue the certificate; the returned request carries its serial."""
        ...

    def approve_all(
        self, request_ids: Sequence[int], *, operator: str, now: datetime
    ) -> Sequence[Approval]:
        """Approve many requests at once, in order; one refused does not stop the others."""
        ...

    def reject(
        self, request_id: int, *, operator: str, reason: str, now: datetime
    ) -> CertificateRequest:
        """Refuse the request, with a reason."""
        ...

    def certificate_pem(self, ca: str, serial: int) -> bytes:
        """An issued certificate, PEM; ``pki.unknown_serial`` if none."""
        ...
