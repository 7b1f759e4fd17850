"""edXML packages (QCVN 102:2016/BTTTT): model, reading, writing, building, validation."""

from lienthong.domain.edxml.limits import DEFAULT_LIMITS, Limits
from lienthong.domain.edxml.model import (
    EDXML_NS,
    Attachment,
    Business,
    BusinessType,
    Code,
    Extras,
    Manifest,
    ManifestReference,
    MessageHeader,
    Organization,
    Package,
    ResponseFor,
    SignatureBlock,
    SignatureKind,
    StaffInfo,
    TraceHeader,
)
from lienthong.domain.edxml.parser import parse_package
from lienthong.domain.edxml.serializer import serialize_package

__all__ = [
    "DEFAULT_LIMITS",
    "EDXML_NS",
    "Attachment",
    "Business",
    "BusinessType",
    "Code",
    "Extras",
    "Limits",
    "Manifest",
    "ManifestReference",
    "MessageHeader",
    "Organization",
    "Package",
    "ResponseFor",
    "SignatureBlock",
    "SignatureKind",
    "StaffInfo",
    "TraceHeader",
    "parse_package",
    "serialize_package",
]
