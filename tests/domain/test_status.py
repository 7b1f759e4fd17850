"""The status lifecycle: the table row by row, out-of-order tolerance, and its invariants."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lienthong.domain.errors import CATALOGUE
from lienthong.domain.status import (
    AFTER_TERMINAL,
    DUPLICATE,
    FEEDBACK_REPORT_THRESHOLD,
    ILLEGAL_TRANSITION,
    OUT_OF_ORDER,
    RECALL_TRANSITIONS,
    TERMINAL_STATUSES,
    TRANSITIONS,
    DeliveryStatusState,
    RecallState,
    StatusCode,
    StatusOutcome,
    apply_status,
    derive_current,
    distinct_feedback_count,
    feedback_codes,
)

pytestmark = pytest.mark.unit

S = StatusCode
VN = timezone(timedelta(hours=7))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=VN)


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def run(events: Iterable[tuple[StatusCode | str, int | datetime]]) -> list[StatusOutcome]:
    """Apply (code, minute-or-datetime) pairs in arrival order; return every outcome."""
    state = DeliveryStatusState()
    outcomes = []
    for code, when in events:
        stamp = at(when) if isinstance(when, int) else when
        outcome = apply_status(
            state, StatusCode.parse(code) if isinstance(code, str) else code, stamp
        )
        outcomes.append(outcome)
        state = outcome.state
    return outcomes


def final(events: Iterable[tuple[StatusCode | str, int | datetime]]) -> DeliveryStatusState:
    outcomes = run(events)
    return outcomes[-1].state if outcomes else DeliveryStatusState()


# --------------------------------------------------------------------------- codes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("01", S.ARRIVED),
        ("1", S.ARRIVED),
        (" 3 ", S.ACCEPTED),
        ("06", S.DONE),
        ("13", S.RECALL_REQUESTED),
        ("15", S.CHANGE_AGREED),
        ("16\n", S.CHANGE_REFUSED),
    ],
)
def test_parse_accepts_one_or_two_digits(text: str, expected: StatusCode) -> None:
    assert StatusCode.parse(text) is expected


@pytest.mark.parametrize(
    "text", ["", " ", "0", "00", "07", "7", "14", "17", "001", "1a", "+1", "١"]
)
def test_parse_rejects_unknown_codes(text: str) -> None:
    with pytest.raises(ValueError, match="status code"):
        StatusCode.parse(text)


def test_every_code_has_labels_and_a_sender() -> None:
    assert [c.value for c in StatusCode] == ["01", "02", "03", "04", "05", "06", "13", "15", "16"]
    assert S.ACCEPTED.vietnamese_label == "Đã tiếp nhận"
    assert S.RECALL_REQUESTED.vietnamese_label == "Yêu cầu lấy lại"
    assert S.CHANGE_AGREED.english_label == "change agreed"
    assert all(c.vietnamese_label and c.english_label for c in StatusCode)
    assert {c for c in StatusCode if c.sent_by == "sender"} == {S.RECALL_REQUESTED}
    assert {c for c in StatusCode if c.is_terminal} == {S.REFUSED, S.DONE}
    assert str(S.ASSIGNED) == "04"


def test_finding_codes_are_in_the_catalogue() -> None:
    for code in (ILLEGAL_TRANSITION, OUT_OF_ORDER, AFTER_TERMINAL, DUPLICATE):
        assert code in CATALOGUE


def test_naive_timestamp_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        apply_status(DeliveryStatusState(), S.ARRIVED, datetime(2026, 3, 2, 9, 0))


# --------------------------------------------------------------------------- the table, row by row

# A legal history reaching each processing status (None: nothing recorded yet).
PATH: dict[StatusCode | None, list[StatusCode]] = {
    None: [],
    S.ARRIVED: [S.ARRIVED],
    S.REFUSED: [S.ARRIVED, S.REFUSED],
    S.ACCEPTED: [S.ARRIVED, S.ACCEPTED],
    S.ASSIGNED: [S.ARRIVED, S.ACCEPTED, S.ASSIGNED],
    S.PROCESSING: [S.ARRIVED, S.ACCEPTED, S.ASSIGNED, S.PROCESSING],
    S.DONE: [S.ARRIVED, S.ACCEPTED, S.ASSIGNED, S.PROCESSING, S.DONE],
}

OK = "ok"
OOO, ILL, AFT, DUP = OUT_OF_ORDER, ILLEGAL_TRANSITION, AFTER_TERMINAL, DUPLICATE

# What a status sent after each state (later timestamp, in order) is found to be, written out
# by hand from SPEC §3 and our decisions (docs/status-lifecycle.md). Skipping ahead is
# out_of_order (the skipped statuses may still arrive); going back or across is illegal.
PROCESSING = [S.ARRIVED, S.REFUSED, S.ACCEPTED, S.ASSIGNED, S.PROCESSING, S.DONE]
# fmt: off
ROWS: dict[StatusCode | None, tuple[str, ...]] = {
    #              01   02   03   04   05   06
    None:         (OK,  OOO, OOO, OOO, OOO, OOO),
    S.ARRIVED:    (DUP, OK,  OK,  OOO, OOO, OOO),
    S.REFUSED:    (DUP, DUP, AFT, AFT, AFT, AFT),
    S.ACCEPTED:   (DUP, ILL, DUP, OK,  OK,  OOO),
    S.ASSIGNED:   (DUP, ILL, DUP, OK,  OK,  OOO),
    S.PROCESSING: (DUP, ILL, DUP, OK,  OK,  OK),
    S.DONE:       (DUP, AFT, DUP, AFT, AFT, DUP),
}
# fmt: on
EXPECTED = {before: dict(zip(PROCESSING, row, strict=True)) for before, row in ROWS.items()}


@pytest.mark.parametrize(
    ("before", "code"),
    [(before, code) for before in PATH for code in PROCESSING],
    ids=lambda v: v.value if isinstance(v, StatusCode) else "none",
)
def test_processing_table(before: StatusCode | None, code: StatusCode) -> None:
    history = [(c, i) for i, c in enumerate(PATH[before])]
    state = final(history)
    assert state.current is before
    outcome = apply_status(state, code, at(100))
    expected = EXPECTED[before][code]
    assert outcome.finding_codes == (set() if expected == OK else {expected})
    assert outcome.record in outcome.state.records
    if expected == OK:
        assert outcome.state.current is code
    if before is not None and before.is_terminal:
        assert outcome.state.current is before


def test_table_data_matches_the_written_expectations() -> None:
    for before, row in EXPECTED.items():
        assert {c for c, verdict in row.items() if verdict == OK} == TRANSITIONS[before]


def test_registration_may_be_followed_directly_by_processing() -> None:
    """03 → 05 without 04: small agencies skip the formal assignment (our decision)."""
    outcomes = run([("01", 0), ("03", 1), ("05", 2), ("06", 3)])
    assert all(not o.findings for o in outcomes)
    assert outcomes[-1].state.current is S.DONE


def test_assignment_and_processing_may_repeat() -> None:
    outcomes = run([("01", 0), ("03", 1), ("04", 2), ("04", 3), ("05", 4), ("04", 5), ("05", 6)])
    assert all(not o.findings for o in outcomes)
    assert outcomes[-2].state.current is S.ASSIGNED  # re-assigned after processing began
    assert outcomes[-1].state.current is S.PROCESSING


def test_going_back_by_timestamp_is_illegal() -> None:
    outcomes = run([("03", 0), ("01", 5)])
    assert outcomes[1].finding_codes == {ILLEGAL_TRANSITION}
    assert outcomes[1].state.current is S.ACCEPTED


@pytest.mark.parametrize(
    ("before", "code", "expected", "after"),
    [
        (RecallState.NONE, S.RECALL_REQUESTED, OK, RecallState.PENDING),
        (RecallState.NONE, S.CHANGE_AGREED, ILL, RecallState.NONE),
        (RecallState.NONE, S.CHANGE_REFUSED, ILL, RecallState.NONE),
        (RecallState.PENDING, S.RECALL_REQUESTED, DUP, RecallState.PENDING),
        (RecallState.PENDING, S.CHANGE_AGREED, OK, RecallState.AGREED),
        (RecallState.PENDING, S.CHANGE_REFUSED, OK, RecallState.REFUSED),
        (RecallState.AGREED, S.RECALL_REQUESTED, ILL, RecallState.AGREED),
        (RecallState.AGREED, S.CHANGE_AGREED, ILL, RecallState.AGREED),
        (RecallState.AGREED, S.CHANGE_REFUSED, ILL, RecallState.AGREED),
        (RecallState.REFUSED, S.RECALL_REQUESTED, OK, RecallState.PENDING),
        (RecallState.REFUSED, S.CHANGE_AGREED, ILL, RecallState.REFUSED),
        (RecallState.REFUSED, S.CHANGE_REFUSED, ILL, RecallState.REFUSED),
    ],
)
def test_recall_table(
    before: RecallState, code: StatusCode, expected: str, after: RecallState
) -> None:
    prefix = {
        RecallState.NONE: [("01", 0)],
        RecallState.PENDING: [("01", 0), ("13", 1)],
        RecallState.AGREED: [("01", 0), ("13", 1), ("15", 2)],
        RecallState.REFUSED: [("01", 0), ("13", 1), ("16", 2)],
    }[before]
    state = final(prefix)
    assert state.recall is before
    outcome = apply_status(state, code, at(10))
    assert outcome.finding_codes == (set() if expected == OK else {expected})
    assert outcome.state.recall is after
    assert RECALL_TRANSITIONS[before].get(code, before) is after


def test_recall_may_come_before_arrival() -> None:
    """The sender may ask for the document back before the recipient has even fetched it."""
    outcomes = run([("13", 0), ("01", 1), ("15", 2)])
    assert all(not o.findings for o in outcomes)
    assert outcomes[-1].state.recall is RecallState.AGREED
    assert outcomes[-1].state.current is S.ARRIVED


def test_recall_after_done_is_after_terminal_and_not_pending() -> None:
    outcomes = run([("01", 0), ("03", 1), ("05", 2), ("06", 3), ("13", 4)])
    assert outcomes[-1].finding_codes == {AFTER_TERMINAL}
    assert outcomes[-1].state.recall is RecallState.NONE
    assert not outcomes[-1].state.recall_pending
    # and an answer to it has nothing to answer
    outcome = apply_status(outcomes[-1].state, S.CHANGE_AGREED, at(5))
    assert outcome.finding_codes == {ILLEGAL_TRANSITION}


def test_recall_after_refusal_is_after_terminal() -> None:
    outcomes = run([("01", 0), ("02", 1), ("13", 2)])
    assert outcomes[-1].finding_codes == {AFTER_TERMINAL}


def test_pending_recall_may_still_be_answered_after_done() -> None:
    outcomes = run([("01", 0), ("13", 1), ("03", 2), ("06", 3), ("16", 4)])
    assert outcomes[-2].state.recall_pending
    assert not outcomes[-1].findings
    assert outcomes[-1].state.recall is RecallState.REFUSED


# --------------------------------------------------------------------------- network disorder


def test_assignment_before_registration_is_tolerated() -> None:
    """SPEC §3: 04 arriving before 03 records both; 03 is out of order, not illegal."""
    first, assigned, accepted = run([("01", 0), ("04", 2), ("03", 1)])
    assert not first.findings
    assert assigned.finding_codes == {OUT_OF_ORDER}  # 03 not recorded yet
    assert assigned.state.current is S.ASSIGNED
    assert accepted.finding_codes == {OUT_OF_ORDER}
    assert ILLEGAL_TRANSITION not in accepted.finding_codes
    assert accepted.state.current is S.ASSIGNED
    assert accepted.state.codes == {S.ARRIVED, S.ACCEPTED, S.ASSIGNED}


def test_late_processing_after_done_is_out_of_order_not_after_terminal() -> None:
    *_, done, late = run([("01", 0), ("03", 1), ("06", 5), ("05", 4)])
    assert done.finding_codes == {OUT_OF_ORDER}  # 04/05 missing when it arrived
    assert late.finding_codes == {OUT_OF_ORDER}
    assert late.state.current is S.DONE


def test_status_contradicting_a_later_one_is_illegal_and_terminal_still_wins() -> None:
    *_, refused = run([("01", 0), ("05", 5), ("02", 3)])
    assert refused.finding_codes == {ILLEGAL_TRANSITION}
    assert "contradicts" in refused.findings[0].detail
    assert refused.state.current is S.REFUSED


def test_same_status_and_instant_twice_is_a_duplicate_whatever_the_offset() -> None:
    utc_same_instant = at(3).astimezone(UTC)
    *_, again = run([("01", 0), ("03", 1), ("04", 3), ("04", utc_same_instant)])
    assert again.finding_codes == {DUPLICATE}
    assert len(again.state.records) == 4  # stored all the same


def test_non_repeatable_status_twice_is_a_duplicate() -> None:
    *_, again = run([("01", 0), ("01", 5)])
    assert again.finding_codes == {DUPLICATE}


def test_answer_before_request_then_request() -> None:
    answer, request = run([("15", 2), ("13", 1)])
    assert answer.finding_codes == {ILLEGAL_TRANSITION}
    assert request.finding_codes == {OUT_OF_ORDER}
    assert request.state.recall is RecallState.AGREED


def test_second_answer_is_illegal_in_either_arrival_order() -> None:
    *_, second = run([("13", 1), ("15", 2), ("16", 3)])
    assert second.finding_codes == {ILLEGAL_TRANSITION}
    *_, second = run([("13", 1), ("16", 3), ("15", 2)])
    assert second.finding_codes == {ILLEGAL_TRANSITION}
    assert "already answered" in second.findings[0].detail


def test_a_new_request_after_refusal_may_be_answered_again() -> None:
    outcomes = run([("13", 1), ("16", 2), ("13", 3), ("15", 4)])
    assert all(not o.findings for o in outcomes)
    assert outcomes[-1].state.recall is RecallState.AGREED


def test_state_helpers() -> None:
    state = final([("01", 2), ("03", 3), ("01", 1)])
    assert [r.seq for r in state.timeline] == [2, 0, 1]
    assert state.recorded_at(S.ARRIVED) == at(1)
    assert state.recorded_at(S.DONE) is None
    assert not state.is_terminal
    assert derive_current([]) is None


# --------------------------------------------------------------------------- national report


def test_distinct_feedback_count_counts_the_recipients_statuses() -> None:
    first = final([("01", 0), ("03", 1), ("04", 2), ("13", 3)])
    second = final([("01", 0), ("03", 1), ("05", 2), ("06", 3)])
    assert feedback_codes([first, second]) == {
        S.ARRIVED,
        S.ACCEPTED,
        S.ASSIGNED,
        S.PROCESSING,
        S.DONE,
    }
    assert distinct_feedback_count([first, second]) == 5 >= FEEDBACK_REPORT_THRESHOLD
    assert distinct_feedback_count([first]) == 3
    assert distinct_feedback_count([]) == 0


# --------------------------------------------------------------------------- properties

OFFSETS = [timezone(timedelta(hours=h)) for h in (7, 0, -5)]
stamps = st.builds(
    lambda minute, tz: at(minute).astimezone(tz),
    st.integers(min_value=0, max_value=25),
    st.sampled_from(OFFSETS),
)
events_strategy = st.lists(st.tuples(st.sampled_from(list(StatusCode)), stamps), max_size=18)


@given(events_strategy)
def test_any_sequence_is_recorded_without_raising(
    events: list[tuple[StatusCode, datetime]],
) -> None:
    state = DeliveryStatusState()
    for code, stamp in events:
        outcome = apply_status(state, code, stamp)
        assert outcome.record.code is code
        assert outcome.record.at == stamp
        assert {f.code for f in outcome.findings} <= {
            ILLEGAL_TRANSITION,
            OUT_OF_ORDER,
            AFTER_TERMINAL,
            DUPLICATE,
        }
        assert len(outcome.findings) <= 1
        state = outcome.state
    assert [(r.code, r.at) for r in state.records] == events
    assert [r.seq for r in state.records] == list(range(len(events)))
    assert state.current is None or state.current in state.codes


@given(st.data())
def test_derived_state_does_not_depend_on_arrival_order(data: st.DataObject) -> None:
    events = data.draw(events_strategy)
    shuffled = data.draw(st.permutations(events))
    state = final(events)
    other = final(shuffled)
    assert state.current is other.current
    assert state.recall is other.recall
    assert state.codes == other.codes


@given(events_strategy)
def test_terminal_status_is_never_left(events: list[tuple[StatusCode, datetime]]) -> None:
    state = DeliveryStatusState()
    reached = False
    for code, stamp in events:
        state = apply_status(state, code, stamp).state
        if reached:
            assert state.current in TERMINAL_STATUSES
        reached = state.current in TERMINAL_STATUSES
        assert state.is_terminal is reached


@given(events_strategy)
def test_an_answer_is_accepted_at_most_once_per_request(
    events: list[tuple[StatusCode, datetime]],
) -> None:
    outcomes = run(events)
    answers = sorted(
        o.record.sort_key
        for o in outcomes
        if o.record.code in {S.CHANGE_AGREED, S.CHANGE_REFUSED}
        and o.finding_codes <= {OUT_OF_ORDER}
    )
    requests = [o.record.sort_key for o in outcomes if o.record.code is S.RECALL_REQUESTED]
    for index, answer in enumerate(answers):
        assert any(r < answer for r in requests)  # something to answer
        if index:
            previous = answers[index - 1]
            assert any(previous < r < answer for r in requests)  # a new request in between


@st.composite
def legal_histories(draw: st.DrawFn) -> list[tuple[StatusCode, datetime]]:
    """A history that follows both tables, one minute apart, recall before the end."""
    current: StatusCode | None = None
    recall = RecallState.NONE
    history: list[tuple[StatusCode, datetime]] = []
    for minute in range(draw(st.integers(min_value=0, max_value=14))):
        options = sorted(TRANSITIONS[current])
        options += [
            code
            for code in RECALL_TRANSITIONS[recall]
            if code is not S.RECALL_REQUESTED or current not in TERMINAL_STATUSES
        ]
        if not options:
            break
        code = draw(st.sampled_from(options))
        if code in RECALL_TRANSITIONS[recall]:
            recall = RECALL_TRANSITIONS[recall][code]
        else:
            current = code
        history.append((code, at(minute)))
    return history


@given(legal_histories())
def test_legal_history_in_order_has_no_findings(history: list[tuple[StatusCode, datetime]]) -> None:
    for outcome in run(history):
        assert not outcome.findings, outcome.findings


@given(st.data())
def test_legal_processing_history_in_any_order_is_only_out_of_order(data: st.DataObject) -> None:
    history = [e for e in data.draw(legal_histories()) if e[0] in PROCESSING]
    shuffled = data.draw(st.permutations(history))
    outcomes = run(shuffled)
    assert all(o.finding_codes <= {OUT_OF_ORDER} for o in outcomes)
    if history:
        assert outcomes[-1].state.current is final(history).current
