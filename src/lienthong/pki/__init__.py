"""The government PKI (chữ ký số chuyên dùng): CAs, certificates, CRL, OCSP, timestamps.

Built on ``cryptography`` (X.509, OCSP) and ``asn1crypto`` (RFC 3161). Keys stay inside
key stores (:mod:`lienthong.pki.keys`); callers get our own dataclasses.
"""
