"""Status lifecycle of one delivery (vòng đời trạng thái), SPEC §3.

A *delivery* is one package to one recipient. The recipient feeds back statuses 01-06 about
its handling of the document (the *processing track*); the sender may ask to take the document
back with 13, which the recipient answers with 15 or 16 (the *recall track*).

Statuses travel over the network and arrive in any order, late or twice. Nothing is ever
refused here: :func:`apply_status` records every status and reports what looks wrong as
*findings*. The current status is **derived** from the recorded set, never stored, so it does
not depend on the order in which statuses arrived. ``docs/status-lifecycle.md`` explains the
rules with a diagram; the tables below are the rules.

Ordering. Recorded statuses are ordered by their own timestamps, ties broken by code in the
order of :class:`StatusCode` (01 < 02 < ... < 06 < 13 < 15 < 16). That order is the one used to
derive the current status; the order of *arrival* only decides which findings are reported.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

#: Who sends a status: the agency that received the document, or the one that sent it.
Party = Literal["recipient", "sender"]

# --- finding codes (entries of lienthong.domain.errors.CATALOGUE)
ILLEGAL_TRANSITION = "status.illegal_transition"
OUT_OF_ORDER = "status.out_of_order"
AFTER_TERMINAL = "status.after_terminal"
DUPLICATE = "status.duplicate"


class StatusCode(StrEnum):
    """Mã trạng thái: the standard's two-digit status codes (a string on the wire)."""

    ARRIVED = "01"  #: Đã đến
    REFUSED = "02"  #: Từ chối tiếp nhận
    ACCEPTED = "03"  #: Đã tiếp nhận
    ASSIGNED = "04"  #: Phân công
    PROCESSING = "05"  #: Đang xử lý
    DONE = "06"  #: Hoàn thành
    RECALL_REQUESTED = "13"  #: Yêu cầu lấy lại
    CHANGE_AGREED = "15"  #: Đồng ý cập nhật/lấy lại
    CHANGE_REFUSED = "16"  #: Từ chối cập nhật/lấy lại

    @property
    def vietnamese_label(self) -> str:
        """The standard's Vietnamese name (``"Đã tiếp nhận"``)."""
        return _LABELS[self][0]

    @property
    def english_label(self) -> str:
        """An English name for logs and the API (``"accepted"``)."""
        return _LABELS[self][1]

    @property
    def sent_by(self) -> Party:
        """``"sender"`` for 13 (the sender asks to take back), ``"recipient"`` for the others."""
        return "sender" if self is StatusCode.RECALL_REQUESTED else "recipient"

    @property
    def is_terminal(self) -> bool:
        """True for 02 and 06, which end the processing track."""
        return self in TERMINAL_STATUSES

    @classmethod
    def parse(cls, text: str) -> StatusCode:
        """Read a status code written ``"1"`` or ``"01"`` (surrounding blanks ignored).

        Raises :class:`ValueError` for anything that is not one of the nine known codes; the
        status-package parser turns it into ``edxml.bad_status_code``.
        """
        stripped = text.strip()
        if not (1 <= len(stripped) <= 2 and stripped.isascii() and stripped.isdigit()):
            raise ValueError(f"status code must be one or two digits, got {text!r}")
        try:
            return cls(stripped.zfill(2))
        except ValueError:
            known = ", ".join(code.value for code in cls)
            raise ValueError(f"unknown status code {text!r} (known: {known})") from None


_LABELS: Mapping[StatusCode, tuple[str, str]] = MappingProxyType(
    {
        StatusCode.ARRIVED: ("Đã đến", "arrived"),
        StatusCode.REFUSED: ("Từ chối tiếp nhận", "refused"),
        StatusCode.ACCEPTED: ("Đã tiếp nhận", "accepted"),
        StatusCode.ASSIGNED: ("Phân công", "assigned"),
        StatusCode.PROCESSING: ("Đang xử lý", "processing"),
        StatusCode.DONE: ("Hoàn thành", "done"),
        StatusCode.RECALL_REQUESTED: ("Yêu cầu lấy lại", "recall requested"),
        StatusCode.CHANGE_AGREED: ("Đồng ý cập nhật/lấy lại", "change agreed"),
        StatusCode.CHANGE_REFUSED: ("Từ chối cập nhật/lấy lại", "change refused"),
    }
)

S = StatusCode  # local shorthand for the tables below

#: Statuses of the processing track (01-06).
PROCESSING_STATUSES: frozenset[StatusCode] = frozenset(
    {S.ARRIVED, S.REFUSED, S.ACCEPTED, S.ASSIGNED, S.PROCESSING, S.DONE}
)
#: Statuses of the recall track (13 and its answers).
RECALL_STATUSES: frozenset[StatusCode] = frozenset(
    {S.RECALL_REQUESTED, S.CHANGE_AGREED, S.CHANGE_REFUSED}
)
#: The recipient's answers to a take-back request.
RECALL_ANSWERS: frozenset[StatusCode] = frozenset({S.CHANGE_AGREED, S.CHANGE_REFUSED})
#: Statuses after which the processing track ends.
TERMINAL_STATUSES: frozenset[StatusCode] = frozenset({S.REFUSED, S.DONE})
#: Statuses that may legally be sent more than once (re-assignment, further handling).
REPEATABLE_STATUSES: frozenset[StatusCode] = frozenset({S.ASSIGNED, S.PROCESSING})

#: The processing track: which status may directly follow which (``None`` = nothing yet).
#: 03 → 05 without 04 is legal: small agencies register and handle without a formal assignment.
TRANSITIONS: Mapping[StatusCode | None, frozenset[StatusCode]] = MappingProxyType(
    {
        None: frozenset({S.ARRIVED}),
        S.ARRIVED: frozenset({S.REFUSED, S.ACCEPTED}),
        S.REFUSED: frozenset(),
        S.ACCEPTED: frozenset({S.ASSIGNED, S.PROCESSING}),
        S.ASSIGNED: frozenset({S.ASSIGNED, S.PROCESSING}),
        S.PROCESSING: frozenset({S.ASSIGNED, S.PROCESSING, S.DONE}),
        S.DONE: frozenset(),
    }
)

#: Rank of the non-terminal processing statuses for derivation: the current status is the
#: recorded one of highest rank, the latest timestamp winning between 04 and 05. Any recorded
#: terminal status (02, 06) outranks them all; between two terminals the earlier one wins.
DERIVATION_RANK: Mapping[StatusCode, int] = MappingProxyType(
    {S.ARRIVED: 1, S.ACCEPTED: 2, S.ASSIGNED: 3, S.PROCESSING: 3}
)


class RecallState(StrEnum):
    """Where the sender's take-back request (13) stands."""

    NONE = "none"  #: no request
    PENDING = "pending"  #: 13 recorded, not answered yet
    AGREED = "agreed"  #: answered with 15
    REFUSED = "refused"  #: answered with 16; the sender may ask again


#: The recall track: the state a status moves the recall to; a missing entry is illegal.
RECALL_TRANSITIONS: Mapping[RecallState, Mapping[StatusCode, RecallState]] = MappingProxyType(
    {
        RecallState.NONE: MappingProxyType({S.RECALL_REQUESTED: RecallState.PENDING}),
        RecallState.PENDING: MappingProxyType(
            {S.CHANGE_AGREED: RecallState.AGREED, S.CHANGE_REFUSED: RecallState.REFUSED}
        ),
        RecallState.AGREED: MappingProxyType({}),
        RecallState.REFUSED: MappingProxyType({S.RECALL_REQUESTED: RecallState.PENDING}),
    }
)

del S

_ORDER: Mapping[StatusCode, int] = MappingProxyType({c: i for i, c in enumerate(StatusCode)})

_SortKey = tuple[datetime, int]


def _reachable_from(start: StatusCode | None) -> frozenset[StatusCode]:
    seen: set[StatusCode] = set()
    todo = deque(TRANSITIONS[start])
    while todo:
        code = todo.popleft()
        if code not in seen:
            seen.add(code)
            todo.extend(TRANSITIONS[code])
    return frozenset(seen)


#: Statuses reachable in one or more steps of :data:`TRANSITIONS`.
_REACHABLE: Mapping[StatusCode | None, frozenset[StatusCode]] = MappingProxyType(
    {start: _reachable_from(start) for start in TRANSITIONS}
)


def _missing_between(start: StatusCode | None, end: StatusCode) -> tuple[StatusCode, ...]:
    """The statuses skipped on the shortest legal path from ``start`` to ``end``."""
    paths: deque[tuple[StatusCode, ...]] = deque((code,) for code in TRANSITIONS[start])
    seen: set[StatusCode] = set()
    while paths:
        path = paths.popleft()
        if path[-1] is end:
            return path[:-1]
        if path[-1] not in seen:
            seen.add(path[-1])
            paths.extend((*path, code) for code in TRANSITIONS[path[-1]])
    return ()


@dataclass(frozen=True, slots=True)
class StatusFinding:
    """Something wrong with an incoming status: a catalogue code and a human detail."""

    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """One status as recorded: its code, its own timestamp, and its arrival number."""

    code: StatusCode
    at: datetime
    #: Arrival order within the delivery, from 0.
    seq: int
    #: Codes of the findings reported when it arrived.
    findings: tuple[str, ...] = ()

    @property
    def sort_key(self) -> _SortKey:
        """The derivation order: timestamp, then code."""
        return (self.at, _ORDER[self.code])


def _stamp(record: StatusRecord) -> str:
    return f"{record.code.value} at {record.at.isoformat()}"


def derive_current(records: Iterable[StatusRecord]) -> StatusCode | None:
    """The current processing status of a set of recorded statuses (``None`` if none yet).

    A recorded terminal status (02, 06) always wins, the earliest one if both are there;
    otherwise the highest :data:`DERIVATION_RANK`, the latest timestamp winning between
    04 and 05 (ties: 05). Arrival order plays no part.
    """
    processing = [r for r in records if r.code in PROCESSING_STATUSES]
    terminals = [r for r in processing if r.code in TERMINAL_STATUSES]
    if terminals:
        return min(terminals, key=lambda r: r.sort_key).code
    if not processing:
        return None
    return max(processing, key=lambda r: (DERIVATION_RANK[r.code], r.sort_key)).code


def _terminal_key(records: Iterable[StatusRecord]) -> _SortKey | None:
    keys = [r.sort_key for r in records if r.code in TERMINAL_STATUSES]
    return min(keys) if keys else None


def _is_effective_request(record: StatusRecord, cutoff: _SortKey | None) -> bool:
    """A 13 counts only if it is timestamped before the end of the processing track."""
    return cutoff is None or record.sort_key < cutoff


def _replay_recall(records: Iterable[StatusRecord], cutoff: _SortKey | None) -> RecallState:
    state = RecallState.NONE
    for record in sorted(records, key=lambda r: r.sort_key):
        if record.code not in RECALL_STATUSES:
            continue
        if record.code is StatusCode.RECALL_REQUESTED and not _is_effective_request(record, cutoff):
            continue
        state = RECALL_TRANSITIONS[state].get(record.code, state)
    return state


def derive_recall(records: Iterable[StatusRecord]) -> RecallState:
    """Where the take-back request stands, replaying 13/15/16 in timestamp order.

    A 13 timestamped after the processing track ended is ignored; an answer that finds no
    pending request is ignored; a repeated 13 while one is pending changes nothing.
    """
    recorded = tuple(records)
    return _replay_recall(recorded, _terminal_key(recorded))


@dataclass(frozen=True, slots=True)
class DeliveryStatusState:
    """Every status recorded for one delivery, in arrival order, and what derives from them."""

    records: tuple[StatusRecord, ...] = ()

    @property
    def current(self) -> StatusCode | None:
        """The derived current processing status (see :func:`derive_current`)."""
        return derive_current(self.records)

    @property
    def recall(self) -> RecallState:
        """The derived state of the take-back request (see :func:`derive_recall`)."""
        return derive_recall(self.records)

    @property
    def is_terminal(self) -> bool:
        """True once 02 or 06 is recorded: the recipient's handling has ended."""
        current = self.current
        return current is not None and current.is_terminal

    @property
    def recall_pending(self) -> bool:
        """True while a take-back request waits for the recipient's answer."""
        return self.recall is RecallState.PENDING

    @property
    def codes(self) -> frozenset[StatusCode]:
        """The distinct statuses recorded, whoever sent them."""
        return frozenset(r.code for r in self.records)

    @property
    def timeline(self) -> tuple[StatusRecord, ...]:
        """The records in derivation order (timestamp, then code, then arrival)."""
        return tuple(sorted(self.records, key=lambda r: (*r.sort_key, r.seq)))

    def recorded_at(self, code: StatusCode) -> datetime | None:
        """The earliest timestamp recorded for ``code``, or ``None``."""
        stamps = [r.at for r in self.records if r.code is code]
        return min(stamps) if stamps else None


@dataclass(frozen=True, slots=True)
class StatusOutcome:
    """What :func:`apply_status` returns: the new state, the new record and its findings."""

    state: DeliveryStatusState
    record: StatusRecord
    findings: tuple[StatusFinding, ...]

    @property
    def finding_codes(self) -> frozenset[str]:
        """The catalogue codes of the findings."""
        return frozenset(f.code for f in self.findings)


def _check_processing(
    records: tuple[StatusRecord, ...], code: StatusCode, key: _SortKey
) -> list[StatusFinding]:
    if code not in REPEATABLE_STATUSES:
        for r in records:
            if r.code is code:
                return [StatusFinding(DUPLICATE, f"{code.value} is already recorded ({_stamp(r)})")]
    processing = [r for r in records if r.code in PROCESSING_STATUSES]
    before = derive_current(r for r in processing if r.sort_key < key)
    after = sorted((r for r in processing if r.sort_key > key), key=lambda r: r.sort_key)
    if before is not None and before.is_terminal:
        return [StatusFinding(AFTER_TERMINAL, f"{code.value} comes after {before.value}")]
    previous = before.value if before is not None else "nothing"
    findings: list[StatusFinding] = []
    if code not in TRANSITIONS[before]:
        if code not in _REACHABLE[before]:
            return [StatusFinding(ILLEGAL_TRANSITION, f"{code.value} cannot follow {previous}")]
        missing = ", ".join(c.value for c in _missing_between(before, code))
        findings.append(
            StatusFinding(OUT_OF_ORDER, f"{code.value} follows {previous}; {missing} not recorded")
        )
    if after:
        successor = after[0]
        if successor.code not in _REACHABLE[code]:
            return [
                StatusFinding(
                    ILLEGAL_TRANSITION,
                    f"{code.value} contradicts the later {_stamp(successor)} already recorded",
                )
            ]
        if not findings:
            findings.append(
                StatusFinding(OUT_OF_ORDER, f"arrived after the later {_stamp(successor)}")
            )
    return findings


def _check_request(
    before: RecallState, cutoff: _SortKey | None, key: _SortKey
) -> StatusFinding | None:
    """What is wrong with a 13 given the recall state just before it, if anything."""
    if cutoff is not None and cutoff < key:
        return StatusFinding(AFTER_TERMINAL, "take-back requested after handling ended")
    if before is RecallState.PENDING:
        return StatusFinding(DUPLICATE, "a take-back request is already pending")
    if before is RecallState.AGREED:
        return StatusFinding(ILLEGAL_TRANSITION, "the take-back was already agreed (15)")
    return None


def _check_answer(
    code: StatusCode,
    before: RecallState,
    later: list[StatusRecord],
    cutoff: _SortKey | None,
) -> StatusFinding | None:
    """What is wrong with a 15/16, if anything: it must answer a pending 13, once."""
    if before is not RecallState.PENDING:
        reason = (
            "no take-back request (13) is pending"
            if before is RecallState.NONE
            else f"the take-back request was already answered ({before.value})"
        )
        return StatusFinding(ILLEGAL_TRANSITION, f"{code.value}: {reason}")
    # An answer recorded earlier but timestamped later, before any newer request, answers
    # the same request: this one is a second answer.
    for r in later:
        if r.code is StatusCode.RECALL_REQUESTED and _is_effective_request(r, cutoff):
            break
        if r.code in RECALL_ANSWERS:
            return StatusFinding(
                ILLEGAL_TRANSITION,
                f"{code.value}: the take-back request was already answered ({_stamp(r)})",
            )
    return None


def _check_recall(
    records: tuple[StatusRecord, ...], code: StatusCode, key: _SortKey
) -> list[StatusFinding]:
    cutoff = _terminal_key(records)
    recall = [r for r in records if r.code in RECALL_STATUSES]
    before = _replay_recall((r for r in recall if r.sort_key < key), cutoff)
    later = sorted((r for r in recall if r.sort_key > key), key=lambda r: r.sort_key)
    if code is StatusCode.RECALL_REQUESTED:
        problem = _check_request(before, cutoff, key)
    else:
        problem = _check_answer(code, before, later, cutoff)
    if problem is not None:
        return [problem]
    if later:
        return [StatusFinding(OUT_OF_ORDER, f"arrived after the later {_stamp(later[0])}")]
    return []


def apply_status(state: DeliveryStatusState, code: StatusCode, at: datetime) -> StatusOutcome:
    """Record ``code`` stamped ``at`` (tz-aware) and report what is wrong with it.

    Never raises for disorder: the status is always recorded, and findings say whether it
    is a ``status.duplicate`` (same code and instant already recorded, or a non-repeatable
    status recorded twice), comes ``status.after_terminal``, is a
    ``status.illegal_transition`` by :data:`TRANSITIONS` / :data:`RECALL_TRANSITIONS`, or is
    ``status.out_of_order`` (it arrived after a status timestamped later, or its predecessors
    have not been recorded yet). Raises :class:`ValueError` only for a naive ``at``.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"status timestamp must be timezone-aware, got naive {at.isoformat()}")
    key: _SortKey = (at, _ORDER[code])
    findings: list[StatusFinding]
    twin = next((r for r in state.records if r.code is code and r.at == at), None)
    if twin is not None:
        findings = [StatusFinding(DUPLICATE, f"{_stamp(twin)} is already recorded")]
    elif code in PROCESSING_STATUSES:
        findings = _check_processing(state.records, code, key)
    else:
        findings = _check_recall(state.records, code, key)
    record = StatusRecord(
        code=code, at=at, seq=len(state.records), findings=tuple(f.code for f in findings)
    )
    return StatusOutcome(
        state=DeliveryStatusState((*state.records, record)),
        record=record,
        findings=tuple(findings),
    )


def feedback_codes(states: Iterable[DeliveryStatusState]) -> frozenset[StatusCode]:
    """The distinct statuses a recipient fed back over its deliveries (13 is the sender's)."""
    return frozenset(
        code for state in states for code in state.codes if code.sent_by == "recipient"
    )


#: The national reports count agencies that fed back at least this many distinct statuses.
FEEDBACK_REPORT_THRESHOLD = 5


def distinct_feedback_count(states: Iterable[DeliveryStatusState]) -> int:
    """How many distinct statuses a recipient fed back (compare to the report's threshold 5)."""
    return len(feedback_codes(states))
