"""Plain-data views of a package, for JSON output and reports (no I/O)."""

from __future__ import annotations

from typing import Any

from lienthong.domain.edxml.attachments import is_zip
from lienthong.domain.edxml.business import business_type
from lienthong.domain.edxml.model import Attachment, Extras, Package, SignatureBlock


def describe_package(package: Package) -> dict[str, Any]:
    """The essentials of a package, as JSON-ready data (``lienthong edxml show --json``).

    Attachments are described (name, type, size, SHA-256 of the transferred bytes, whether
    they are ZIP-wrapped); their content is not included. An attachment whose base64 is
    invalid has ``size`` and ``sha256`` set to ``None``.
    """
    header = package.header
    sender = header.from_
    business = package.business
    kind = business_type(package)
    return {
        "kind": package.kind,
        "document_id": header.document_id,
        "from": {
            "organ_id": sender.organ_id if sender else None,
            "organ_name": sender.organ_name if sender else None,
        },
        "to": [{"organ_id": t.organ_id, "organ_name": t.organ_name} for t in header.to],
        "code": str(header.code) if header.code else None,
        "subject": header.subject,
        "promulgation_date": (
            header.promulgation_info.promulgation_date if header.promulgation_info else None
        ),
        "priority": header.other_info.priority if header.other_info else None,
        "business_doc_type": (
            int(kind) if kind is not None and not package.is_status and business else None
        ),
        "status_code": header.status_code,
        "status_description": header.description,
        "timestamp": header.timestamp,
        "response_for": [
            {
                "organ_id": r.organ_id,
                "code": r.code,
                "promulgation_date": r.promulgation_date,
                "document_id": r.document_id,
            }
            for r in header.response_for
            if not r.is_empty
        ],
        "traces": [{"organ_id": t.organ_id, "timestamp": t.timestamp} for t in package.traces],
        "signature": package.signature.kind.value if package.signature else None,
        "attachments": [_describe_attachment(a) for a in package.files],
        "notes": [{"code": code, "detail": detail} for code, detail in package.notes],
    }


def _describe_attachment(attachment: Attachment) -> dict[str, Any]:
    try:
        data = attachment.data()
    except ValueError:
        size = sha256 = zipped = None
    else:
        size, sha256, zipped = len(data), attachment.sha256, is_zip(data)
    return {
        "content_id": attachment.content_id,
        "name": attachment.attachment_name,
        "description": attachment.description,
        "content_type": attachment.content_type,
        "size": size,
        "sha256": sha256,
        "zip_wrapped": zipped,
    }


def to_plain(value: Any) -> Any:
    """The whole model as nested dicts and lists, following the ``__edxml__`` tables.

    Attachment content is replaced by its size and digest, so the result stays small.
    """
    if isinstance(value, Attachment):
        return _describe_attachment(value)
    if isinstance(value, SignatureBlock):
        return {"kind": value.kind.value}
    if isinstance(value, Extras):
        return {
            "elements": [xml for _, xml in value.elements],
            "attributes": dict(value.attributes),
        }
    table = getattr(type(value), "__edxml__", None)
    if table is not None:
        out = {spec.attr.rstrip("_"): to_plain(getattr(value, spec.attr)) for spec in table}
        extras = getattr(value, "extras", None)
        if extras:
            out["extras"] = to_plain(extras)
        return out
    if isinstance(value, tuple):
        return [to_plain(item) for item in value]
    return value
