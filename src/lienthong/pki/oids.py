"""Object identifiers of the lienthong PKI profile.

Our own identifiers live under a UUID-based arc (ITU-T X.667: ``2.25.<UUID as a decimal>``),
which anyone may use without registration; the numbers below it are assigned here and never
reused. Standard identifiers are taken from ``cryptography`` where it has them.
"""

from __future__ import annotations

from cryptography.x509.oid import ObjectIdentifier

#: The project arc (generated once with uuid4; ours).
LIENTHONG_ARC = "2.25.11616100602477887659049100412079014055"

#: Certificate policy of the lienthong government PKI (organisation and personal certificates).
POLICY_GOVERNMENT = ObjectIdentifier(f"{LIENTHONG_ARC}.1.1")
#: Timestamping policy of our TSA.
POLICY_TIMESTAMPING = ObjectIdentifier(f"{LIENTHONG_ARC}.1.2")
#: Extension on a delegated CA: the level-1 agency code(s) it may issue for (UTF8String list).
AGENCY_SCOPE_EXTENSION = ObjectIdentifier(f"{LIENTHONG_ARC}.2.1")

#: X.520 organizationIdentifier (2.5.4.97): carries the agency code as ``MDDVN-<code>``.
ORGANIZATION_IDENTIFIER = ObjectIdentifier("2.5.4.97")
#: RFC 9336 id-kp-documentSigning.
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")

#: Prefix of the agency code in ``organizationIdentifier`` ("mã định danh", Vietnam) [ours,
#: after the eIDAS semantics-identifier pattern: three letters, country, hyphen, value].
AGENCY_ID_PREFIX = "MDDVN-"
#: Prefix of the citizen identity number in the personal certificate's UID attribute
#: (Vietnamese CAs write ``CCCD:`` or ``CMND:`` there).
CITIZEN_ID_PREFIX = "CCCD:"
