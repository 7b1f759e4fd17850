"""A CA directory whose root and delegated CA keys live in a PKCS#11 token (SoftHSM2)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from lienthong.authority.service import (
    AuthorityService,
    TokenConfig,
    init_directory,
    parse_pkcs11_key_ref,
    pkcs11_key_ref,
)
from lienthong.domain.errors import LienthongError
from lienthong.pki.keys import generate_key
from lienthong.pki.profiles import OrganizationSubject
from lienthong.store.certificates import CaRepository

if TYPE_CHECKING:  # conftest is not importable at run time (tests/ is no package)
    from tests.conftest import SoftHsmToken

pytestmark = pytest.mark.integration

PASSPHRASE = "mật khẩu thử nghiệm"


def _openssl_verify(directory: Path, leaf_pem: bytes) -> subprocess.CompletedProcess[str]:
    leaf = directory / "leaf.pem"
    leaf.write_bytes(leaf_pem)
    return subprocess.run(
        ["openssl", "verify", "-CAfile", "root/ca.pem", "-untrusted", "nghe-an/ca.pem",
         "leaf.pem"],
        cwd=directory, capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip


def test_key_references_round_trip_with_odd_labels() -> None:
    ref = pkcs11_key_ref("Token Sở; số 1", "lienthong-nghe-an")
    assert ref.startswith("pkcs11:token=")
    assert ";object=lienthong-nghe-an" in ref
    assert parse_pkcs11_key_ref(ref) == ("Token Sở; số 1", "lienthong-nghe-an")
    with pytest.raises(LienthongError) as refused:
        parse_pkcs11_key_ref("pkcs11:object=x")
    assert refused.value.code == "pki.key_not_found"


def test_a_ca_directory_with_its_ca_keys_in_a_token(
    softhsm_token: SoftHsmToken, tmp_path: Path
) -> None:
    directory = tmp_path / "ca"
    token = TokenConfig(softhsm_token.library, softhsm_token.pin, softhsm_token.label)
    now = datetime.now(UTC)

    init_directory(directory, passphrase=PASSPHRASE, now=now, token=token)

    # No CA key file anywhere; the directory only says where the keys are.
    assert not (directory / "root" / "ca.key.pem").exists()
    assert not (directory / "nghe-an" / "ca.key.pem").exists()
    service = AuthorityService(directory, PASSPHRASE, token=TokenConfig(token.module, token.pin))
    try:
        with service.engine.connect() as connection:
            refs = {row.name: row.key_ref for row in CaRepository(connection).list()}
        assert refs == {
            "root": pkcs11_key_ref(softhsm_token.label, "lienthong-root"),
            "nghe-an": pkcs11_key_ref(softhsm_token.label, "lienthong-nghe-an"),
        }
        assert service.ca("nghe-an").key.private_key is None  # it signs inside the token

        record = service.issue_for_key(
            "nghe-an",
            generate_key("p256"),
            OrganizationSubject("000.00.20.H41", "Sở Y tế tỉnh Nghệ An", "Nghệ An"),
            operator="admin",
            now=now,
        )
        checked = _openssl_verify(directory, record.pem)
        assert checked.returncode == 0, checked.stdout + checked.stderr

        service.revoke(
            "nghe-an", record.serial, x509.ReasonFlags.key_compromise, operator="admin", now=now
        )
        crl = x509.load_der_x509_crl(service.crl_der("nghe-an", now=now))
        assert crl.is_signature_valid(service.ca("nghe-an").certificate.public_key())  # type: ignore[arg-type]
        assert crl.get_revoked_certificate_by_serial_number(record.serial) is not None
        request = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(record.certificate, service.ca("nghe-an").certificate, hashes.SHA256())
            .build()
            .public_bytes(serialization.Encoding.DER)
        )
        answer = ocsp.load_der_ocsp_response(service.ocsp("nghe-an", request, now=now))
        assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
    finally:
        service.close()


def test_loading_without_the_token_or_with_a_wrong_pin_is_refused(
    softhsm_token: SoftHsmToken, tmp_path: Path
) -> None:
    directory = tmp_path / "ca"
    token = TokenConfig(softhsm_token.library, softhsm_token.pin, softhsm_token.label)
    init_directory(directory, passphrase=PASSPHRASE, now=datetime.now(UTC), token=token)

    with pytest.raises(LienthongError) as missing:
        AuthorityService(directory, PASSPHRASE)
    assert missing.value.code == "pki.token_unavailable"
    assert "LIENTHONG_PKCS11_MODULE" in missing.value.detail

    with pytest.raises(LienthongError) as wrong:
        AuthorityService(directory, PASSPHRASE, token=TokenConfig(token.module, "000000"))
    assert wrong.value.code == "pki.token_wrong_pin"


@pytest.mark.e2e
def test_ca_init_and_issue_through_the_cli_with_a_token(
    softhsm_token: SoftHsmToken, tmp_path: Path
) -> None:
    binary = Path(sys.executable).with_name("lienthong")
    env = {
        **os.environ,
        "SOFTHSM2_CONF": str(softhsm_token.conf),
        "LIENTHONG_CA_PASSPHRASE": PASSPHRASE,
        "LIENTHONG_PKCS11_MODULE": str(softhsm_token.library),
        "LIENTHONG_PKCS11_PIN": softhsm_token.pin,
        "COLUMNS": "200",
    }
    directory = tmp_path / "ca"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(binary), *args], env=env, capture_output=True, text=True, check=False, timeout=120
        )
        assert "Traceback" not in done.stderr, done.stderr
        return done

    made = run("ca", "init", str(directory), "--token", softhsm_token.label)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "in PKCS#11 token" in made.stdout
    issued = run(
        "ca", "issue", str(directory), "--ca", "nghe-an", "--organization",
        "--agency-code", "000.00.20.H41", "--agency-name", "Sở Y tế tỉnh Nghệ An",
        "--key-type", "p256", "-o", str(tmp_path / "so-y-te"),
    )  # fmt: skip
    assert issued.returncode == 0, issued.stdout + issued.stderr
    checked = _openssl_verify(directory, (tmp_path / "so-y-te.pem").read_bytes())
    assert checked.returncode == 0, checked.stdout + checked.stderr

    without_pin = {k: v for k, v in env.items() if k != "LIENTHONG_PKCS11_PIN"}
    refused = subprocess.run(
        [str(binary), "ca", "crl", str(directory), "--ca", "nghe-an"],
        env=without_pin, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "pki.token_unavailable" in refused.stderr
