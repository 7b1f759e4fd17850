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
