"""Java and Go client libraries against a real gateway (issue 12).

aXMLRPC is run with its default flags, with ``FLAGS_STRICT`` (it then wants
the reply's Content-Type to be exactly ``text/xml; charset=utf-8``), and with
the flags that let it send 64-bit integers and nil. The Go programs are built
against the Debian source tree in GOPATH mode: no module is downloaded.

Each program prints what the library handed its caller; the tests compare
that with values computed in ``clients.py`` and with the recorded wire. A
library limit is asserted as the library's own behaviour, named in the
README's compatibility table.
"""

from __future__ import annotations

import base64

from tests.interop.builds import build_go, build_java
from tests.interop.clients import (
    BLOB, EXPECTED, MARKUP, WIDE_CALLS, ClientRun, check_native_fault, check_raw_multicall,
    check_results, check_unknown_method, run_client, wide_args)
from tests.interop.wire import WireRecorder, check_keep_alive, check_replies


def without(*calls: str) -> tuple[str, ...]:
    return tuple(call for call in WIDE_CALLS if call not in calls)


# -- Java: aXMLRPC --------------------------------------------------------------------------


def run_axmlrpc(wire: WireRecorder, flags: str, *header: str) -> ClientRun:
    java = build_java("axmlrpc_client", "AxmlrpcClient.java", "axmlrpc.jar", "libaxmlrpc-java")
    return run_client([*java, *wide_args(wire.url + "/RPC2"), flags, *header])


def check_axmlrpc_common(run: ClientRun, wire: WireRecorder, connections: int = 1) -> None:
    check_native_fault(run.results.get("divide_by_zero"),
                       message_suffix="division by zero [-32000]")  # it appends the code
    check_unknown_method(run.results.get("unknown_method"))
    check_raw_multicall(run.results.get("multicall"))
    assert run.results["hello_astral"].get("result") == EXPECTED["hello_astral"]
    exchanges = check_replies(wire, "text/xml; charset=utf-8")
    # HttpURLConnection's keep-alive cache: one connection, unless a call failed in the library.
    assert len(wire.connections) == connections, f"{len(exchanges)} calls, {connections} wanted"
    assert all("close" not in x.response.headers.get("connection", "") for x in exchanges)
    assert all(x.request.headers["user-agent"] == "aXMLRPC" for x in exchanges)


def test_axmlrpc_default_flags(wire):
    run = run_axmlrpc(wire, "NONE")

    check_results(run.results, (*without("ping_markup", "ping_i8", "ping_nil", "i8_result"),
                                "hello_astral"))
    # Library limits without FLAGS_8BYTE_INT / FLAGS_NIL: refused before sending,
    # and an <i8> in a reply is not read. The unread reply costs the library its
    # connection, and so does the nil it fails on after opening a new one.
    check_axmlrpc_common(run, wire, connections=3)
    assert "FLAGS_8BYTE_INT must be set" in run.results["ping_i8"]["error"]
    assert "NullPointerException" in run.results["ping_nil"]["error"]
    assert run.results["i8_result"]["error"].startswith("XMLRPCException")
    # It decodes entities a second time after its XML parser did: the gateway sent
    # "&amp;amp;", the caller got "&". FLAGS_NO_STRING_DECODE reads it right.
    (markup,) = [x for x in wire.calls("ping") if b"Jerry" in x.request.body]
    assert b"&amp;amp;</string>" in markup.response.body
    assert run.results["ping_markup"]["result"] == MARKUP.replace("&amp;", "&")


def test_axmlrpc_64bit_nil_and_no_string_decode(wire):
    run = run_axmlrpc(wire, "8BYTE_INT+NIL+NO_STRING_DECODE")

    check_results(run.results, (*WIDE_CALLS, "hello_astral"))
    check_axmlrpc_common(run, wire)
    (i8_call,) = [x for x in wire.calls("ping") if b"<i8>" in x.request.body]
    assert b"<i8>1099511627776</i8>" in i8_call.response.body
    # Its dateTime is the compact form, which the gateway reads (and ping echoes).
    (when,) = [x for x in wire.calls("ping") if b"dateTime" in x.request.body]
    assert b"<dateTime.iso8601>20260102T030405</dateTime.iso8601>" in when.request.body


def test_axmlrpc_strict_flags(wire):
    """FLAGS_STRICT refuses any reply whose Content-Type does not start with
    "text/xml; charset=utf-8", character for character."""
    run = run_axmlrpc(wire, "STRICT+8BYTE_INT+NIL+NO_STRING_DECODE")

    check_results(run.results, (*WIDE_CALLS, "hello_astral"))
    check_native_fault(run.results.get("divide_by_zero"),
                       message_suffix="division by zero [-32000]")
    check_raw_multicall(run.results.get("multicall"))


def test_axmlrpc_plain_body_labelled_gzip(wire):
    """A transport that sets Content-Encoding: gzip but sends the body as it is:
    the gateway reads it as sent, since it does not start with gzip's magic bytes."""
    run = run_axmlrpc(wire, "8BYTE_INT+NIL+NO_STRING_DECODE", "Content-Encoding=gzip")

    check_results(run.results, ("add", "hello", "ping_struct", "ping_large", "sequential"))
    exchanges = check_replies(wire, "text/xml; charset=utf-8")
    assert all(x.request.headers["content-encoding"] == "gzip" for x in exchanges)
    assert all(x.request.body.startswith(b"<?xml") for x in exchanges)


# -- Go: kolo/xmlrpc and mattn/go-xmlrpc -----------------------------------------------------


def test_go_kolo_xmlrpc_client(wire):
    binary = build_go("go_kolo_client", "go_kolo_client.go", "golang-github-kolo-xmlrpc-dev",
                      "github.com/kolo/xmlrpc")
    run = run_client([str(binary), *wide_args(wire.url + "/RPC2")])

    check_results(run.results, without("ping_nil"))
    # net/rpc: the fault reaches the caller only as the text "Fault(-32000): ...".
    check_native_fault(run.results.get("divide_by_zero"))
    assert run.results["divide_by_zero"]["native"] == "rpc.ServerError"
    check_unknown_method(run.results.get("unknown_method"))
    check_raw_multicall(run.results.get("multicall"))
    # int64 goes out as <int>, whatever its size; the gateway reads it and answers <i8>.
    (i8_call,) = [x for x in wire.calls("ping") if b"1099511627776" in x.request.body]
    assert b"<int>1099511627776</int>" in i8_call.request.body
    # <base64> comes back as its text, undecoded (the program decodes it).
    native = run.results["ping_base64_native"]["result"]
    assert native != BLOB.hex() and native.strip() == base64.b64encode(BLOB).decode()
    # No nil: a nil argument becomes an empty <param>, so the method sees no argument.
    assert run.results["ping_nil"]["fault"]["code"] == -32602
    exchanges = check_replies(wire, "text/xml; charset=utf-8")
    check_keep_alive(wire, exchanges, kept=True)


def test_go_mattn_xmlrpc_client(wire):
    binary = build_go("go_mattn_client", "go_mattn_client.go",
                      "golang-github-mattn-go-xmlrpc-dev", "github.com/mattn/go-xmlrpc")
    run = run_client([str(binary), *wide_args(wire.url + "/RPC2")])

    check_results(run.results, without("ping_struct", "ping_datetime"))
    # Library limits: no fault type (a <fault> reply is "missing params"), and a
    # struct holding an array, or an array of arrays, is decoded wrongly.
    for call in ("divide_by_zero", "unknown_method"):
        assert run.results[call]["error"].endswith("invalid response: missing params")
    assert run.results["ping_struct"]["result"] != EXPECTED["ping_struct"]
    assert len(run.results["multicall"]["result"]) != 3  # the three answers run together
    # It writes <boolean>true</boolean>, which the gateway reads as true.
    (boolean,) = [x for x in wire.calls("ping") if b"<boolean>" in x.request.body]
    assert b"<boolean>true</boolean>" in boolean.request.body
    exchanges = check_replies(wire, "text/xml; charset=utf-8")
    check_keep_alive(wire, exchanges, kept=True)

