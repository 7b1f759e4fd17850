"""Signatures on documents and packages (ký số văn bản): PDF signatures with the appearance
Decree 30/2020 prescribes, XML envelope signatures, and their verification into one report.

Built on pyHanko (PDF), signxml (XML) and the PKI of :mod:`lienthong.pki`.
"""
