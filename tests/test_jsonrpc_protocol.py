"""JSON-RPC conformance: the 2.0 specification's examples, 1.0 and 1.1 forms, real clients.

Golden cases live in tests/data/wire as ``NAME.request.json`` (the body sent)
and ``NAME.response.json`` (the reply expected; an empty file means "HTTP 200,
empty body", a notification). Replies are compared structurally and type-exactly (``1`` is not
``1.0``, ``"1"`` is not ``1``); the string ``"<any string>"`` in an expected
reply matches any non-empty string, so error messages may be reworded but
codes, ids and shapes may not. Batch replies may come in any order (spec §6).
Each case is sent with its JSON Content-Type and again with none (sniffed).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import uuid
import xmlrpc.client
from pathlib import Path

import jsonrpclib
import jsonrpclib.config
import pytest
import requests
from tests.support import wire

WIRE = Path(__file__).parent / "data" / "wire"
ANY_STRING = "<any string>"
ROOT = Path(__file__).resolve().parents[1]


# -- helpers -----------------------------------------------------------------------------------

def post(url: str, body: bytes, content_type: str | None = "application/json",
         path: str = "/jsonrpc") -> tuple[int, http.client.HTTPResponse, bytes]:
    return wire.post(url, body, content_type, path)


def call(url: str, payload, content_type: str = "application/json"):
    """POST a JSON value; return the decoded reply (None for a notification's empty 200)."""
    status, response, body = post(url, json.dumps(payload).encode(), content_type)
    assert status == 200, body
    if body == b"":
        return None
    assert response.getheader("Content-Type") == "application/json"
    return json.loads(body)


def matches(expected, actual) -> bool:
    """Type-exact structural equality; ANY_STRING matches any non-empty string."""
    if expected == ANY_STRING:
        return isinstance(actual, str) and bool(actual)
    if type(expected) is not type(actual):
        return False
    if isinstance(expected, dict):
        return expected.keys() == actual.keys() and all(
            matches(value, actual[key]) for key, value in expected.items())
    if isinstance(expected, list):
        return len(expected) == len(actual) and all(map(matches, expected, actual))
    return expected == actual


def matches_batch(expected: list, actual: list) -> bool:
    """Each expected reply matches a distinct actual one, in any order."""
    if len(expected) != len(actual):
        return False
    unused = list(actual)
    for want in expected:
        found = next((got for got in unused if matches(want, got)), None)
        if found is None:
            return False
        unused.remove(found)
    return True


def wire_cases(extension: str) -> list[str]:
    return sorted(p.name[:-len(f".request.{extension}")]
                  for p in WIRE.glob(f"*.request.{extension}"))


# -- golden wire cases -------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["application/json", None], ids=["declared", "sniffed"])
@pytest.mark.parametrize("case", wire_cases("json"))
def test_golden_json_case(url, case, content_type):
    request = (WIRE / f"{case}.request.json").read_bytes()
    expected_text = (WIRE / f"{case}.response.json").read_text()
    status, response, body = post(url, request, content_type)
    if not expected_text.strip():
        assert (status, body) == (200, b""), f"{case}: a notification gets an empty reply"
        return
    assert status == 200, body
    assert response.getheader("Content-Type") == "application/json"
    assert int(response.getheader("Content-Length")) == len(body)
    expected, actual = json.loads(expected_text), json.loads(body)
    if isinstance(expected, list):
        assert isinstance(actual, list) and matches_batch(expected, actual), actual
    else:
        assert matches(expected, actual), actual


def test_golden_cases_are_present():
    # A glob that matches nothing would silently test nothing.
    assert len(wire_cases("json")) >= 20
    for case in wire_cases("json"):
        assert (WIRE / f"{case}.response.json").exists(), case


# -- ids ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("rpcid", [0, "0", 1, -7, 2**53 + 1, 1.5, "", "abc", "é☃",
                                   str(uuid.UUID(int=7)), None],
                         ids=repr)
def test_id_is_echoed_exactly_type_included(url, rpcid):
    reply = call(url, {"jsonrpc": "2.0", "method": "add", "params": [1, 2], "id": rpcid})
    assert reply == {"jsonrpc": "2.0", "result": 3, "id": rpcid}
    assert type(reply["id"]) is type(rpcid)


@pytest.mark.parametrize("rpcid", [True, {"a": 1}, [1]], ids=repr)
def test_id_of_wrong_type_is_an_invalid_request_with_null_id(url, rpcid):
    reply = call(url, {"jsonrpc": "2.0", "method": "add", "params": [1, 2], "id": rpcid})
    assert reply["error"]["code"] == -32600
    assert reply["id"] is None


@pytest.mark.parametrize("version", ["1.0", "2", 2.0, None, ""], ids=repr)
def test_wrong_jsonrpc_value_is_invalid_request(url, version):
    reply = call(url, {"jsonrpc": version, "method": "add", "params": [1, 2], "id": 9})
    assert reply["error"]["code"] == -32600
    assert reply["id"] == 9
    assert "result" not in reply


def test_a_20_reply_never_carries_both_result_and_error(url):
    ok = call(url, {"jsonrpc": "2.0", "method": "add", "params": [1, 2], "id": 1})
    failed = call(url, {"jsonrpc": "2.0", "method": "divide", "params": [1, 0], "id": 2})
    assert set(ok) == {"jsonrpc", "result", "id"}
    assert set(failed) == {"jsonrpc", "error", "id"}
    assert failed["error"]["code"] == -32000


# -- invalid Request objects are answered even without an id (spec §5, §7) ---------------------

@pytest.mark.parametrize("request_object", [
    {"jsonrpc": "2.0", "method": 1, "params": "bar"},
    {"jsonrpc": "2.0", "params": [1, 2]},
    {"jsonrpc": "2.0", "method": "add", "params": 7},
    {"foo": "boo"},
], ids=["method-not-string", "no-method", "params-scalar", "foo-boo"])
def test_invalid_request_without_id_gets_an_error_not_silence(url, request_object):
    reply = call(url, request_object)
    assert reply is not None, "an invalid Request object must be answered (-32600, id null)"
    assert reply["error"]["code"] == -32600
    assert reply["id"] is None


# -- versions ----------------------------------------------------------------------------------

def test_10_request_gets_10_reply(url):
    assert call(url, {"method": "hello", "params": ["one"], "id": "a"}) == {
        "result": "Hello, one", "error": None, "id": "a"}


def test_10_error_reply_has_null_result(url):
    reply = call(url, {"method": "nope", "params": [], "id": 3})
    assert reply["result"] is None and reply["id"] == 3
    assert reply["error"]["code"] == -32601


def test_10_null_id_is_a_notification(url):
    assert call(url, {"method": "add", "params": [1, 2], "id": None}) is None


def test_11_request_gets_11_reply(url):
    assert call(url, {"version": "1.1", "method": "add", "params": [2, 2], "id": 4}) == {
        "version": "1.1", "result": 4, "id": 4}


def test_11_named_params(url):
    reply = call(url, {"version": "1.1", "method": "subtract", "params": {"a": 1, "b": 5},
                       "id": 5})
    assert reply == {"version": "1.1", "result": 4, "id": 5}


# -- numbers: exact big ints, no NaN -----------------------------------------------------------

def test_big_int_result_is_exact(url):
    # requests with the stdlib decoder: the exact integer, not a float.
    response = requests.post(f"{url}/jsonrpc", timeout=10, json={
        "jsonrpc": "2.0", "method": "getpow", "params": [2, 70], "id": 1})
    assert json.loads(response.content)["result"] == 2**70
    assert b"1180591620717411303424" in response.content


def test_big_int_param_round_trips_exactly(url):
    assert call(url, {"jsonrpc": "2.0", "method": "ping", "params": [2**100 + 1], "id": 1})[
        "result"] == 2**100 + 1


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_literals_are_parse_errors(url, literal):
    body = b'{"jsonrpc":"2.0","method":"add","params":[%s,1],"id":1}' % literal
    status, _, reply = post(url, body)
    assert status == 200
    assert json.loads(reply) == {"jsonrpc": "2.0", "id": None, "error": {
        "code": -32700, "message": json.loads(reply)["error"]["message"]}}


def test_overflow_to_infinity_is_the_same_error_on_both_protocols(url):
    # One error-code table: a result JSON/XML cannot carry is refused with one code.
    json_reply = call(url, {"jsonrpc": "2.0", "method": "multiply", "params": [1e308, 10],
                            "id": 1})
    with pytest.raises(xmlrpc.client.Fault) as xml_fault:
        xmlrpc.client.ServerProxy(url).multiply(1e308, 10)
    assert "result" not in json_reply
    assert json_reply["error"]["code"] == xml_fault.value.faultCode == -32602


# -- introspection and multicall over JSON-RPC -------------------------------------------------

def test_introspection_over_jsonrpc(url):
    server = jsonrpclib.ServerProxy(url)
    names = server.system.listMethods()
    for name in ("add", "subtract", "multiply", "divide", "pow", "ping", "hello", "listinfo",
                 "getpow", "system.listMethods", "system.methodHelp",
                 "system.methodSignature", "system.multicall", "system.getCapabilities"):
        assert name in names
    assert server.system.methodHelp("hello") == 'Return "Hello, {name}".'
    assert server.system.methodSignature("hello") == [["string", "string"]]
    capabilities = server.system.getCapabilities()
    assert {"xmlrpc", "json-rpc", "system.multicall", "introspection"} <= set(capabilities)


def test_system_multicall_over_jsonrpc_keeps_faults_as_structs(url):
    reply = call(url, {"jsonrpc": "2.0", "method": "system.multicall", "id": 1, "params": [[
        {"methodName": "add", "params": [1, 2]},
        {"methodName": "divide", "params": [1, 0]},
        {"methodName": "nope", "params": []},
    ]]})
    ok, zero, missing = reply["result"]
    assert ok == [3]
    assert zero == {"faultCode": -32000, "faultString": zero["faultString"]}
    assert set(missing) == {"faultCode", "faultString"} and missing["faultCode"] == -32601


# -- jsonrpclib, the client the notes use ------------------------------------------------------

def test_jsonrpclib_20_calls_and_errors(url):
    server = jsonrpclib.ServerProxy(url)
    assert server.add(5, 6) == 11
    assert server.subtract(a=3, b=10) == 7  # named params
    with pytest.raises(jsonrpclib.ProtocolError) as error:
        server.divide(1, 0)
    assert error.value.args[0][0] == -32000


def test_jsonrpclib_10_mode(url):
    server = jsonrpclib.ServerProxy(url, config=jsonrpclib.config.Config(version=1.0))
    assert server.add(5, 6) == 11
    assert server.hello("old") == "Hello, old"
    with pytest.raises(jsonrpclib.ProtocolError) as error:
        server.nope()
    assert error.value.args[0][0] == -32601


def test_jsonrpclib_multicall(url):
    server = jsonrpclib.ServerProxy(url)
    batch = jsonrpclib.MultiCall(server)
    batch.add(1, 2)
    batch.hello("batch")
    batch.divide(1, 0)
    results = batch()
    assert results[0] == 3
    assert results[1] == "Hello, batch"
    with pytest.raises(jsonrpclib.ProtocolError):
        results[2]


def test_jsonrpclib_multicall_with_a_notification_inside(url):
    server = jsonrpclib.ServerProxy(url)
    batch = jsonrpclib.MultiCall(server)
    batch.add(2, 2)
    batch._notify.add(1, 1)
    assert list(batch()) == [4]


@pytest.fixture
def counting_gateway(make_gateway, tmp_path, monkeypatch):
    """The calculator plus ``count.record`` (tests.support.services.Counting) beside it."""
    count_file = tmp_path / "calls"
    count_file.touch()
    monkeypatch.setenv("RPC_GATEWAY_TEST_COUNT_FILE", str(count_file))
    server = make_gateway(service__services=["handlers.calculator:Calculator",
                                             "count=tests.support.services:Counting"])
    host, port = server.server_address[:2]
    return f"http://{host}:{port}", count_file


def wait_for_line(path: Path, text: str, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text():
            return True
        time.sleep(0.02)
    return False


def test_jsonrpclib_notification_runs_and_is_accepted(counting_gateway):
    url, count_file = counting_gateway
    server = jsonrpclib.ServerProxy(url)
    assert server._notify.count.record("note-1") is None  # no TransportError
    assert wait_for_line(count_file, "note-1 "), "the notification was not executed"


def test_raw_notification_is_an_empty_200_and_runs(counting_gateway):
    url, count_file = counting_gateway
    status, response, body = post(url, json.dumps({
        "jsonrpc": "2.0", "method": "count.record", "params": ["note-2"]}).encode())
    assert (status, body) == (200, b"")
    assert response.getheader("Content-Length") == "0"
    assert wait_for_line(count_file, "note-2 ")


# -- the JSON backend is pinned ----------------------------------------------------------------

PINNED_PROBES = [
    {"jsonrpc": "2.0", "method": "getpow", "params": [2, 70], "id": 1},
    {"jsonrpc": "2.0", "method": "ping", "params": [2**80], "id": 2},
    {"jsonrpc": "2.0", "method": "multiply", "params": [1e308, 10], "id": 3},
    {"method": "getpow", "params": [3, 50], "id": "v1"},
]
PINNED_RAW = [
    b'{"jsonrpc":"2.0","method":"add","params":[NaN,1],"id":4}',
    b'{"jsonrpc":"2.0","method":"ping","params":[1e999],"id":5}',
    b'[{"jsonrpc":"2.0","method":"getpow","params":[2,64],"id":6},'
    b'{"jsonrpc":"2.0","method":"ping","params":[-9223372036854775809],"id":7}]',
]


def _backend_picked_by_jsonrpclib(env: dict[str, str]) -> str:
    """Which JSON module jsonrpclib would choose under ``env`` (what drifts)."""
    out = subprocess.run(
        [sys.executable, "-c", "import jsonrpclib.jsonrpc as j; print(j.jloads.__module__)"],
        env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def _replies(url: str) -> list[tuple[int, bytes]]:
    bodies = [json.dumps(probe).encode() for probe in PINNED_PROBES] + PINNED_RAW
    return [post(url, body)[::2] for body in bodies]


def test_json_backend_is_pinned_whatever_is_installed(daemon, tmp_path):
    # A directory that makes the fast JSON libraries unimportable for one process.
    blocker = tmp_path / "no-fast-json"
    blocker.mkdir()
    for name in ("orjson", "ujson", "simplejson", "cjson"):
        (blocker / f"{name}.py").write_text(f"raise ImportError('{name} blocked by the test')\n")
    without = {"PYTHONPATH": f"{blocker}{os.pathsep}{ROOT}"}
    assert _backend_picked_by_jsonrpclib({}) == "orjson", (
        "orjson must be installed in the test environment (test extras) for this test")
    assert _backend_picked_by_jsonrpclib(without) == "json"

    with_fast = _replies(daemon().url)
    with_stdlib = _replies(daemon(env=without).url)
    assert with_fast == with_stdlib
    by_id = {json.loads(body)["id"]: json.loads(body) for _, body in with_fast[:4]}
    assert by_id[1]["result"] == 2**70
    assert by_id[2]["result"] == 2**80
    assert by_id["v1"] == {"result": 3**50, "error": None, "id": "v1"}
    nan_reply = json.loads(with_fast[4][1])
    assert nan_reply["error"]["code"] == -32700 and nan_reply["id"] is None
