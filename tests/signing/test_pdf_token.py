"""A PDF signed with a key that never leaves a PKCS#11 token (SoftHSM2), then verified."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography import x509

from lienthong.authority.process import running_ca_server
from lienthong.authority.service import AuthorityService, TokenConfig, init_directory
from lienthong.pki.pkcs11_key import generate_in_token
from lienthong.pki.profiles import PersonSubject
from lienthong.signing.appearance import StampImage
from lienthong.signing.documents import generate_document, sample_spec
from lienthong.signing.images import signature_png
from lienthong.signing.pdf import Level, SigningIdentity, sign_signer
from lienthong.signing.verify import Verifier, VerifyOptions

if TYPE_CHECKING:  # conftest is not importable at run time (tests/ is no package)
    from tests.conftest import SoftHsmToken

pytestmark = pytest.mark.integration


def test_a_leader_signs_with_a_token_key_and_the_signature_verifies(
    softhsm_token: SoftHsmToken, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    directory = tmp_path / "ca"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    init_directory(
        directory, passphrase="pw", now=now, demo=False, base_url=f"http://127.0.0.1:{port}"
    )
    key = generate_in_token(
        softhsm_token.library, softhsm_token.label, softhsm_token.pin,
        key_label="nguyen-van-binh", kind="rsa2048",
    )  # fmt: skip
    service = AuthorityService(directory, "pw", token=TokenConfig(softhsm_token.library, "x"))
    try:
        record = service.ca("nghe-an").issue_person(
            key.public_key(),
            PersonSubject("Nguyễn Văn Bình", "Phó Giám đốc", "000.00.12.H41", "Sở TT&TT Nghệ An"),
            now=now,
        )
        sub = service.ca("nghe-an").certificate
    finally:
        service.close()
    assert key.private_key is None  # the private key is in the token only
    identity = SigningIdentity(key, x509.load_pem_x509_certificate(record.pem), (sub,))
    draft = generate_document(sample_spec(0, signer="Nguyễn Văn Bình"))

    signed = sign_signer(
        draft.pdf, identity, StampImage(signature_png("Nguyễn Văn Bình")), now=now,
        level=Level.B_B,
    )  # fmt: skip
    key.close()

    options = VerifyOptions.from_pem_files([directory / "root" / "ca.pem"])
    with running_ca_server(directory, port, passphrase="pw"), Verifier(options) as verifier:
        report = verifier.verify_bytes(signed.pdf, "token.pdf")
    (signature,) = report.signatures
    assert signature.intact
    assert signature.valid
    assert signature.signer is not None
    assert "Nguyễn Văn Bình" in str(signature.signer)
    assert signature.passed, report
