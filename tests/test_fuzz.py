"""Property-based fuzzing of request parsing, both protocols, against a real in-process gateway.

Hypothesis generates random bodies, valid XML-RPC and JSON-RPC calls mutated
with a dictionary of dangerous tokens, random Content-Types and encodings, and
random request heads. Properties, for every input:
- an answer within 5 s: a complete, well-formed HTTP response, or (only for a
  request that never finished) a clean close; never a hang, never junk;
- never a 500; the connection loop never dies;
- a well-framed RPC body gets 200 with its protocol's Content-Type and a
  parseable XML-RPC or JSON-RPC reply (empty only for a JSON notification);
- no traceback, path or secret in the reply;
and afterwards the gateway still answers a normal call. Each test stops
generating after its time budget, so the suite stays bounded in CI.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import time
import xmlrpc.client
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile.checks import assert_no_leak, assert_still_serving, rpc_outcome
from tests.hostile.gateways import WITH_BROKEN, GatewaySet
from tests.hostile.wire import Client, request

BUDGET_SECONDS = 9.0  # per test; three tests stay under ~30 s
FUZZ = settings(max_examples=600, deadline=None, database=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
XML_TYPES = ["text/xml", "application/xml", "TEXT/XML; charset=utf-8"]
JSON_TYPES = ["application/json", "application/json-rpc", "application/jsonrequest",
              "application/json; charset=latin-1"]
OTHER_TYPES = [None, "", "text/plain", "application/x-www-form-urlencoded",
               "multipart/form-data; boundary=x", "application/octet-stream"]
METHODS = ["add", "subtract", "multiply", "divide", "pow", "getpow", "ping", "hello",
           "listinfo", "system.multicall", "system.listMethods", "system.methodHelp",
           "broken.crash", "nope", "_private", "__init__"]
XML_TOKENS = [b"<!DOCTYPE m [<!ENTITY a 'b'>]>", b"&a;", b"&#0;", b"&#x110000;", b"<![CDATA[",
              b"]]>", b"<value>", b"</value>", b"<array><data>", b"</data></array>",
              b"<struct><member>", b"<name>", b"<int>", b"<i8>", b"<double>", b"<base64>",
              b"<boolean>", b"<dateTime.iso8601>", b"<nil/>", b"99999999999999999999999",
              b"9" * 5000, b"1e400", b"nan", b"\x00", b"\xff\xfe", b"\xef\xbb\xbf",
              b"<?xml version='1.0' encoding='utf-16'?>", b"<methodName>system.multicall",
              b"<xi:include href='file:///etc/passwd'/>"]
JSON_TOKENS = [b"{", b"}", b"[", b"]", b'"', b"\\", b"\\u", b"\\ud800", b"NaN", b"Infinity",
               b"1e400", b"-0", b"9" * 5000, b"null", b"true", b",", b":", b'"__jsonclass__"',
               b'["os.system",["true"]]', b'"jsonrpc":"2.0"', b'"version":"1.1"', b'"id":',
               b'"params":', b'"method":"system.multicall"', b"\x00", b"\xff", b"\xef\xbb\xbf",
               b"[" * 200]
EXTREME_NUMBERS = [b"1e400", b"-1e400", b"1e-400", b"9" * 5000, b"-0", b"2147483648",
                   b"9223372036854775808", b"0.1e1", b"1E+2"]
HEAD_VALUES = ["0", "1", "-1", "10", "99999999999999999999", "\xb2", "\xb9", "0x10", " 5 ",
               "1_0", "+1", "chunked", "gzip", "deflate", "identity", "chunked, gzip",
               "100-continue", "close", "keep-alive", "text/xml", "application/json", ""]
FRAMING_NAMES = ["Content-Length", "Transfer-Encoding"]
HEAD_NAMES = FRAMING_NAMES + ["Content-Type", "Content-Encoding", "Expect", "Connection", "Host",
                              "Accept-Encoding", "X-Fuzz"]


@pytest.fixture(scope="module")
def fuzz_gateways():
    gateways = GatewaySet({"fuzz": {
        "service__services": WITH_BROKEN, "limits__max_body_bytes": 16384,
        "limits__max_decompressed_bytes": 65536, "limits__max_header_bytes": 2048,
        "limits__max_headers": 24, "limits__max_request_line": 512, "limits__max_depth": 16,
        "limits__max_calls": 8, "limits__header_timeout": 2.0, "limits__body_timeout": 2.0}})
    try:
        yield gateways
    finally:
        gateways.stop_all()


class Budget:
    """Stops generating new work after ``seconds``; never while a failure is being shrunk."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds
        self.failing = False

    def spent(self) -> bool:
        return not self.failing and time.monotonic() > self.ends


# -- strategies ------------------------------------------------------------------------------

values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**31, 2**31 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)


@st.composite
def mutated(draw, valid: st.SearchStrategy, tokens: list[bytes]) -> bytes:
    """A valid body with a few edits: tokens or random bytes inserted, spans deleted,
    truncated, or a number replaced by an extreme one."""
    body = bytearray(draw(valid))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(body)))
        edit = draw(st.sampled_from(["insert", "delete", "truncate", "replace", "renumber",
                                     "renumber"]))
        piece = draw(st.sampled_from(tokens) | st.binary(min_size=1, max_size=8))
        numbers = list(re.finditer(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", body))
        if edit == "renumber" and numbers:
            number = draw(st.sampled_from(numbers))
            body[number.start():number.end()] = draw(st.sampled_from(EXTREME_NUMBERS))
        elif edit == "insert":
            body[at:at] = piece
        elif edit == "delete":
            del body[at:at + draw(st.integers(1, 16))]
        elif edit == "truncate":
            del body[at:]
        else:
            body[at:at + len(piece)] = piece
    return bytes(body)


xml_calls = st.builds(lambda method, params: xmlrpc.client.dumps(
    tuple(params), method, allow_none=True).encode("utf-8"),
    st.sampled_from(METHODS), st.lists(values, max_size=3))
json_calls = st.builds(lambda method, params, rpcid, version: json.dumps(
    {**version, "method": method, "params": params, **rpcid}).encode("utf-8"),
    st.sampled_from(METHODS), st.lists(values, max_size=3) | st.dictionaries(
        st.sampled_from(["a", "b", "x", "n", "m"]), values, max_size=3),
    st.sampled_from([{}, {"id": 1}, {"id": 2.5}, {"id": None}, {"id": "s"}]),
    st.sampled_from([{"jsonrpc": "2.0"}, {"version": "1.1"}, {}]))
json_batches = st.lists(json_calls, min_size=1, max_size=10).map(
    lambda calls: b"[" + b",".join(calls) + b"]")


def compressed(body: bytes, coding: str | None) -> bytes:
    if coding == "gzip":
        return gzip.compress(body)
    if coding == "deflate":
        return zlib.compress(body)
    return body


# -- one exchange, and what every reply must satisfy -------------------------------------------

def send_and_read(address: tuple[str, int], data: bytes, to_head: bool = False):
    """Send, half-close, read: the parsed Reply, or None when the gateway closed silently."""
    with Client(address, timeout=5) as client:
        client.send(data)
        try:
            client.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        if not client.answered(5.0):
            raise AssertionError("no answer and no close within 5 s: the gateway hangs")
        try:
            first = client.sock.recv(1, socket.MSG_PEEK)
        except ConnectionResetError:
            first = b""
        return client.reply(timeout=5, to_head=to_head) if first else None


def check_reply(reply, content_type: str | None, framed_rpc: bool) -> None:
    assert reply.status != 500, reply
    assert reply.status < 500 or reply.status in (501, 503, 505), reply
    assert_no_leak(reply)
    if not framed_rpc:
        return
    kind = (content_type or "").split(";")[0].strip().lower()
    if reply.status == 200 and not reply.body:  # a JSON notification: nothing to answer
        assert reply.media_type == "application/json", reply
        assert kind not in {t.split(";")[0].lower() for t in XML_TYPES}, reply
    elif reply.status == 200:
        rpc_outcome(reply)  # parses as the protocol's reply, by its Content-Type
        if kind in {t.split(";")[0].lower() for t in XML_TYPES}:
            assert reply.media_type == "text/xml", reply
        elif kind in {t.split(";")[0].lower() for t in JSON_TYPES}:
            assert reply.media_type == "application/json", reply
    else:
        assert reply.status in (400, 413, 415), reply


def run_body_case(gateways, budget: Budget, body: bytes, content_type: str | None,
                  coding: str | None, compress: bool) -> None:
    if budget.spent():
        return
    gateway = gateways.get("fuzz")
    headers = [("Content-Encoding", coding)] if coding else []
    payload = compressed(body, coding) if compress else body
    try:
        reply = send_and_read(gateway.address, request(
            body=payload, content_type=content_type, headers=headers))
        assert reply is not None or gateway.survives(), "this request killed the loop"
        assert reply is not None, "a complete request was closed without an answer"
        check_reply(reply, content_type, framed_rpc=True)
    except AssertionError:
        budget.failing = True
        raise


encodings = st.sampled_from([None, None, "gzip", "deflate", "identity", "br"])


def test_fuzz_xmlrpc_bodies(fuzz_gateways):
    budget = Budget(BUDGET_SECONDS)

    @FUZZ
    @given(body=mutated(xml_calls, XML_TOKENS) | st.binary(max_size=2048),
           content_type=st.sampled_from(XML_TYPES + OTHER_TYPES),
           coding=encodings, compress=st.booleans())
    def check(body, content_type, coding, compress):
        run_body_case(fuzz_gateways, budget, body, content_type, coding, compress)

    check()
    assert_still_serving(fuzz_gateways.get("fuzz").url)


def test_fuzz_jsonrpc_bodies(fuzz_gateways):
    budget = Budget(BUDGET_SECONDS)

    @FUZZ
    @given(body=mutated(json_calls | json_batches, JSON_TOKENS) | st.binary(max_size=2048),
           content_type=st.sampled_from(JSON_TYPES + OTHER_TYPES),
           coding=encodings, compress=st.booleans())
    def check(body, content_type, coding, compress):
        run_body_case(fuzz_gateways, budget, body, content_type, coding, compress)

    check()
    assert_still_serving(fuzz_gateways.get("fuzz").url)


latin1_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=24)
heads = st.fixed_dictionaries({
    # Mostly well-formed request lines, so the fuzzing reaches the header and framing code.
    "method": st.sampled_from(["GET", "POST", "POST", "HEAD", "OPTIONS", "PUT", "BREW", "get"])
    | st.sampled_from(["POST"]) | latin1_text,
    "target": st.sampled_from(["/", "/RPC2", "/jsonrpc", "/xmlrpc", "/healthz", "/?a=1&b=2",
                               "/jsonrpc?method=add&params=[1,2]&id=1", "/?method=ping",
                               "/%00", "//", "*", "/RPC2?" + "x" * 600]) | latin1_text,
    "version": st.sampled_from(["HTTP/1.1"] * 6 + ["HTTP/1.0", "HTTP/0.9", "HTTP/2", "http/1.1",
                                                    ""]),
    "headers": st.lists(st.tuples(st.sampled_from(FRAMING_NAMES), st.sampled_from(HEAD_VALUES))
                        | st.tuples(st.sampled_from(HEAD_NAMES), st.sampled_from(HEAD_VALUES))
                        | st.tuples(st.sampled_from(HEAD_NAMES), latin1_text)
                        | st.tuples(latin1_text, latin1_text), max_size=8),
    "separator": st.sampled_from(["\r\n"] * 7 + ["\n"]),
    "body": st.binary(max_size=256) | xml_calls | json_calls,
})


def test_fuzz_request_heads(fuzz_gateways):
    budget = Budget(BUDGET_SECONDS)

    @settings(FUZZ, max_examples=1000)  # heads are cheap: most are refused before any body
    @given(head=heads)
    def check(head):
        if budget.spent():
            return
        gateway = fuzz_gateways.get("fuzz")
        sep = head["separator"]
        lines = [f"{head['method']} {head['target']} {head['version']}"]
        lines += [f"{name}: {value}" for name, value in head["headers"]]
        data = (sep.join(lines) + sep + sep).encode("latin-1") + head["body"]
        try:
            reply = send_and_read(gateway.address, data, to_head=head["method"] == "HEAD")
            assert reply is not None or gateway.survives(), "this request killed the loop"
            if reply is not None:
                check_reply(reply, None, framed_rpc=False)
        except AssertionError:
            budget.failing = True
            raise

    check()
    assert_still_serving(fuzz_gateways.get("fuzz").url)
