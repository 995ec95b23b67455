"""XML-RPC conformance: every type through ``ping``, i8 and big ints, faults, introspection.

Golden cases live in tests/data/wire as ``NAME.request.xml`` (bytes sent, in
the encoding their declaration names) and ``NAME.response.xml`` (the reply
expected byte for byte, always UTF-8). Each is sent as ``text/xml`` and again
with no Content-Type (sniffed): the answer must be the same bytes.
"""

from __future__ import annotations

import datetime
import http.client
import xmlrpc.client
from pathlib import Path

import pytest
from tests.support import wire

WIRE = Path(__file__).parent / "data" / "wire"


def post(url: str, body: bytes, content_type: str | None = "text/xml",
         path: str = "/RPC2") -> tuple[int, http.client.HTTPResponse, bytes]:
    return wire.post(url, body, content_type, path)


def method_call(method: str, *values: str, declaration: str = "<?xml version='1.0'?>",
                encoding: str = "utf-8") -> bytes:
    params = "".join(f"<param><value>{value}</value></param>" for value in values)
    return (f"{declaration}\n<methodCall><methodName>{method}</methodName>"
            f"<params>{params}</params></methodCall>").encode(encoding)


def wire_cases() -> list[str]:
    return sorted(p.name[:-len(".request.xml")] for p in WIRE.glob("*.request.xml"))


# -- golden wire cases -------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["text/xml", None], ids=["declared", "sniffed"])
@pytest.mark.parametrize("case", wire_cases())
def test_golden_xml_case(url, case, content_type):
    request = (WIRE / f"{case}.request.xml").read_bytes()
    expected = (WIRE / f"{case}.response.xml").read_bytes()
    status, response, body = post(url, request, content_type)
    assert status == 200  # faults too: clients discard non-200 bodies
    assert response.getheader("Content-Type") == "text/xml; charset=utf-8"
    assert int(response.getheader("Content-Length")) == len(body)
    assert body == expected


def test_golden_cases_are_present():
    assert len(wire_cases()) >= 15
    for case in wire_cases():
        assert (WIRE / f"{case}.response.xml").exists(), case


# -- every type through ping -------------------------------------------------------------------

ROUND_TRIPS = {
    "int": 42,
    "negative-int": -2**31,
    "boolean-true": True,
    "boolean-false": False,
    "string-markup-and-non-ascii": "a<b>&c \"q\" 'é' ☃ 日本 \U0001f600",
    "empty-string": "",
    "double": 3.25,
    "negative-double": -1e-300,
    "datetime": datetime.datetime(1999, 12, 31, 23, 59, 58),
    "base64": bytes(range(256)),
    "empty-base64": b"",
    "struct": {"a": 1, "b": "two", "c": 3.0},
    "array": [1, "two", 3.0, False],
    "empty-array": [],
    "empty-struct": {},
    "nested": {"list": [{"deep": [[1, 2], {"x": None}]}, b"\x00\x01"],
               "when": datetime.datetime(2024, 2, 29, 12, 0, 0)},
    "nil": None,
}


@pytest.mark.parametrize("value", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_ping_round_trips_every_type(url, value):
    proxy = xmlrpc.client.ServerProxy(url, allow_none=True, use_builtin_types=True)
    result = proxy.ping(value)
    assert result == value
    assert type(result) is type(value)


def test_ping_round_trips_all_types_in_one_call(url):
    proxy = xmlrpc.client.ServerProxy(url, allow_none=True, use_builtin_types=True)
    assert proxy.ping(ROUND_TRIPS) == ROUND_TRIPS


def test_large_payloads_round_trip(url):
    # The benchmark's large calls, read by the tree reader and written in one piece.
    proxy = xmlrpc.client.ServerProxy(url, allow_none=True, use_builtin_types=True)
    struct = {f"k{i:04d}": i for i in range(1000)}
    assert proxy.ping(struct) == struct
    assert proxy.ping(list(range(10000))) == list(range(10000))
    rows = [{"id": i, "name": f"row <{i}> & é", "ok": i % 2 == 0, "when": None,
             "score": i / 3, "tags": ["a", b"\x00"]} for i in range(300)]
    assert proxy.ping(rows) == rows


def test_i8_is_accepted_and_returned_as_i8(url):
    # xmlrpc.client refuses to send 2**40 itself, so the <i8> goes on the wire raw.
    status, _, body = post(url, method_call("ping", "<i8>1099511627776</i8>"))
    assert status == 200
    assert b"<i8>1099511627776</i8>" in body
    assert xmlrpc.client.loads(body, use_builtin_types=True)[0] == (2**40,)


def test_int_results_use_int_within_32_bits_and_i8_beyond(url):
    proxy = xmlrpc.client.ServerProxy(url)
    assert proxy.getpow(2, 30) == 2**30
    assert proxy.getpow(2, 40) == 2**40  # received as <i8>, which the client accepts
    assert proxy.getpow(-2, 63) == -2**63  # the 64-bit edge


def test_int_beyond_64_bits_is_a_fault_not_http_500(url):
    proxy = xmlrpc.client.ServerProxy(url)
    with pytest.raises(xmlrpc.client.Fault) as fault:
        proxy.getpow(2, 70)
    assert fault.value.faultCode == -32602
    assert "64 bits" in fault.value.faultString


def test_int_beyond_64_bits_as_input_is_a_fault(url):
    status, _, body = post(url, method_call("ping", "<i8>99999999999999999999999</i8>"))
    assert status == 200
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc.client.loads(body)
    assert fault.value.faultCode == -32602


def test_non_finite_double_is_a_fault(url):
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc.client.ServerProxy(url).multiply(1e308, 10)
    assert fault.value.faultCode == -32602


def test_nil_is_sent_back_to_an_allow_none_client(url):
    assert xmlrpc.client.ServerProxy(url, allow_none=True).ping(None) is None


def test_encoding_declarations_are_honoured(url):
    # The é as one byte 0xE9, as PHP's ext/xmlrpc sends it: decoding as UTF-8 would fail.
    latin1 = method_call("hello", "<string>Jos\xe9</string>", encoding="latin-1",
                         declaration="<?xml version='1.0' encoding='iso-8859-1'?>")
    assert b"Jos\xe9<" in latin1
    ascii_ = method_call("hello", "<string>Jos&#233;</string>",
                         declaration='<?xml version="1.0" encoding="us-ascii"?>')
    for body in (latin1, ascii_):
        status, _, reply = post(url, body, "text/xml")
        assert status == 200
        assert xmlrpc.client.loads(reply)[0] == ("Hello, José",)


def test_base64_name_is_accepted_by_hello(url):
    # XMLRPC::Lite sends Latin-1 text as <base64>; the calculator must not choke.
    status, _, reply = post(url, method_call("hello", "<base64>Sm9z6Q==</base64>"))
    assert xmlrpc.client.loads(reply)[0] == ("Hello, José",)


# -- faults ------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, code", [
    (b"<methodCall><methodName>add</methodName><params>", -32700),
    (b"<?xml version='1.0'?><notACall/>", -32600),
    (method_call("add", "<int>x</int>", "<int>1</int>"), -32602),
    (method_call("nope"), -32601),
    (method_call("divide", "<int>1</int>", "<int>0</int>"), -32000),
    (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><methodCall>"
     b"<methodName>ping</methodName><params><param><value>&a;</value></param></params>"
     b"</methodCall>", -32700),
], ids=["not-well-formed", "not-a-call", "bad-int", "unknown-method", "division-by-zero",
        "entity-declaration"])
def test_faults_use_the_shared_codes_with_http_200(url, body, code):
    status, response, reply = post(url, body)
    assert status == 200
    assert response.getheader("Content-Type") == "text/xml; charset=utf-8"
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc.client.loads(reply)
    assert fault.value.faultCode == code
    assert isinstance(fault.value.faultString, str) and fault.value.faultString
    assert "Traceback" not in fault.value.faultString and ".py" not in fault.value.faultString


# -- introspection and multicall ---------------------------------------------------------------

def test_list_methods_help_and_signature(url):
    proxy = xmlrpc.client.ServerProxy(url)
    names = proxy.system.listMethods()
    assert {"add", "subtract", "multiply", "divide", "pow", "ping", "hello", "listinfo",
            "getpow"} <= set(names)
    assert not [name for name in names if name.startswith("_") or "._" in name]
    assert proxy.system.methodHelp("divide").startswith("Return a / b")
    # Signatures come from the type hints: [return type, parameter types...]
    assert proxy.system.methodSignature("hello") == [["string", "string"]]
    assert proxy.system.methodSignature("listinfo") == [["string", "string"]]
    assert proxy.system.methodSignature("divide") == [["double", "double", "double"]]
    pow_signatures = proxy.system.methodSignature("pow")
    assert [len(s) for s in pow_signatures] == [3, 4]  # pow(x, y) and pow(x, y, z)
    assert pow_signatures[1][3] == "int"
    assert proxy.system.methodSignature("system.listMethods") == [["array"]]
    assert proxy.system.methodSignature("system.methodHelp") == [["string", "string"]]


def test_method_help_of_an_unknown_method_is_a_fault(url):
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc.client.ServerProxy(url).system.methodHelp("nope")
    assert fault.value.faultCode == -32601


def test_get_capabilities(url):
    capabilities = xmlrpc.client.ServerProxy(url).system.getCapabilities()
    for name in ("xmlrpc", "json-rpc", "system.multicall", "introspection", "faults_interop",
                 "nil"):
        assert set(capabilities[name]) == {"specUrl", "specVersion"}, name
        assert isinstance(capabilities[name]["specVersion"], int)


def test_system_multicall_faults_are_structs_not_wrapped_successes(url):
    proxy = xmlrpc.client.ServerProxy(url)
    results = proxy.system.multicall([
        {"methodName": "add", "params": [1, 2]},
        {"methodName": "divide", "params": [1, 0]},
        {"methodName": "nope", "params": []},
        {"methodName": "system.multicall", "params": [[]]},
        {"params": [1]},
    ])
    assert results[0] == [3]
    for entry, code in zip(results[1:], (-32000, -32601, -32600, -32600)):
        assert isinstance(entry, dict) and set(entry) == {"faultCode", "faultString"}
        assert entry["faultCode"] == code


def test_multicall_client(url):
    proxy = xmlrpc.client.ServerProxy(url)
    multicall = xmlrpc.client.MultiCall(proxy)
    multicall.add(2, 3)
    multicall.hello("multi")
    multicall.divide(1, 0)
    multicall.getpow(2, 40)
    results = multicall()
    assert results[0] == 5
    assert results[1] == "Hello, multi"
    with pytest.raises(xmlrpc.client.Fault) as fault:
        results[2]
    assert fault.value.faultCode == -32000
    assert results[3] == 2**40
