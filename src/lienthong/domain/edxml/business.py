"""What a package does to a document: new, revoke, update, replace (nghiệp vụ, SPEC §2).

``BussinessDocType`` 0 is a new document; 1 revokes (thu hồi) an earlier one, named in
``ResponseFor`` (or, failing that, in ``Bussiness/DocumentId``); 2 updates (cập nhật) it —
its information and/or its recipients, listed in ``ReceiverList``; 3 replaces (thay thế)
the documents listed in ``ReplacementInfoList`` at the agencies listed with each.
"""

from __future__ import annotations

from dataclasses import dataclass

from lienthong.domain.edxml.model import BusinessType, Package

#: ``ReceiverType`` of an update: the standard's samples use 0 and 1 without saying which
#: is which. [ours, unconfirmed] 1 = the agency is added as a recipient, 0 = it is removed
#: (the value reads as "is a recipient after the update"). Kept in this one table.
RECEIVER_ADDED = "1"
RECEIVER_REMOVED = "0"


@dataclass(frozen=True, slots=True)
class RecipientChanges:
    """What an update (``BussinessDocType`` 2) changes."""

    info_changed: bool  #: ``DocumentInfo`` = 1: the document's information changed
    recipients_changed: bool  #: ``DocumentReceiver`` = 1: the recipient list changed
    added: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Replacement:
    """One document a replace (``BussinessDocType`` 3) supersedes, and where."""

    document_id: str
    organ_ids: tuple[str, ...]


def business_type(package: Package) -> BusinessType | None:
    """The package's business type; a package without ``Bussiness`` is new; ``None`` if bad."""
    business = package.business
    if business is None:
        return BusinessType.NEW
    return business.type


def target_document_id(package: Package) -> str | None:
    """The earlier document a revoke, update or replace acts on (for a revoke: ``ResponseFor``).

    For a replace with several targets, the first is returned; see :func:`replacements`.
    A new document (or a status package) acts on nothing: ``None``.
    """
    if package.is_status or business_type(package) in (BusinessType.NEW, None):
        return None
    for ref in package.header.response_for:
        if ref.document_id:
            return ref.document_id
    business = package.business
    if business is None:
        return None
    if business.type is BusinessType.REPLACE and business.replacements:
        return business.replacements[0].document_id
    return business.document_id


def recipient_changes(package: Package) -> RecipientChanges | None:
    """What an update changes; ``None`` for any other business type."""
    business = package.business
    if business is None or business.type is not BusinessType.UPDATE:
        return None
    info = business.document_info
    if info is None:
        return RecipientChanges(info_changed=False, recipients_changed=False, added=(), removed=())
    receivers = info.receivers or ()
    return RecipientChanges(
        info_changed=(info.document_info or "").strip() == "1",
        recipients_changed=(info.document_receiver or "").strip() == "1",
        added=tuple(
            r.organ_id for r in receivers if r.organ_id and r.receiver_type == RECEIVER_ADDED
        ),
        removed=tuple(
            r.organ_id for r in receivers if r.organ_id and r.receiver_type == RECEIVER_REMOVED
        ),
    )


def replacements(package: Package) -> tuple[Replacement, ...]:
    """The documents a replace supersedes (empty for any other business type)."""
    business = package.business
    if business is None or business.type is not BusinessType.REPLACE:
        return ()
    return tuple(
        Replacement(item.document_id, tuple(item.organ_ids or ()))
        for item in business.replacements or ()
        if item.document_id
    )
