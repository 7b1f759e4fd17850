"""``lienthong verify``: check every signature of a PDF or an edXML package, one report each.

A :class:`Verifier` holds what verifications share: the trust roots, one event loop and one
HTTP session for OCSP/CRL fetching (pyhanko-certvalidator's aiohttp fetchers), and the
revocation answers fetched in the last ``cache_seconds`` — a batch of documents from the same
agencies asks the responder once per certificate, not once per document. Dispatch is by
content (``%PDF-`` or XML), not by file name.

For an ``.edxml`` package it checks the envelope signature (:mod:`lienthong.signing.xmldsig`,
its certificate with the same path validation as PDFs, our scope rule, and that the
certificate's agency code is the sender's ``From/OrganId``) and every signed PDF attachment.

:func:`verify_batch` spreads files over worker processes (one :class:`Verifier` each), so a
batch uses every core; reports are plain dataclasses and cross the process boundary as they are.
"""

from __future__ import annotations

import asyncio
import multiprocessing.util
import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.validation.generic_cms import validate_cert_usage
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.api import Fetchers
from pyhanko_certvalidator.registry import SimpleTrustManager

from lienthong.domain.edxml.attachments import payload_files
from lienthong.domain.errors import EdxmlError, LienthongError, Severity
from lienthong.pki.profiles import agency_code_of
from lienthong.signing.report import (
    CertificateInfo,
    FileReport,
    Finding,
    Revocation,
    RevocationStatus,
    SignatureReport,
    SubIndication,
    finding_verdicts,
    indication_for,
    make_file_report,
    scope_findings,
    worst,
)
from lienthong.signing.verify_pdf import chain_code, revocation_source, verify_pdf
from lienthong.signing.xmldsig import EnvelopeCheck, check_envelope

#: Key usages accepted on an envelope signer (organisation certificates carry both).
ENVELOPE_KEY_USAGE = frozenset({"digital_signature", "non_repudiation"})


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    """How to verify. Plain data (DER bytes), so worker processes can receive it."""

    trust_roots: tuple[bytes, ...]  #: DER certificates of the trusted root CAs
    online: bool = True  #: fetch OCSP/CRL from the certificates' AIA/CRLDP URLs
    now: datetime | None = None  #: validation time (``None``: the current time)
    timeout: float = 10.0  #: per HTTP request, seconds
    cache_seconds: float = 60.0  #: how long fetched revocation answers are reused

    @classmethod
    def from_pem_files(cls, paths: Iterable[Path], **kwargs: object) -> VerifyOptions:
        """Options trusting the certificates in PEM (or DER) files."""
        roots = []
        for path in paths:
            roots += [c.public_bytes(serialization.Encoding.DER) for c in load_certificates(path)]
        return cls(tuple(roots), **kwargs)  # type: ignore[arg-type]


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate in a PEM file (or the one in a DER file); ``usage.bad_argument`` if
    there is none or the file cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LienthongError("io.unreadable", f"{path}: {exc.strerror}") from None
    try:
        if b"-----BEGIN" in data:
            found = x509.load_pem_x509_certificates(data)
        else:
            found = [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise LienthongError("usage.bad_argument", f"{path}: no certificate ({exc})") from None
    return found


class Verifier:
    """Verifies files one after another, sharing an event loop, an HTTP session and the
    revocation answers; use it as a context manager (or call :meth:`close`)."""

    def __init__(self, options: VerifyOptions) -> None:
        self.options = options
        self._trust = SimpleTrustManager.build(
            trust_roots=[asn1_x509.Certificate.load(der) for der in options.trust_roots]
        )
        self._runner = asyncio.Runner()
        self._backend = AIOHttpFetcherBackend(per_request_timeout=options.timeout)
        self._fetchers: Fetchers | None = None
        self._fetched_at = 0.0

    def __enter__(self) -> Verifier:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session and the event loop."""
        try:
            self._runner.run(self._backend.close())  # type: ignore[no-untyped-call]
        finally:
            self._runner.close()

    # -- contexts --------------------------------------------------------------------------------
    def _shared_fetchers(self) -> Fetchers:
        # Fetchers cache what they fetched; a fresh set every ``cache_seconds`` bounds how long
        # a revocation can go unseen within one long batch.
        clock = time.monotonic()
        if self._fetchers is None or clock - self._fetched_at > self.options.cache_seconds:
            self._fetchers = self._backend.get_fetchers()
            self._fetched_at = clock
        return self._fetchers

    def context(self, embedded: dict[str, list[object]], fetch: bool = True) -> ValidationContext:
        """A validation context: our trust roots, hard-fail revocation checking, the document's
        own revocation data (DSS) if any, and fetching when online and ``fetch``."""
        fetching = self.options.online and fetch
        return ValidationContext(
            trust_manager=self._trust,
            allow_fetching=fetching,
            fetchers=self._shared_fetchers() if fetching else None,
            revocation_mode="hard-fail",
            moment=self.options.now,
            other_certs=embedded.get("other_certs", []),
            ocsps=embedded.get("ocsps", []),
            crls=embedded.get("crls", []),
        )

    # -- entry points ----------------------------------------------------------------------------
    def verify_file(self, path: Path) -> FileReport:
        """Verify one file; an unreadable file gives a report, not an exception."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            finding = Finding(
                "verify.bad_file", Severity.ERROR, f"{path}: {exc.strerror}",
                SubIndication.FORMAT_FAILURE,
            )  # fmt: skip
            return make_file_report(str(path), "unknown", findings=[finding])
        return self.verify_bytes(data, str(path))

    def verify_bytes(self, data: bytes, name: str) -> FileReport:
        """Verify a PDF or an edXML package given as bytes."""
        return self._runner.run(self._verify(data, name))

    async def _verify(self, data: bytes, name: str) -> FileReport:
        kind = sniff(data)
        if kind == "pdf":
            return await verify_pdf(data, name, context=self.context)
        if kind == "edxml":
            return await self._verify_package(data, name)
        finding = Finding(
            "verify.unsupported_file", Severity.ERROR, name, SubIndication.FORMAT_FAILURE
        )
        return make_file_report(name, "unknown", findings=[finding])

    async def _verify_package(self, data: bytes, name: str) -> FileReport:
        check = check_envelope(data)
        envelope = await self._envelope_report(check)
        attachments: list[FileReport] = []
        findings: list[Finding] = []
        package = check.package
        for index, attachment in enumerate(package.files if package else ()):
            label = f"{name}#{attachment.attachment_name or index + 1}"
            try:
                files = payload_files(attachment)
            except EdxmlError as exc:
                findings.append(
                    Finding(
                        "verify.attachment_unreadable",
                        Severity.ERROR,
                        f"{label}: {exc.describe()}",
                        SubIndication.FORMAT_FAILURE,
                    )
                )
                continue
            for payload in files:
                if payload.data[:5] != b"%PDF-":
                    continue  # only PDFs carry signatures we check
                where = f"{label}/{payload.name}" if payload.from_zip else label
                report = await verify_pdf(payload.data, where, context=self.context)
                attachments.append(report)
        document_id = package.header.document_id if package else None
        return make_file_report(
            name, "edxml", signatures=[envelope], findings=findings,
            attachments=attachments, document_id=document_id,
        )  # fmt: skip

    async def _envelope_report(self, check: EnvelopeCheck) -> SignatureReport:
        findings = list(check.findings)
        signer = check.signer
        base_sub = check.sub_indication
        chain: list[x509.Certificate] = [signer] if signer else []
        revocation = None
        if signer is not None and base_sub is None:
            sub, chain, revocation, chain_findings = await self._check_chain(signer, check.chain)
            findings += chain_findings
            base_sub = sub
            agency = agency_code_of(signer.subject)
            if check.sender and agency != check.sender:
                findings.append(
                    Finding(
                        "verify.agency_mismatch",
                        Severity.ERROR,
                        f"certificate {agency or 'without agency code'}, From {check.sender}",
                        SubIndication.SIG_CONSTRAINTS_FAILURE,
                    )
                )
        indication, sub = worst([(indication_for(base_sub), base_sub), *finding_verdicts(findings)])
        return SignatureReport(
            kind="xmldsig",
            name="edXMLHeader/Signature",
            role="envelope",
            indication=indication,
            sub_indication=sub,
            signer=CertificateInfo.of(signer) if signer else None,
            chain=tuple(CertificateInfo.of(c) for c in chain),
            revocation=revocation,
            signing_time=check.claimed_time,
            signing_time_source="the sender's TraceHeader (signed)" if check.claimed_time else None,
            timestamp=None,
            intact=check.intact,
            valid=check.valid,
            covers="the package except hops added after signing" if check.covered else "",
            covered_parts=tuple(check.covered),
            changes_after=None,
            findings=tuple(findings),
        )

    async def _check_chain(
        self, signer: x509.Certificate, extra: Sequence[x509.Certificate]
    ) -> tuple[SubIndication | None, list[x509.Certificate], Revocation, list[Finding]]:
        """Path validation of an envelope signer, as pyHanko does for a PDF signer."""
        context = self.context({})
        as_asn1 = [
            asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in extra
        ]
        leaf = asn1_x509.Certificate.load(signer.public_bytes(serialization.Encoding.DER))
        context.certificate_registry.register_multiple(as_asn1)
        paths = context.path_builder.async_build_paths_lazy(leaf)
        try:
            result = await validate_cert_usage(
                leaf, context, KeyUsageConstraints(key_usage=set(ENVELOPE_KEY_USAGE)), paths
            )
        finally:
            await paths.cancel()  # type: ignore[no-untyped-call]
        findings: list[Finding] = []
        path = result.success_result or result.error_path
        chain = [signer]
        if path is not None:
            found = [
                x509.load_der_x509_certificate(c.dump()) for c in path.iter_certs(include_root=True)
            ][::-1]
            chain = found if found and found[0] == signer else [signer, *found]
        source = revocation_source(context, {})
        sub: SubIndication | None = None
        if result.success_result is None:
            raw = result.error_subindic
            sub = SubIndication[raw.name] if raw and raw.name in SubIndication.__members__ else None
            sub = sub or SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE
            findings.append(Finding(chain_code(sub), Severity.ERROR, "", sub))
        details = result.revo_details
        if details is not None:
            revocation = Revocation(
                RevocationStatus.REVOKED, source, details.revocation_date,
                str(details.revocation_reason.native) if details.revocation_reason else None,
            )  # fmt: skip
        elif sub is None:
            revocation = Revocation(RevocationStatus.GOOD, source)
        else:
            revocation = Revocation(RevocationStatus.UNKNOWN, source)
        findings += scope_findings(chain)
        return sub, chain, revocation, findings


def sniff(data: bytes) -> str:
    """``pdf``, ``edxml`` (any XML) or ``unknown``, from the first bytes.

    A PDF header may follow a little junk (readers look in the first kilobyte).
    """
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return "edxml"
    return "unknown"


# -- batch -------------------------------------------------------------------------------------
_worker: Verifier | None = None


def _init_worker(options: VerifyOptions) -> None:
    global _worker  # noqa: PLW0603 - one verifier per worker process, by design
    _worker = Verifier(options)
    # Runs when the worker exits (atexit does not, in a pool's child process).
    multiprocessing.util.Finalize(_worker, _worker.close, exitpriority=10)


def _verify_in_worker(path: str) -> FileReport:
    assert _worker is not None
    return _worker.verify_file(Path(path))


def verify_batch(
    paths: Sequence[Path], options: VerifyOptions, *, workers: int | None = None
) -> list[FileReport]:
    """Verify many files on ``workers`` processes (default: every core), reports in order.

    One process keeps the loop simple: files are verified in this process.
    """
    count = workers or os.cpu_count() or 1
    if count <= 1 or len(paths) <= 1:
        with Verifier(options) as verifier:
            return [verifier.verify_file(path) for path in paths]
    chunk = max(1, len(paths) // (count * 4))
    with ProcessPoolExecutor(
        max_workers=count, initializer=_init_worker, initargs=(options,)
    ) as pool:
        return list(pool.map(_verify_in_worker, [str(p) for p in paths], chunksize=chunk))


__all__ = [
    "Verifier",
    "VerifyOptions",
    "load_certificates",
    "sniff",
    "verify_batch",
]
