"""PKI test fixtures: a fresh SoftHSM2 token per test.

SoftHSM2 reads ``SOFTHSM2_CONF`` when the module is initialised (``C_Initialize``) and does
not notice tokens created afterwards, so the fixture points the variable at this test's
own token directory and re-initialises the module. Under xdist every worker is its own
process with its own module, and every test its own ``tmp_path``: nothing is shared.

SoftHSM2 missing is a failure, not a skip: the PKCS#11 path is part of the product.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pkcs11
import pytest

SOFTHSM_LIBRARIES = (
    Path("/usr/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
)


@dataclass(frozen=True)
class SoftHsmToken:
    """An initialised SoftHSM2 token: where the module is and how to log in."""

    library: Path
    label: str
    pin: str
    so_pin: str
    conf: Path


def softhsm_library() -> Path:
    """The SoftHSM2 module, or a test failure saying how to install it."""
    for candidate in SOFTHSM_LIBRARIES:
        if candidate.exists():
            # The real path: pkcs11.lib() keeps one module per path string, and
            # lienthong.pki.pkcs11_key uses the real path too.
            return candidate.resolve()
    pytest.fail(
        "SoftHSM2 is not installed (no libsofthsm2.so in "
        + ", ".join(str(p) for p in SOFTHSM_LIBRARIES)
        + "): apt-get install softhsm2",
        pytrace=False,
    )


@pytest.fixture
def softhsm_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SoftHsmToken:
    """A new, empty SoftHSM2 token in this test's temporary directory."""
    library = softhsm_library()
    util = shutil.which("softhsm2-util")
    if util is None:
        pytest.fail("SoftHSM2 is not installed (no softhsm2-util): apt-get install softhsm2")
    tokens = tmp_path / "softhsm-tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    token = SoftHsmToken(library, "lienthong-test", "123456", "12345678", conf)
    subprocess.run(
        [
            util,
            "--init-token",
            "--free",
            "--label",
            token.label,
            "--so-pin",
            token.so_pin,
            "--pin",
            token.pin,
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
    )
    # C_Finalize + C_Initialize: the module forgets the previous test's token directory.
    # Keys opened by an earlier test in this worker are closed by then (tests use `with`).
    pkcs11.lib(str(library)).reinitialize()
    return token
