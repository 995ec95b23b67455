"""The XML-RPC codec gives the stdlib's answers, by both of its readers, safely.

``gateway.xmldecode`` reads a call with an event reader (the reference: the
stdlib Unmarshaller's semantics) or, for large regular bodies, by walking a
C-built tree (``gateway.xmltree``); ``gateway.xmlencode`` writes responses.
These tests compare them with ``xmlrpc.client`` itself on generated values
and on the irregular layouts real clients send, and check that the fast
path refuses what defusedxml refuses. Speed is measured in bench/codec.py,
never here.
"""

from __future__ import annotations

import datetime
import xmlrpc.client

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import faults
from gateway.xmldecode import _denser_than_xmlrpc, _read_events, parse_call
from gateway.xmlencode import dump_response
from gateway.xmltree import read_tree

SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
XML_CHARS = st.characters(blacklist_categories=("Cs",),
                          blacklist_characters="\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c"
                                               "\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18"
                                               "\x19\x1a\x1b\x1c\x1d\x1e\x1f\r\ufffe\uffff")
SCALARS = (st.integers(-2**31, 2**31 - 1) | st.booleans() | st.text(XML_CHARS, max_size=20)
           | st.floats(allow_nan=False, allow_infinity=False) | st.none()
           | st.binary(max_size=40)
           | st.datetimes(datetime.datetime(1, 1, 1)).map(lambda d: d.replace(microsecond=0)))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=6)
                      | st.dictionaries(st.text(XML_CHARS, max_size=8), inner, max_size=6),
                      max_leaves=40)


def stdlib_reading(body: bytes) -> tuple[str, tuple]:
    params, method = xmlrpc.client.loads(body, use_builtin_types=True)
    return method, params


def call_body(params: tuple, padding: int = 0) -> bytes:
    """A methodCall as xmlrpc.client writes it; ``padding`` bytes of comment make it large."""
    body = xmlrpc.client.dumps(params, "ping", allow_none=True)
    return body.replace("<methodCall>", "<methodCall><!--" + "p" * padding + "-->", 1).encode()


# -- writing ------------------------------------------------------------------------------------

@SETTINGS
@given(VALUES)
def test_responses_are_the_stdlib_bytes(value):
    expected = xmlrpc.client.dumps((value,), methodresponse=True, allow_none=True)
    assert dump_response(value) == expected.encode("utf-8", "xmlcharrefreplace")


@pytest.mark.parametrize("value", [list(range(-5, 5)), tuple(range(3)), [2**31 - 1, -2**31],
                                   [True, 1], [1, 1.0], ["a", 1], [], (), (7,)])
def test_arrays_written_in_one_piece_are_the_stdlib_bytes(value):
    expected = xmlrpc.client.dumps((value,), methodresponse=True, allow_none=True)
    assert dump_response(value) == expected.encode()


def test_an_array_with_a_big_int_is_written_item_by_item():
    assert b"<int>1</int></value>\n<value><i8>2147483648</i8>" in dump_response([1, 2**31])


def test_rare_types_and_objects_go_through_the_gateway_rules():
    class Point:
        def __init__(self) -> None:
            self.x, self.big, self.name = 1, 2**40, "a\x01<b"

    body = dump_response([Point(), xmlrpc.client.Binary(b"\x00"), bytearray(b"ab")])
    assert b"<name>big</name>\n<value><i8>1099511627776</i8>" in body
    assert b"<string>a&lt;b</string>" in body
    assert xmlrpc.client.loads(body, use_builtin_types=True)[0][0][1:] == [b"\x00", b"ab"]


@pytest.mark.parametrize("value, message", [
    (2**64, "64 bits"), (float("nan"), "finite"), ([2**70], "64 bits"),
    ({"a": float("inf")}, "finite")])
def test_unrepresentable_results_are_faults(value, message):
    with pytest.raises(faults.RPCError, match=message):
        dump_response(value)


def test_recursive_results_are_refused_not_a_crash():
    loop: list = [1]
    loop.append(loop)
    with pytest.raises(TypeError, match="recursive"):
        dump_response(loop)
    shared = [1]
    assert dump_response([shared, shared]).count(b"<int>1</int>") == 2  # shared is not a loop


# -- reading ------------------------------------------------------------------------------------

@SETTINGS
@given(st.lists(VALUES, max_size=3).map(tuple), st.sampled_from([0, 5000]))
def test_both_readers_give_the_stdlib_values(params, padding):
    body = call_body(params, padding)  # padding 5000: large enough for the tree reader
    expected = stdlib_reading(body)
    assert tuple(parse_call(body, 64)[:2]) == expected
    assert tuple(_read_events(body, 64, False)[:2]) == expected
    tree = read_tree(body, 64)
    assert tree is None or tree == expected


IRREGULAR = {
    "pretty-printed": "<value>\n  <string> a </string>\n  </value>",
    "untyped": "<value> text </value>",
    "empty-untyped": "<value/>",
    "cdata-and-references": "<value><string>a<![CDATA[<&>]]>&amp;&#233;&#x263A;</string></value>",
    "comment-inside-string": "<value><string>a<!-- no -->b</string></value>",
    "text-around-typed": "<value>x<int>5</int>y</value>",
    "two-typed-children": "<value><int>1</int><int>2</int></value>",
    "empty-array-and-struct": "<value><array/></value></param><param><value><struct/></value>",
    "array-without-data": "<value><array><value><int>1</int></value></array></value>",
    "struct-value-first": "<value><struct><member><value><int>1</int></value><name>k</name>"
                          "</member></struct></value>",
    "prefixed-types": "<value><x:int xmlns:x='urn:x'>4</x:int></value>",
    "nil-with-text": "<value><nil>ignored</nil></value>",
    "i4-and-i8": "<value><i4>-7</i4></value></param><param><value><i8>1099511627776</i8></value>",
    "whitespace-int": "<value><int> 42 </int></value>",
    "nested": "<value><array><data><value><struct><member><name>a</name><value>"
              "<array><data/></array></value></member></struct></value></data></array></value>",
}


@pytest.mark.parametrize("padding", [0, 5000], ids=["small", "large"])
@pytest.mark.parametrize("param", IRREGULAR.values(), ids=IRREGULAR.keys())
def test_irregular_layouts_read_as_the_stdlib_reads_them(param, padding):
    body = (f"<?xml version='1.0'?><methodCall><!--{'p' * padding}--><methodName>ping"
            f"</methodName><params><param>{param}</param></params></methodCall>").encode()
    expected = stdlib_reading(body)
    assert tuple(parse_call(body, 64)[:2]) == expected
    tree = read_tree(body, 64)
    assert tree is None or tree == expected


# -- what the fast path must refuse like the slow one ---------------------------------------------

LARGE_PARAM = "<param><value><array><data>" + "<value><int>1</int></value>" * 400 + \
              "</data></array></value></param>"
HOSTILE = {
    "internal-entity": ("<!DOCTYPE m [<!ENTITY a 'b'>]>", "&a;", faults.ParseError),
    "billion-laughs": ("<!DOCTYPE m [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;&a;'>]>", "&b;",
                       faults.ParseError),
    "external-entity": ("<!DOCTYPE m [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>", "&e;",
                        faults.ParseError),
    "bare-doctype": ("<!DOCTYPE methodCall>", "x", faults.ParseError),
    "undefined-entity": ("", "&e;", faults.ParseError),
    "lone-surrogate": ("", "&#55357;", faults.ParseError),
    "unknown-type": ("", "<evil>1</evil>", faults.InvalidRequest),
}


@pytest.mark.parametrize("prolog, string, error", HOSTILE.values(), ids=HOSTILE.keys())
def test_large_bodies_refuse_what_defusedxml_refuses(prolog, string, error):
    value = string if string.startswith("<") else f"<string>{string}</string>"
    body = (f"<?xml version='1.0'?>{prolog}<methodCall><methodName>ping</methodName><params>"
            f"<param><value>{value}</value></param>{LARGE_PARAM}</params></methodCall>").encode()
    assert len(body) > 10000
    with pytest.raises(error):
        parse_call(body, 64)


@pytest.mark.parametrize("size", [10, 3000], ids=["small", "large"])
def test_nesting_beyond_the_bound_is_refused_at_any_size(size):
    deep = "<value><array><data>" * 20 + "<value><int>1</int></value>" + \
           "</data></array></value>" * 20
    filler = "<param><value><string>" + "x" * size + "</string></value></param>"
    body = (f"<methodCall><methodName>ping</methodName><params><param>{deep}</param>"
            f"{filler}</params></methodCall>").encode()
    with pytest.raises(faults.InvalidRequest, match="deeper than 16"):
        parse_call(body, 16)
    assert parse_call(body, 20).params[1] == "x" * size


@pytest.mark.parametrize("body", [
    b"<methodCall><methodName></methodName></methodCall>",
    b"<methodCall><params/></methodCall>",
    b"<methodCall><methodName>f</methodName><params><param><value><struct><member>"
    b"<name>a</name></member></struct></value></param></params></methodCall>",
    b"<methodResponse><fault><value><struct></struct></value></fault></methodResponse>",
], ids=["empty-name", "no-name", "member-without-value", "fault-not-call"])
def test_malformed_calls_are_invalid_requests(body):
    with pytest.raises(faults.InvalidRequest):
        parse_call(body, 64)


def test_the_tree_reader_reads_the_benchmark_shapes_itself():
    params = ({f"k{i:04d}": i for i in range(1000)}, list(range(1000)),
              [{"name": "x", "when": datetime.datetime(2024, 2, 29), "ok": True, "n": None}] * 20)
    body = call_body(params)
    assert read_tree(body, 64) == stdlib_reading(body)  # not None: no fallback for these


# -- dialects: what the method sees ---------------------------------------------------------------

UTC, PLUS_0530 = datetime.timezone.utc, datetime.timezone(datetime.timedelta(hours=5, minutes=30))
DATETIMES = {
    "19980717T14:08:55": datetime.datetime(1998, 7, 17, 14, 8, 55),
    "19980717T140855": datetime.datetime(1998, 7, 17, 14, 8, 55),
    "1998-07-17T14:08:55": datetime.datetime(1998, 7, 17, 14, 8, 55),
    "1998-07-17T14:08:55Z": datetime.datetime(1998, 7, 17, 14, 8, 55, tzinfo=UTC),
    "1998-07-17T14:08:55.125Z": datetime.datetime(1998, 7, 17, 14, 8, 55, 125000, tzinfo=UTC),
    "19980717T14:08:55,1234567": datetime.datetime(1998, 7, 17, 14, 8, 55, 123456),
    "19980717T14:08:55+05:30": datetime.datetime(1998, 7, 17, 14, 8, 55, tzinfo=PLUS_0530),
    "1998-07-17T14:08:55.000+0530": datetime.datetime(1998, 7, 17, 14, 8, 55, tzinfo=PLUS_0530),
    "19980717T14:08:55-08": datetime.datetime(
        1998, 7, 17, 14, 8, 55, tzinfo=datetime.timezone(datetime.timedelta(hours=-8))),
}


def ping_call(value: str, padding: int = 0, declaration: str = "") -> bytes:
    return (f"<?xml version='1.0'?><methodCall{declaration}><!--{'p' * padding}--><methodName>"
            f"ping</methodName><params><param><value>{value}</value></param></params>"
            f"</methodCall>").encode()


@pytest.mark.parametrize("padding", [0, 5000], ids=["small", "large"])
@pytest.mark.parametrize("text, expected", DATETIMES.items(), ids=DATETIMES.keys())
def test_datetime_forms_reach_the_method_as_datetimes(text, expected, padding):
    (value,) = parse_call(ping_call(f"<dateTime.iso8601>{text}</dateTime.iso8601>",
                                    padding), 64).params
    assert value == expected and value.tzinfo == expected.tzinfo
    assert f"<dateTime.iso8601>{text}</dateTime.iso8601>".encode() in dump_response(value)


@pytest.mark.parametrize("text", ["1998-07-17", "19980717T25:00:00", "1998-07-17T14:08",
                                  "1998-0717T14:08:55", "19980717T14:0855", "x", ""])
def test_other_datetime_text_is_invalid_params(text):
    with pytest.raises(faults.InvalidParams):
        parse_call(ping_call(f"<dateTime.iso8601>{text}</dateTime.iso8601>"), 64)


def test_a_computed_datetime_is_written_in_the_spec_form():
    (received,) = parse_call(ping_call("<dateTime.iso8601>1998-07-17T14:08:55.5Z"
                                       "</dateTime.iso8601>"), 64).params
    later = received + datetime.timedelta(days=1)
    assert b"<dateTime.iso8601>19980718T14:08:55</dateTime.iso8601>" in dump_response(later)


@pytest.mark.parametrize("text, expected", [("true", True), ("false", False), (" TRUE ", True),
                                            ("1", True), ("0", False)])
def test_boolean_words(text, expected):
    for padding in (0, 5000):
        assert parse_call(ping_call(f"<boolean>{text}</boolean>", padding), 64).params == \
            (expected,)
    with pytest.raises(faults.InvalidParams):
        parse_call(ping_call("<boolean>yes</boolean>"), 64)


@pytest.mark.parametrize("references", ["&#55357;&#56832;", "&#xd83d;&#xDE00;"])
def test_surrogate_pair_references_are_one_character(references):
    assert parse_call(ping_call(f"<string>a{references}b</string>"), 64).params == \
        ("a\U0001f600b",)


@pytest.mark.parametrize("references", ["&#55357;", "&#56832;&#55357;", "&#55357;x&#56832;"])
def test_lone_or_reversed_surrogates_stay_parse_errors(references):
    with pytest.raises(faults.ParseError):
        parse_call(ping_call(f"<string>{references}</string>"), 64)


APACHE = ' xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions"'


@pytest.mark.parametrize("padding", [0, 5000], ids=["small", "large"])
def test_apache_dialect_is_noticed_only_from_a_declaration(padding):
    assert parse_call(ping_call("<int>1</int>", padding, APACHE), 64).apache
    quoted = "<string>xmlns:ex=&quot;http://ws.apache.org/xmlrpc/namespaces/extensions&quot;</string>"
    assert not parse_call(ping_call(quoted, padding), 64).apache
    assert not parse_call(ping_call("<ex:i8>1</ex:i8>", padding), 64).apache  # prefix alone


def test_apache_dialect_answers():
    body = dump_response([2**40, None, 2**70, 1, True], apache=True)
    assert body.startswith(b"<?xml version='1.0'?>\n<methodResponse" + APACHE.encode() + b">\n")
    for piece in (b"<ex:i8>1099511627776</ex:i8>", b"<ex:nil/>",
                  b"<ex:biginteger>1180591620717411303424</ex:biginteger>", b"<int>1</int>",
                  b"<boolean>1</boolean>"):
        assert piece in body
    assert b"<i8>" not in body and b"<nil/>" not in body


def test_a_decimal_outside_the_apache_dialect_is_a_clear_fault():
    (value,) = parse_call(ping_call("<bigdecimal>1.10</bigdecimal>"), 64).params
    with pytest.raises(faults.RPCError, match="Apache") as error:
        dump_response(value)
    assert error.value.code == faults.INVALID_PARAMS
    assert b"<ex:bigdecimal>1.10</ex:bigdecimal>" in dump_response(value, apache=True)


def test_the_tree_reader_stops_at_the_depth_bound():
    body = call_body(([[[[1]]]], [{"a": {"b": {}}}]), padding=5000)
    assert read_tree(body, 4) == stdlib_reading(body)
    assert read_tree(body, 3) is None  # the event reader then names the bound
    with pytest.raises(faults.InvalidRequest, match="deeper than 3"):
        parse_call(body, 3)


@pytest.mark.parametrize("prefix", ["", "x:"], ids=["plain", "prefixed"])
def test_a_deeply_nested_large_body_is_refused_before_any_tree_is_built(prefix, monkeypatch):
    def no_tree(body, max_depth):
        raise AssertionError("the tree reader was given a body nested beyond the bound")
    monkeypatch.setattr("gateway.xmldecode.read_tree", no_tree)
    levels = 5000
    body = (f"<methodCall xmlns:x='urn:x'><methodName>ping</methodName><params><param>"
            + f"<value><{prefix}array><data>" * levels
            + f"</data></{prefix}array></value>" * levels
            + "</param></params></methodCall>").encode()
    with pytest.raises(faults.InvalidRequest, match="deeper than 64"):
        parse_call(body, 64)


def test_a_large_list_of_structs_is_read_by_the_tree(monkeypatch):
    rows = [{"id": i, "name": f"row {i}", "tags": ["a", i]} for i in range(500)]
    body = call_body((rows,))
    calls = []
    monkeypatch.setattr("gateway.xmldecode.read_tree",
                        lambda body, depth: calls.append(depth) or read_tree(body, depth))
    assert parse_call(body, 64).params == (rows,)
    assert calls == [64]


@pytest.mark.parametrize("junk", ["<a/>" * 5000, "<a>" * 3000 + "</a>" * 3000],
                         ids=["flat", "nested"])
def test_junk_denser_than_xmlrpc_never_reaches_the_tree(junk, monkeypatch):
    def no_tree(body, max_depth):
        raise AssertionError("the tree reader was given junk")
    monkeypatch.setattr("gateway.xmldecode.read_tree", no_tree)
    with pytest.raises(faults.InvalidRequest, match="unknown value type <a>"):
        parse_call(ping_call(junk), 64)
    rows = [{"id": i, "v": None, "e": ""} for i in range(300)]
    assert _denser_than_xmlrpc(call_body((rows, [None] * 500, [""] * 500))) is False


APACHE_VALUES = ("<array><data><value><ex:i8>1099511627776</ex:i8></value><value><ex:nil/></value>"
                 "<value><ex:i1>7</ex:i1></value><value><ex:float>1.5</ex:float></value>"
                 "<value><ex:bigdecimal>1.10</ex:bigdecimal></value><value><ex:dateTime>"
                 "1998-07-17T14:08:55.000+02:00</ex:dateTime></value></data></array>")


def test_large_apache_calls_read_alike_by_both_readers():
    body = ping_call(APACHE_VALUES, 5000, APACHE)
    call = parse_call(body, 64)
    assert call.apache and tuple(call) == tuple(_read_events(body, 64, True))
    assert read_tree(body, 64) == tuple(call[:2])  # the tree reader reads the ex: types itself
    ((big, nil, small, half, decimal, when),) = call.params
    assert (big, nil, small, half, str(decimal)) == (2**40, None, 7, 1.5, "1.10")
    assert when.tag == "ex:dateTime" and when.utcoffset() == datetime.timedelta(hours=2)
    with pytest.raises(faults.InvalidRequest, match="serializable"):
        parse_call(ping_call("<ex:serializable>rO0=</ex:serializable>", 5000, APACHE), 64)


def test_an_apache_declaration_below_the_root_is_noticed_too():
    value = f"<array{APACHE}><data><value><ex:i8>5</ex:i8></value></data></array>"
    for padding in (0, 5000):
        call = parse_call(ping_call(value, padding), 64)
        assert call.apache and call.params == ([5],)
