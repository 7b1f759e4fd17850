"""The fast hex-string reader gives what pyHanko's own gives, for any input."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfStreamError

from lienthong.signing import speedups

pytestmark = pytest.mark.unit


def _outcome(reader: object, data: bytes) -> tuple[str, object, int]:
    stream = io.BytesIO(data)
    try:
        value = reader(stream)  # type: ignore[operator]
    except PdfStreamError:
        return ("error", None, -1)
    return (type(value).__name__, bytes(value.original_bytes), stream.tell())


HEXISH = st.lists(
    st.sampled_from([*b"0123456789abcdefABCDEF", *b" \n\r\t\f\x00", *b"gz%<"]), max_size=300
).map(bytes)


@given(body=HEXISH, tail=st.binary(max_size=20), closed=st.booleans())
def test_same_result_and_position_as_pyhanko(body: bytes, tail: bytes, closed: bool) -> None:
    data = b"<" + body + (b">" if closed else b"") + tail
    assert _outcome(speedups.read_hex_string_from_stream, data) == _outcome(
        speedups.original_reader(), data
    )


def test_a_signature_sized_string_round_trips() -> None:
    payload = bytes(range(256)) * 64
    data = b"<" + payload.hex().encode() + b"\n>rest"
    stream = io.BytesIO(data)

    value = speedups.read_hex_string_from_stream(stream)

    assert value.original_bytes == payload
    assert stream.read() == b"rest"


def test_it_is_installed_once_signing_is_imported() -> None:
    import lienthong.signing.verify_pdf  # noqa: F401 - the import installs it

    assert generic.read_hex_string_from_stream is speedups.read_hex_string_from_stream


def _attribute(kind: str, value: str) -> object:
    from asn1crypto import x509 as asn1_x509

    name = asn1_x509.Name.build({kind: value})
    return name.chosen[0][0]  # the one NameTypeAndValue, freshly parsed below


NAME_TEXT = st.text(
    alphabet=st.sampled_from([*"aAđĐởỞ ôÔ\t-.,Sở Thông tin và Truyền thông", "\u00a0", "\u200b"]),
    max_size=40,
)


@given(value=NAME_TEXT, kind=st.sampled_from(["common_name", "organization_name"]))
def test_prepared_names_are_asn1cryptos_own(value: str, kind: str) -> None:
    from asn1crypto import x509 as asn1_x509

    built = _attribute(kind, value)
    first = asn1_x509.NameTypeAndValue.load(built.dump())  # type: ignore[attr-defined]
    second = asn1_x509.NameTypeAndValue.load(built.dump())  # type: ignore[attr-defined]
    fresh = asn1_x509.NameTypeAndValue.load(built.dump())  # type: ignore[attr-defined]
    expected = speedups.original_prepped_value(fresh)
    assert speedups.prepped_value(first) == expected
    assert speedups.prepped_value(second) == expected  # from the memo, another object


def test_name_comparison_uses_the_memo_once_installed() -> None:
    from asn1crypto import x509 as asn1_x509

    import lienthong.signing.verify_pdf  # noqa: F401 - installs the speed-ups

    prepared = asn1_x509.NameTypeAndValue.__dict__["prepped_value"]
    assert prepared.fget is speedups.prepped_value
    a = asn1_x509.Name.build({"common_name": "Sở  Thông tin"})
    b = asn1_x509.Name.build({"common_name": "sở thông TIN"})
    assert a == b  # RFC 5280 §7.1: case and inner spaces do not count
    assert a != asn1_x509.Name.build({"common_name": "Sở Y tế"})
