"""Agency identification codes (mã định danh), SPEC §1."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lienthong.domain.errors import OrgCodeError
from lienthong.domain.orgcode import (
    LEVEL1_KINDS,
    AgencyCode,
    AgencyId,
    is_agency_code,
    parse_agency_code,
    read_agency_id,
)

pytestmark = pytest.mark.unit

T = TypeVar("T")

# --------------------------------------------------------------------------- strategies
#: The level-1 letters that make a standard code (others are legacy ids).
_LETTERS = "".join(LEVEL1_KINDS)
#: The four groups of a code, levels 4, 3, 2, 1, as written.
level4s = st.integers(0, 999).map("{:03d}".format)
level3s = st.integers(0, 99).map("{:02d}".format)
level2s = st.integers(0, 99).map("{:02d}".format)
level1s = st.builds("{}{:02d}".format, st.sampled_from(_LETTERS), st.integers(1, 99))
code_texts = st.builds("{}.{}.{}.{}".format, level4s, level3s, level2s, level1s)
codes = code_texts.map(parse_agency_code)


# --------------------------------------------------------------------------- the SPEC's examples
def test_government_office_is_a_level_1_unit() -> None:
    code = parse_agency_code("000.00.00.G22")
    assert code == AgencyCode("000", "00", "00", "G22")
    assert code.level == 1
    assert code.kind == "G"
    assert code.parent is None
    assert code.ancestors() == ()
    assert code.root == code
    assert str(code) == "000.00.00.G22"


def test_department_of_tay_ninh_is_level_2_under_the_province() -> None:
    code = parse_agency_code("000.00.11.H53")
    assert code.level == 2
    assert code.kind == "H"
    assert code.parent == parse_agency_code("000.00.00.H53")
    assert code.root == parse_agency_code("000.00.00.H53")
    assert code.ancestors() == (parse_agency_code("000.00.00.H53"),)


def test_district_of_quang_nam_skips_the_empty_level_3() -> None:
    code = parse_agency_code("001.00.10.H47")
    assert code.level == 4
    assert code.parent == parse_agency_code("000.00.10.H47")
    assert code.parent.level == 2
    assert code.ancestors() == (
        parse_agency_code("000.00.10.H47"),
        parse_agency_code("000.00.00.H47"),
    )


def test_full_chain_of_ancestors_from_level_4() -> None:
    code = parse_agency_code("001.02.03.H41")
    assert code.level == 4
    assert [str(a) for a in code.ancestors()] == [
        "000.02.03.H41",
        "000.00.03.H41",
        "000.00.00.H41",
    ]
    assert [a.level for a in code.ancestors()] == [3, 2, 1]
    assert code.root == parse_agency_code("000.00.00.H41")


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("000.00.00.A53", 1),
        ("000.00.01.A53", 2),
        ("000.01.00.A53", 3),  # level 2 empty: still a level-3 unit
        ("100.00.00.A53", 4),
    ],
)
def test_level_is_the_lowest_non_zero_group(text: str, level: int) -> None:
    assert parse_agency_code(text).level == level


def test_surrounding_blanks_are_ignored() -> None:
    assert parse_agency_code("  000.00.11.H53\n") == parse_agency_code("000.00.11.H53")


# --------------------------------------------------------------------------- is_under
def test_is_under_a_parent_and_the_root() -> None:
    district = parse_agency_code("001.00.10.H47")
    parent = parse_agency_code("000.00.10.H47")
    province = parse_agency_code("000.00.00.H47")
    assert district.is_under(parent)
    assert district.is_under(parent, strict=True)
    assert district.is_under(province, strict=True)
    assert parent.is_under(province, strict=True)


def test_is_under_itself_only_when_not_strict() -> None:
    code = parse_agency_code("000.00.11.H53")
    assert code.is_under(code)
    assert not code.is_under(code, strict=True)


def test_is_under_is_not_symmetric_and_stays_within_the_tree() -> None:
    parent = parse_agency_code("000.00.10.H47")
    child = parse_agency_code("001.00.10.H47")
    assert not parent.is_under(child)
    # Same level-4 digits under another level-2 unit, and another province.
    assert not parse_agency_code("001.00.11.H47").is_under(parent)
    assert not parse_agency_code("001.00.10.H48").is_under(parent)
    # A sibling is not under its sibling.
    assert not parse_agency_code("000.00.12.H47").is_under(parent)


# --------------------------------------------------------------------------- order
def test_sorting_puts_each_parent_before_its_children() -> None:
    texts = [
        "001.00.10.H47",
        "000.00.00.H47",
        "000.00.11.H53",
        "000.00.10.H47",
        "000.00.00.G22",
        "000.00.00.H53",
        "000.02.03.H41",
        "001.02.03.H41",
        "000.00.00.H41",
    ]
    ordered = sorted(parse_agency_code(t) for t in texts)
    position = {code: index for index, code in enumerate(ordered)}
    for code in ordered:
        for ancestor in code.ancestors():
            if ancestor in position:
                assert position[ancestor] < position[code], (ancestor, code)
    assert str(ordered[0]) == "000.00.00.G22"


def test_codes_are_hashable_values() -> None:
    assert len({parse_agency_code("000.00.00.G22"), parse_agency_code(" 000.00.00.G22 ")}) == 1


# --------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_empty_text_is_refused_as_empty(text: str) -> None:
    with pytest.raises(OrgCodeError) as info:
        parse_agency_code(text)
    assert info.value.code == "orgcode.empty"


@pytest.mark.parametrize(
    "text",
    [
        "00.00.00.G22",  # level 4 too short
        "0000.00.00.G22",  # level 4 too long
        "000.0.00.G22",
        "000.00.000.G22",
        "000.00.00.G2",
        "000.00.00.G222",
        "000.00.00.22",  # no letter
        "000.00.00.GG2",
        "000.00.00.g22",  # lowercase letter
        "000.00.00.Đ22",  # a letter outside A-Z
        "000.00.00.G00",  # level-1 number 00 names nothing
        "000.00. 00.G22",  # a space inside
        "000 .00.00.G22",
        "000.00.00.G 22",
        "000,00,00,G22",
        "000-00-00-G22",
        "000.00.00.G22.",
        "G22",
        "28.22.H17",  # legacy shapes are not standard codes
        "01.02.G22",
        "٠٠٠.٠٠.٠٠.G٢٢",  # Arabic-Indic digits
        "000.00.00.G٢٢",
        "０００.００.００.Ｇ２２",  # fullwidth
        "000.00.00.G２２",
        "000.00.00.G22\x00",
        "000.00.00.G22\nx",
    ],
)
def test_malformed_codes_are_refused_as_bad_format(text: str) -> None:
    with pytest.raises(OrgCodeError) as info:
        parse_agency_code(text)
    assert info.value.code == "orgcode.bad_format"
    assert not is_agency_code(text)


def test_errors_are_value_errors_with_a_message() -> None:
    with pytest.raises(ValueError, match=r"orgcode\.bad_format"):
        parse_agency_code("not a code")


# --------------------------------------------------------------------------- legacy ids
@pytest.mark.parametrize("text", ["28.22.H17", "01.02.G22", "H17", "vpcp-test_1"])
def test_legacy_ids_are_read_opaquely(text: str) -> None:
    agency = read_agency_id(text)
    assert agency == AgencyId(text, None)
    assert agency.is_legacy
    assert str(agency) == text


@pytest.mark.parametrize("text", ["28.22.H17", "01.02.G22"])
def test_legacy_ids_are_refused_when_not_allowed(text: str) -> None:
    with pytest.raises(OrgCodeError) as info:
        read_agency_id(text, allow_legacy=False)
    assert info.value.code == "orgcode.bad_format"


def test_test_code_777_77_04_d77_is_a_legacy_id() -> None:
    assert read_agency_id("777.77.04.D77").is_legacy
    with pytest.raises(OrgCodeError):
        read_agency_id("777.77.04.D77", allow_legacy=False)


def test_standard_codes_are_read_with_their_parsed_code() -> None:
    agency = read_agency_id(" 000.00.11.H53 ")
    assert agency.text == "000.00.11.H53"
    assert agency.code == parse_agency_code("000.00.11.H53")
    assert not agency.is_legacy
    assert read_agency_id("000.00.11.H53", allow_legacy=False) == agency


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "orgcode.empty"),
        ("   ", "orgcode.empty"),
        ("28 22 H17", "orgcode.bad_format"),  # spaces
        ("<script>", "orgcode.bad_format"),
        (".28.22", "orgcode.bad_format"),  # must start with a letter or digit
        ("x" * 33, "orgcode.bad_format"),  # longer than an opaque id may be
        ("٢٨.٢٢.H17", "orgcode.bad_format"),  # not ASCII
    ],
)
def test_unreadable_ids_are_refused_even_as_legacy(text: str, code: str) -> None:
    with pytest.raises(OrgCodeError) as info:
        read_agency_id(text)
    assert info.value.code == code


# --------------------------------------------------------------------------- properties
@given(code_texts)
def test_valid_codes_round_trip(text: str) -> None:
    code = parse_agency_code(text)
    assert str(code) == text
    assert parse_agency_code(str(code)) == code
    assert is_agency_code(text)
    assert read_agency_id(text) == AgencyId(text, code)


@given(codes)
def test_parent_is_one_step_up_the_tree(code: AgencyCode) -> None:
    parent = code.parent
    if code.level == 1:
        assert parent is None
        assert code.ancestors() == ()
        assert code.root == code
        return
    assert parent is not None
    # The parent is the nearest non-empty level above (SPEC §1: 001.00.10.H47 → level 2).
    groups = {4: code.level4 != "000", 3: code.level3 != "00", 2: code.level2 != "00"}
    expected = max((level for level in (2, 3) if level < code.level and groups[level]), default=1)
    assert parent.level == expected
    assert parent.level < code.level
    assert code.is_under(parent, strict=True)
    assert not parent.is_under(code)
    assert parent < code
    assert parent.level1 == code.level1
    assert code.root == parent.root


@given(level4s.filter(lambda g: g != "000"), level3s.filter(lambda g: g != "00"))
def test_without_empty_levels_each_parent_is_level_minus_one(level4: str, level3: str) -> None:
    code = parse_agency_code(f"{level4}.{level3}.07.H41")
    assert [a.level for a in (code, *code.ancestors())] == [4, 3, 2, 1]


@given(codes)
def test_ancestors_are_a_chain_of_parents_up_to_the_root(code: AgencyCode) -> None:
    chain = code.ancestors()
    assert len(chain) < code.level
    node = code
    for ancestor in chain:
        assert node.parent == ancestor
        assert code.is_under(ancestor, strict=True)
        node = ancestor
    assert node.level == 1
    assert node == code.root


@given(st.lists(codes, max_size=8))
def test_sorted_codes_put_ancestors_first(items: list[AgencyCode]) -> None:
    family = {a for code in items for a in (code, *code.ancestors())}
    ordered = sorted(family)
    for index, code in enumerate(ordered):
        for ancestor in code.ancestors():
            assert ordered.index(ancestor) < index


@settings(max_examples=300)
@given(st.text(max_size=20) | code_texts.map(lambda t: t[: len(t) // 2] + " " + t[len(t) // 2 :]))
def test_random_text_never_raises_anything_but_orgcode_errors(text: str) -> None:
    code, error = _outcome(parse_agency_code, text)
    assert error in {None, "orgcode.empty", "orgcode.bad_format"}
    if code is not None:
        assert str(code) == text.strip()
    agency, error = _outcome(read_agency_id, text)
    assert error in {None, "orgcode.empty", "orgcode.bad_format"}
    if code is not None:
        assert agency == AgencyId(text.strip(), code)
    assert is_agency_code(text) == (code is not None)


def _outcome(read: Callable[[str], T], text: str) -> tuple[T | None, str | None]:
    """What ``read`` returns, or the code of the OrgCodeError it raises (anything else fails)."""
    try:
        return read(text), None
    except OrgCodeError as exc:
        return None, exc.code


@pytest.mark.parametrize("text", ["777.77.04.D77", "000.00.00.B01", "000.00.00.Z99"])
def test_only_known_level1_letters_make_standard_codes(text: str) -> None:
    with pytest.raises(OrgCodeError):
        parse_agency_code(text)
    assert read_agency_id(text).is_legacy
