"""Signing fixtures: a CA directory made once per worker with ``init_directory``, served by a
real ``lienthong ca serve`` subprocess on 127.0.0.1 (timestamps, OCSP, CRLs), the demo
identities loaded once, demo images, a generated draft and an NSS database trusting our root
(for poppler's ``pdfsig``).

``served_signing_ca`` is the entry point; everything hangs off it. The port is any free one:
five-digit ports once exposed an asn1crypto re-encoding storm (see ``lienthong.pki.tsa``),
so they stay in the tests.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from lienthong.authority.process import running_ca_server
from lienthong.authority.service import init_directory
from lienthong.signing.appearance import StampImage
from lienthong.signing.documents import GeneratedDocument, generate_document, sample_spec
from lienthong.signing.identity import ca_directory_identity
from lienthong.signing.images import seal_png, signature_png
from lienthong.signing.pdf import Services, SigningIdentity

SIGNING_PASSPHRASE = "mật-khẩu ký thử nghiệm"
PERSON = "issued/nguyen-van-an"
ORGANISATION = "issued/so-tttt-nghe-an"


def free_port() -> int:
    """A free port on 127.0.0.1 (the kernel's choice, usually five digits)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class ServedCa:
    """A CA directory and the ``ca serve`` answering for it."""

    directory: Path
    port: int
    passphrase: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tsa_url(self) -> str:
        return f"{self.base_url}/tsa/nghe-an"

    @property
    def root_pem(self) -> Path:
        return self.directory / "root" / "ca.pem"

    @property
    def root(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.root_pem.read_bytes())

    def identity(self, name: str) -> SigningIdentity:
        return ca_directory_identity(self.directory, name, self.passphrase)

    def services(self) -> Services:
        return Services(tsa_url=self.tsa_url, trust_roots=(self.root,))


@pytest.fixture(scope="session")
def served_signing_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedCa]:
    """A demo CA (root, delegated CA nghe-an, the organisation and the leader) served live."""
    directory = tmp_path_factory.mktemp("signing-ca") / "ca"
    port = free_port()
    init_directory(
        directory, passphrase=SIGNING_PASSPHRASE, now=datetime.now(UTC),
        base_url=f"http://127.0.0.1:{port}",
    )  # fmt: skip
    log = directory.parent / "serve.log"
    with running_ca_server(directory, port, passphrase=SIGNING_PASSPHRASE, log=log):
        yield ServedCa(directory, port, SIGNING_PASSPHRASE)


@pytest.fixture(scope="session")
def person(served_signing_ca: ServedCa) -> SigningIdentity:
    """The leader Nguyễn Văn An (personal certificate)."""
    return served_signing_ca.identity(PERSON)


@pytest.fixture(scope="session")
def organisation(served_signing_ca: ServedCa) -> SigningIdentity:
    """Sở Thông tin và Truyền thông tỉnh Nghệ An (organisation certificate)."""
    return served_signing_ca.identity(ORGANISATION)


@pytest.fixture(scope="session")
def signature_image() -> StampImage:
    """The demo blue signature of Nguyễn Văn An."""
    return StampImage(signature_png("Nguyễn Văn An"), what="signature")


@pytest.fixture(scope="session")
def seal_image() -> StampImage:
    """The demo red seal of the Sở (36 mm)."""
    return StampImage(
        seal_png("Sở Thông tin và Truyền thông", bottom_text="Tỉnh Nghệ An"), what="seal"
    )


@pytest.fixture(scope="session")
def draft() -> GeneratedDocument:
    """A generated letter signed by Nguyễn Văn An, with empty number and date fields."""
    return generate_document(sample_spec(0, signer="Nguyễn Văn An"))


@pytest.fixture(scope="session")
def nss_database(tmp_path_factory: pytest.TempPathFactory, served_signing_ca: ServedCa) -> Path:
    """An NSS database (``sql:``) trusting our root, for ``pdfsig -nssdir``."""
    certutil = shutil.which("certutil")
    if certutil is None:
        pytest.fail("certutil is missing: apt-get install libnss3-tools")
    directory = tmp_path_factory.mktemp("nss")
    subprocess.run([certutil, "-N", "-d", f"sql:{directory}", "--empty-password"], check=True)
    subprocess.run(
        [certutil, "-A", "-d", f"sql:{directory}", "-n", "lienthong-root", "-t", "CT,C,C",
         "-i", str(served_signing_ca.root_pem)],
        check=True,
    )  # fmt: skip
    return directory
