"""Reading a package description (YAML or JSON) for ``lienthong edxml build``.

Example::

    from: {organ_id: 000.00.00.G22, organ_name: Văn phòng Chính phủ}
    to:
      - {organ_id: 000.00.00.H41, organ_name: UBND tỉnh Nghệ An}
    code: {number: "7816", notation: VPCP-TTĐT}
    promulgation: {place: Hà Nội, date: 2026-11-26}
    type: {type: "1", detail: "0", name: Công văn}
    subject: V/v kết nối, liên thông phần mềm quản lý văn bản
    signer: {competence: KT. BỘ TRƯỞNG, position: THỨ TRƯỞNG, full_name: Nguyễn Văn A}
    priority: 0
    files: [congvan.pdf, {path: phuluc.pdf, description: Phụ lục}]
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from lienthong.domain.edxml.builder import (
    DocumentDraft,
    FileToAttach,
    new_document,
    revoke_document,
)
from lienthong.domain.edxml.dates import parse_date
from lienthong.domain.edxml.model import (
    DocumentType,
    Organization,
    ResponseFor,
    SignerInfo,
)
from lienthong.domain.errors import LienthongError, UsageError
from lienthong.domain.priority import Priority

_ORG_FIELDS = (
    "organ_id", "organization_in_charge", "organ_name", "organ_add",
    "email", "telephone", "fax", "website",
)  # fmt: skip
_CONTENT_TYPES = {".pdf": "application/pdf", ".zip": "application/zip", ".xml": "application/xml"}


def load_draft(path: Path) -> DocumentDraft:
    """Read a description file into a :class:`DocumentDraft`; coded errors for bad input."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LienthongError("io.unreadable", f"{path}: {exc}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, ValueError) as exc:  # ValueError: 2026-02-30
        raise UsageError(detail=f"{path.name}: {exc}") from None
    if not isinstance(data, Mapping):
        raise UsageError(detail=f"{path.name}: expected a mapping at the top level")
    return draft_from_mapping(data, base=path.parent)


def draft_from_mapping(data: Mapping[str, Any], *, base: Path) -> DocumentDraft:
    """Turn a plain mapping into a draft; file paths are resolved under ``base``."""
    code = _mapping(data, "code")
    promulgation = _mapping(data, "promulgation")
    kind = data.get("type") or {}
    signer = data.get("signer")
    business = data.get("business") or {}
    recipients = data.get("to")
    if not isinstance(recipients, list) or not recipients:
        raise UsageError(detail="'to' must list at least one recipient")
    business_kind = str(business.get("type", "new"))
    if business_kind not in ("new", "revoke"):
        raise UsageError(detail="business.type must be 'new' or 'revoke'")
    target = business.get("document_id")
    if business_kind == "revoke" and not target:
        raise UsageError(detail="business.document_id is required for a revoke")
    return DocumentDraft(
        sender=_organization(data.get("from"), "from"),
        recipients=[_organization(r, "to") for r in recipients],
        code_number=_required(code, "number", "code"),
        code_notation=_required(code, "notation", "code"),
        promulgation_date=_date(promulgation.get("date"), "promulgation.date"),
        place=_required(promulgation, "place", "promulgation"),
        subject=_required(data, "subject", ""),
        document_type=DocumentType(
            str(kind.get("type", "1")), str(kind.get("detail", "0")), kind.get("name", "Công văn")
        ),
        content=data.get("content"),
        signer=SignerInfo(signer.get("competence"), signer.get("position"), signer.get("full_name"))
        if isinstance(signer, Mapping)
        else None,
        priority=_priority(data.get("priority", 0)),
        due_date=_date(data["due_date"], "due_date") if data.get("due_date") else None,
        to_places=[str(p) for p in data.get("to_places") or []],
        response_for=[ResponseFor(document_id=str(target))] if business_kind == "revoke" else [],
        files=[_file(item, base) for item in data.get("files") or []],
        business=revoke_document(str(target)) if business_kind == "revoke" else new_document(),
    )


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise UsageError(detail=f"'{key}' must be a mapping")
    return value


def _required(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if value is None or str(value).strip() == "":
        raise UsageError(detail=f"'{where + '.' if where else ''}{key}' is required")
    return str(value)


def _organization(value: Any, where: str) -> Organization:
    if not isinstance(value, Mapping) or not value.get("organ_id"):
        raise UsageError(detail=f"'{where}' needs at least an organ_id")
    unknown = set(value) - set(_ORG_FIELDS)
    if unknown:
        raise UsageError(detail=f"'{where}': unknown fields {sorted(unknown)}")
    fields: dict[str, Any] = {str(k): str(v) for k, v in value.items()}
    return Organization(**fields)


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return parse_date(str(value))
    except ValueError:
        raise UsageError(detail=f"'{where}': {value!r} is not a date (yyyy-mm-dd)") from None


def _priority(value: Any) -> Priority:
    try:
        return Priority.parse(str(value))
    except ValueError:
        raise UsageError(detail=f"'priority' must be 0, 1, 2 or 3, not {value!r}") from None


def _file(item: Any, base: Path) -> FileToAttach:
    entry = {"path": item} if isinstance(item, str) else item
    if not isinstance(entry, Mapping) or "path" not in entry:
        raise UsageError(detail="each of 'files' is a path or a mapping with 'path'")
    path = (base / str(entry["path"])).resolve()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LienthongError("io.not_found", f"{entry['path']}: {exc.strerror}") from None
    content_type = entry.get("content_type") or _CONTENT_TYPES.get(
        path.suffix.lower(), "application/octet-stream"
    )
    return FileToAttach(path.name, data, str(content_type), entry.get("description"))
