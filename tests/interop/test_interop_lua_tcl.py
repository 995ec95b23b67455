"""Lua and Tcl client libraries against a real gateway (issue 12).

Both libraries are small and old, and both leave work to the caller that no
server can take over: neither escapes the strings it sends, Tcl's counts
Content-Length in characters and returns a <fault> as an ordinary struct.
Each program does what a caller must (escaping, sending bytes, looking for
faultCode), and also makes the natural call once, so the tests show both what
goes wrong and that the workaround the README names works.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.interop.clients import (
    APT, CLIENT_TIMEOUT, SEQUENTIAL, ClientRun, check_native_fault, check_raw_multicall, check_results,
    check_unknown_method, require_tool, run_client, wide_args)
from tests.interop.wire import check_keep_alive, check_replies

PARSE_ERROR = -32700
TCL_LARGE = 300


def require_script_library(interpreter: str, probe: str, package: str) -> str:
    """The interpreter, once it has loaded the library; fails naming the package."""
    path = require_tool(interpreter, f"{APT} {interpreter} {package}")
    loaded = subprocess.run([path], input=probe.encode(), capture_output=True,
                            timeout=CLIENT_TIMEOUT)
    if loaded.returncode != 0:
        pytest.fail(f"{package} does not load in {interpreter}: {APT} {package}\n"
                    f"{loaded.stderr.decode(errors='replace')}", pytrace=False)
    return path


def check_unescaped_markup(run: ClientRun) -> None:
    """The library wrote "<", "&" into the body as they are: not XML, refused."""
    fault = run.results["ping_markup"].get("fault")
    assert fault and fault["code"] == PARSE_ERROR, run.results["ping_markup"]


def test_lua_xmlrpc_client(wire):
    lua = require_script_library("lua5.1", 'require "xmlrpc.http"', "lua-xmlrpc")
    run = run_client([lua, "lua_xmlrpc_client.lua", *wide_args(wire.url + "/RPC2")])

    check_results(run.results, ("add", "subtract", "divide", "hello", "ping_struct",
                                "ping_array", "ping_double", "ping_boolean",
                                "ping_markup_escaped", "ping_large", "sequential"))
    check_native_fault(run.results.get("divide_by_zero"))
    check_unknown_method(run.results.get("unknown_method"))
    check_raw_multicall(run.results.get("multicall"))
    check_unescaped_markup(run)
    assert "Invalid <i8> element" in run.results["i8_result"]["error"]  # it has no i8
    exchanges = check_replies(wire, "text/xml; charset=utf-8")
    check_keep_alive(wire, exchanges, kept=False)  # LuaSocket sends Connection: close, TE
    assert all(x.request.headers["user-agent"].startswith("LuaXMLRPC") for x in exchanges)


def test_tcl_xmlrpc_client(wire):
    tclsh = require_script_library("tclsh", "package require xmlrpc", "tcl-xmlrpc")
    args = wide_args(wire.url + "/RPC2")
    args[4] = str(TCL_LARGE)  # its regexp parser is quadratic: 3,000 ints take ~10 s
    run = run_client([tclsh, "tcl_xmlrpc_client.tcl", *args])

    check_results(run.results, ("add", "subtract", "divide", "hello_bytes", "ping_struct",
                                "ping_array", "ping_double", "ping_boolean", "ping_datetime",
                                "ping_base64", "ping_markup_escaped", "sequential"))
    assert run.results["ping_large"].get("result") == {
        "count": TCL_LARGE, "sum": TCL_LARGE * (TCL_LARGE - 1) // 2}
    check_native_fault(run.results.get("divide_by_zero"))  # found by its faultCode member
    check_unknown_method(run.results.get("unknown_method"))
    check_raw_multicall(run.results.get("multicall"))
    check_unescaped_markup(run)
    # The natural call with non-ASCII text: Content-Length counts characters, the
    # body is longer in bytes, and the gateway parses the prefix it was promised.
    assert run.results["hello"]["fault"]["code"] == PARSE_ERROR, run.results["hello"]
    # An ASCII request gets a UTF-8 reply: fewer characters than its Content-Length.
    assert "error" in run.results["hello_references"], run.results["hello_references"]
    assert "error" in run.results["i8_result"]  # it has no i8
    # HTTP/1.0, one call per connection, no Host header. The recording is read per
    # connection: the natural hello's body ran past its Content-Length.
    assert len(wire.connections) > SEQUENTIAL
    heads = [bytes(c.sent).split(b"\r\n\r\n", 1)[0] for c in wire.connections]
    assert all(h.startswith(b"POST /RPC2 HTTP/1.0\r\n") for h in heads)
    assert not any(b"\r\nhost:" in h.lower() for h in heads)
    assert all(bytes(c.sent).count(b"POST /RPC2") == 1 for c in wire.connections)
