"""The certificate authority service (dịch vụ chứng thực): CAs, keys, registry and audit
wired together, for the command line and the HTTP services.

``lienthong.pki`` holds the pure machinery (profiles, issuing, CRL, OCSP, TSA, keys);
``lienthong.store`` the tables; this package joins them.
"""
