"""The small-call shortcut changes speed, never answers, and lets nothing hostile through.

``gateway.xmlsimple.read_simple`` either declines (None) or returns exactly what
the readers of ``gateway.xmldecode`` (``read_call``, the reference) return for
the same bytes. These tests hold it to that on calls as clients write them, on
bodies spliced together from valid and hostile fragments, and on the attacks
defusedxml exists for; and check that it does take the calls it is there for.
"""

from __future__ import annotations

import re
import xmlrpc.client

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import faults
from gateway.xmldecode import Call, parse_call, read_call
from gateway.xmlsimple import read_simple

SETTINGS = settings(max_examples=400, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
PLAIN_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e,
                                   blacklist_characters="<>&"), max_size=30)
SCALARS = (st.integers(-2**31, 2**31 - 1) | st.booleans() | PLAIN_TEXT
           | st.floats(allow_nan=False, allow_infinity=False))
WHITESPACE = st.sampled_from(["", " ", "\n", "\r\n", "\t", "  \n  "])
FRAGMENTS = st.sampled_from([
    "<?xml version='1.0'?>", '<?xml version="1.0" encoding="UTF-8"?>',
    "<?xml version='1.0' encoding='us-ascii'?>", "<?xml version='1.0' standalone='yes'?>",
    "<?xml version='1.1'?>", '<?xml version="1.0" encoding="utf-16"?>',
    '<!DOCTYPE m [<!ENTITY e "boom">]>', '<!DOCTYPE m SYSTEM "file:///etc/passwd">',
    "<methodCall>", "</methodCall>", "<methodName>", "</methodName>", "add", "",
    "<params>", "</params>", "<params/>", "<param>", "</param>", "<value>", "</value>",
    "<value/>", "<int>", "</int>", "<i4>", "</i4>", "<i8>", "</i8>", "<boolean>",
    "</boolean>", "<double>", "</double>", "<string>", "</string>", "<string/>", "<Int>",
    "<array>", "<data>", "</data>", "</array>", "<ex:i4>", "<nil/>", "<fault>",
    "&amp;", "&e;", "&#65;", "&#55357;&#56832;", "<![CDATA[x]]>", "<!--c-->", "]]>",
    " ", "\r\n", "\r", "\t", "2", "-3", " +7 ", "1_000", "1.5", "1e5", ".5", "nan", "inf",
    "true", "0", "1", "x y", "é", "\x00", "\x0b", "\x7f", "9" * 4301,
])


def reference(body: bytes) -> Call | faults.RPCError:
    """The readers' answer: the call, or the fault they refuse the body with."""
    try:
        return read_call(body, 64)
    except faults.RPCError as error:
        return error


def typed(method: str, params: tuple) -> tuple:
    """Equal only when every value has the same type too (True == 1, 1.0 == 1)."""
    return method, tuple((type(value), repr(value)) for value in params)


def check(body: bytes) -> tuple | None:
    simple = read_simple(body)
    if simple is not None:
        expected = reference(body)
        assert isinstance(expected, Call), \
            f"the shortcut read {body!r}, which the readers refuse: {expected!r}"
        assert typed(*simple) == typed(expected.method, expected.params), body
        assert expected.apache is False
    return simple


@SETTINGS
@given(st.lists(SCALARS, max_size=6), st.sampled_from(["add", "system.listMethods", "a_b"]))
def test_calls_as_xmlrpc_client_writes_them_take_the_shortcut(params, method):
    body = xmlrpc.client.dumps(tuple(params), method).encode()
    assert check(body) is not None, body


@SETTINGS
@given(st.lists(SCALARS, max_size=4), st.data())
def test_whitespace_between_tags_changes_nothing(params, data):
    pieces = xmlrpc.client.dumps(tuple(params), "add").replace("\n", "").split("><")
    body = pieces[0]
    for piece in pieces[1:]:
        body += ">" + data.draw(WHITESPACE) + "<" + piece
    check(body.encode())


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 400), FRAGMENTS), min_size=1, max_size=4),
       st.lists(SCALARS, max_size=3))
def test_spliced_bodies_are_read_as_the_readers_read_them_or_declined(splices, params):
    body = xmlrpc.client.dumps(tuple(params), "add")
    for at, fragment in splices:
        at = min(at, len(body))
        body = body[:at] + fragment + body[at:]
    check(body.encode("utf-8", "surrogatepass"))


@SETTINGS
@given(st.lists(FRAGMENTS, max_size=25))
def test_bodies_made_of_fragments_alone_are_never_misread(fragments):
    check("".join(fragments).encode())


@pytest.mark.parametrize("body", [
    b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY e "x">]><methodCall><methodName>add'
    b'</methodName><params><param><value>&e;</value></param></params></methodCall>',
    b'<!DOCTYPE m SYSTEM "http://127.0.0.1:9/x.dtd"><methodCall><methodName>add'
    b'</methodName></methodCall>',
    b"<methodCall><methodName>add</methodName><params><param><value><string>a&amp;b"
    b"</string></value></param></params></methodCall>",
    b"<methodCall><methodName>add</methodName><params><param><value><![CDATA[<x>]]>"
    b"</value></param></params></methodCall>",
    b"<methodCall><!--x--><methodName>add</methodName></methodCall>",
    b"\n<?xml version='1.0'?><methodCall><methodName>add</methodName></methodCall>",
    b"<methodCall><methodName>add</methodName><params><param><value><int>" + b"9" * 4301
    + b"</int></value></param></params></methodCall>",
    b"<methodCall><methodName>add</methodName><params><param><value>a]]>b</value>"
    b"</param></params></methodCall>",
    b"<methodCall><methodName>add</methodName><params><param><value>\x0b</value>"
    b"</param></params></methodCall>",
    b"<methodCall><methodName>add</methodName><params><param><value><string>a\r\nb"
    b"</string></value></param></params></methodCall>",  # expat reads "a\nb"
    "<methodCall><methodName>add</methodName><params><param><value>é</value>"
    "</param></params></methodCall>".encode(),
])
def test_what_the_shortcut_declines_the_readers_answer(body):
    """Hostile or unusual bodies go to the readers, and parse_call answers as they do."""
    assert read_simple(body) is None
    expected = reference(body)
    if isinstance(expected, Call):
        assert parse_call(body, 64) == expected
    else:
        with pytest.raises(type(expected), match=f"^{re.escape(str(expected))}$"):
            parse_call(body, 64)


def test_a_dtd_is_still_refused_as_a_parse_error():
    body = (b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;">]>'
            b"<methodCall><methodName>add</methodName><params><param><value><int>2</int>"
            b"</value></param></params></methodCall>")
    with pytest.raises(faults.ParseError, match="DTDs and entity declarations"):
        parse_call(body, 64)


def test_the_benchmark_call_is_read_by_the_shortcut():
    body = xmlrpc.client.dumps((2, 3), "add").encode()
    assert read_simple(body) == ("add", (2, 3))
    assert parse_call(body, 64) == read_call(body, 64)
