"""Checking an online certificate request (yêu cầu cấp chứng thư) before it is recorded.

One place for the rules, used by the CA service and by any other registration front end:
the CSR is well formed and signed by its own key, the profile is one agencies may ask for,
a personal certificate names its holder and post, and the agency is within the CA's scope.
"""

from __future__ import annotations

from cryptography import x509

from lienthong.domain.errors import PkiError
from lienthong.pki.ca import CertificateAuthority
from lienthong.pki.profiles import Profile, is_within


def load_csr(csr_pem: str, *, verify: bool = True) -> x509.CertificateSigningRequest:
    """Read a PEM PKCS#10 request; ``pki.bad_csr`` if malformed or not self-signed correctly.

    ``verify=False`` skips the self-signature check, for a request already checked when it
    was received and kept since in our own database.
    """
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode("ascii"))
        valid = csr.is_signature_valid if verify else True
    except (ValueError, TypeError, UnicodeError) as exc:
        raise PkiError("pki.bad_csr", f"not a PEM PKCS#10 request: {exc}") from None
    if not valid:
        raise PkiError("pki.bad_csr", "the CSR's signature does not match its key")
    return csr


def check_request(
    authority: CertificateAuthority,
    *,
    profile: str,
    csr_pem: str,
    agency_code: str,
    full_name: str | None,
    title: str | None,
) -> x509.CertificateSigningRequest:
    """Refuse what the CA would refuse at approval, before anyone waits for it."""
    if profile not in (Profile.ORGANIZATION, Profile.PERSON):
        raise PkiError("pki.bad_request", f"profile {profile!r}: organization or person")
    if profile == Profile.PERSON and not (full_name and title):
        raise PkiError("pki.bad_request", "a personal certificate needs full_name and title")
    csr = load_csr(csr_pem)
    if not is_within(agency_code, authority.scope):
        raise PkiError("pki.out_of_scope", f"{agency_code} is outside {authority.name}")
    return csr
