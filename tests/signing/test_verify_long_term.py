"""A long-term (B-LT) document passes on its embedded revocation data even when the CA's
responder can no longer be reached: what a clerk sees verifying an archived document."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lienthong.authority.process import running_ca_server
from lienthong.authority.service import init_directory
from lienthong.signing.documents import generate_document, sample_spec
from lienthong.signing.identity import ca_directory_identity, trust_roots_of, tsa_url_for
from lienthong.signing.pdf import Level, Services, sign_invisible
from lienthong.signing.report import Indication
from lienthong.signing.verify import Verifier, VerifyOptions

pytestmark = pytest.mark.integration

PASSPHRASE = "mật khẩu lưu trữ"


@pytest.mark.parametrize("level", [Level.B_LT, Level.B_T])
def test_embedded_revocation_data_is_enough_when_the_responder_is_gone(
    tmp_path: Path, level: Level
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    directory = tmp_path / "ca"
    init_directory(
        directory, passphrase=PASSPHRASE, now=datetime.now(UTC),
        base_url=f"http://127.0.0.1:{port}",
    )  # fmt: skip
    organisation = ca_directory_identity(directory, "issued/so-tttt-nghe-an", PASSPHRASE)
    services = Services(
        tsa_url=tsa_url_for(organisation.certificate), trust_roots=trust_roots_of(organisation)
    )
    with running_ca_server(directory, port, passphrase=PASSPHRASE):
        signed = sign_invisible(
            generate_document(sample_spec(1)).pdf, organisation, now=datetime.now(UTC),
            level=level, services=services,
        )  # fmt: skip

    # The CA has stopped answering. The verifier is online, but cannot reach it.
    options = VerifyOptions.from_pem_files([directory / "root" / "ca.pem"], timeout=2.0)
    with Verifier(options) as verifier:
        report = verifier.verify_bytes(signed.pdf, "archived.pdf")

    (signature,) = report.signatures
    if level is Level.B_LT:
        assert signature.indication is Indication.TOTAL_PASSED, report
        assert signature.revocation is not None
        assert signature.revocation.source == "embedded"
    else:
        # Without embedded data there is nothing to go on: indeterminate, never passed.
        assert signature.indication is Indication.INDETERMINATE, report
