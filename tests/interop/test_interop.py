"""Legacy client libraries from other languages against a real gateway (issue 5).

The gateway exists for callers we cannot change: a C monitoring agent, a
Perl billing job, a Ruby script, a PHP shop front, a Node service. Each test
runs one real client library (a small program beside this file) against an
in-process gateway on port 0, through a ``WireRecorder`` that keeps the bytes
each way, and checks what the program printed against values computed in
``clients.py`` and what went over the wire.

Where a library cannot do something (no <i8>, no wide characters), the test
asserts the library's own behaviour and says so; where the gateway is at
fault, the test asserts what should happen.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess

import pytest

from tests.interop.builds import build_c, xmlrpc_c_flags
from tests.interop.clients import (
    A, APT, B, BIG, CLIENT_ENV, CLIENT_TIMEOUT, COMMON_CALLS, LATIN1_NAME, NAME,
    ClientRun, check_multicall, check_native_fault, check_results, program_args,
    require_node_package, require_perl_module, require_php_extension, require_ruby_library,
    require_tool, run_client)
from tests.interop.wire import (
    WireRecorder, check_keep_alive, check_replies, gzip_was_used)


# -- C: xmlrpc-c ------------------------------------------------------------------------


def test_xmlrpc_c_library_client(wire):
    flags = xmlrpc_c_flags("libxmlrpc-core-c3-dev", "client", "--cflags", "--libs")
    binary = build_c("xmlrpc_c_client", "xmlrpc_c_client.c", "libxmlrpc-core-c3-dev", flags)
    run = run_client([str(binary), *program_args(wire.url + "/RPC2")])

    check_results(run.results, COMMON_CALLS)
    # xmlrpc-c puts its own words before the server's faultString.
    check_native_fault(run.results.get("divide_by_zero"))
    check_multicall(run.results.get("multicall"))
    assert run.results["ping_i8"].get("result") == BIG  # <i8> in, <i8> out
    exchanges = check_replies(wire, "text/xml; charset=utf-8")
    check_keep_alive(wire, exchanges, kept=True)
    assert all(x.request.headers["user-agent"].startswith("Xmlrpc-c/") for x in exchanges)


def xmlrpc_cli(url: str, method: str, *params: str) -> subprocess.CompletedProcess:
    binary = require_tool("xmlrpc", f"{APT} libxmlrpc-core-c3-dev (it ships /usr/bin/xmlrpc)")
    return subprocess.run([binary, url, method, *params], capture_output=True,
                          timeout=CLIENT_TIMEOUT, env=CLIENT_ENV, stdin=subprocess.DEVNULL)


def cli_result(completed: subprocess.CompletedProcess) -> tuple[str, str]:
    """(type label, value text) from the CLI's 'Result:' block; non-ASCII bytes
    come out as \\xNN escapes, which are turned back into bytes and decoded."""
    assert completed.returncode == 0, completed.stderr.decode(errors="replace")
    _, found, shown = completed.stdout.partition(b"Result:")
    assert found, completed.stdout
    label, _, value = shown.strip().partition(b": ")  # "Nil" has no value part
    value = re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]), value)
    return label.decode(), value.decode("utf-8")


def test_xmlrpc_c_command_line_client(wire):
    url = wire.url + "/RPC2"
    assert cli_result(xmlrpc_cli(url, "add", f"i/{A}", f"i/{B}")) == ("Integer", str(A + B))
    assert cli_result(xmlrpc_cli(url, "subtract", f"i/{A}", f"i/{B}")) == (
        "Integer", str(abs(A - B)))
    label, value = cli_result(xmlrpc_cli(url, "divide", f"i/{A}", f"i/{B}"))
    assert label == "Floating Point" and float(value) == pytest.approx(A / B, abs=1e-6)
    assert cli_result(xmlrpc_cli(url, "hello", f"s/{NAME}")) == ("String", f"'Hello, {NAME}'")
    assert cli_result(xmlrpc_cli(url, "ping", f"I/{BIG}")) == ("64-bit integer", str(BIG))
    assert cli_result(xmlrpc_cli(url, "ping", "n/")) == ("Nil", "")

    fault = xmlrpc_cli(url, "divide", f"i/{A}", "i/0")
    assert fault.returncode == 1
    assert re.search(rb"division by zero\.\s+\(XML-RPC fault code -32000\)", fault.stderr), (
        fault.stderr)
    exchanges = check_replies(wire, "text/xml; charset=utf-8")
    assert len(exchanges) == 7 and len(wire.connections) == 7  # one process per call
    assert all(b"\r\n" in x.request.body for x in exchanges)  # its CRLF bodies parse


# -- Perl ---------------------------------------------------------------------------------


def test_perl_rpc_xml_client(wire):
    perl = require_perl_module("RPC::XML::Client", "librpc-xml-perl")
    run = run_client([perl, "rpc_xml_client.pl", *program_args(wire.url + "/RPC2")])

    check_results(run.results, tuple(c for c in COMMON_CALLS if c != "hello"))
    assert run.results["hello_utf8_declared"].get("result") == f"Hello, {NAME}"
    check_native_fault(run.results.get("divide_by_zero"))
    assert run.results["divide_by_zero"]["native"] == "RPC::XML::fault"
    check_multicall(run.results.get("multicall"))
    exchanges = check_replies(wire, "text/xml; charset=utf-8")
    check_keep_alive(wire, exchanges, kept=False)  # LWP sends Connection: TE, close
    assert not gzip_was_used(exchanges)  # it accepts only deflate
    assert all(x.request.headers["accept-encoding"] == "deflate" for x in exchanges)


def test_perl_rpc_xml_client_non_ascii_with_default_declaration(wire):
    """RPC::XML's defaults declare encoding="us-ascii" but write UTF-8 bytes.

    US-ASCII is a subset of UTF-8, so reading such a document as UTF-8 changes
    nothing for a valid one and gives the caller what it meant otherwise.
    Fails until the gateway does so (reported with a proposed fix).
    """
    perl = require_perl_module("RPC::XML::Client", "librpc-xml-perl")
    run = run_client([perl, "rpc_xml_client.pl", *program_args(wire.url + "/RPC2")])

    (hello, _) = wire.calls("hello")
    assert hello.request.body.startswith(b'<?xml version="1.0" encoding="us-ascii"?>')
    assert NAME.encode("utf-8") in hello.request.body
    assert run.results["hello"].get("result") == f"Hello, {NAME}", run.results["hello"]


def test_perl_xmlrpc_lite_client(wire):
    perl = require_perl_module("XMLRPC::Lite", "libxmlrpc-lite-perl")
    run = run_client([perl, "xmlrpc_lite_client.pl", *program_args(wire.url + "/RPC2"),
                      LATIN1_NAME])
    text_calls = ("add", "subtract", "divide", "ping_struct", "ping_array")

    check_results(run.results, (*text_calls, "hello", "ping_large"), text_values=text_calls)
    check_native_fault(run.results.get("divide_by_zero"))
    check_multicall(run.results.get("multicall"), text_values=True)
    # Non-ASCII strings go out as <base64>: UTF-8 bytes and Latin-1 bytes alike.
    # The calculator decodes base64 names as UTF-8, falling back to Latin-1.
    hello_utf8, hello_latin1 = wire.calls("hello")
    utf8_b64 = base64.b64encode(NAME.encode("utf-8"))
    latin1_b64 = base64.b64encode(LATIN1_NAME.encode("latin-1"))
    assert b"<base64>" + utf8_b64 + b"</base64>" in hello_utf8.request.body
    assert b"<base64>" + latin1_b64 + b"</base64>" in hello_latin1.request.body
    assert run.results["hello_latin1"].get("result") == f"Hello, {LATIN1_NAME}"
    assert f"Hello, {LATIN1_NAME}".encode("utf-8") in hello_latin1.response.body
    # A Perl string with characters beyond Latin-1 dies in the client, before sending.
    assert "Wide character" in run.results["hello_wide_characters"].get("error", "")
    # The gateway answers 2**40 as <i8>, a type XMLRPC::Lite does not know.
    (pow_call,) = wire.calls("getpow")
    assert f"<i8>{BIG}</i8>".encode() in pow_call.response.body
    assert "wrong element 'i8'" in run.results["i8_result"].get("error", "")
    exchanges = check_replies(wire, "text/xml; charset=utf-8")
    check_keep_alive(wire, exchanges, kept=False)


def run_json_rpc_legacy(wire: WireRecorder, mode: str) -> ClientRun:
    perl = require_perl_module("JSON::RPC::Legacy::Client", "libjson-rpc-perl")
    return run_client([perl, "json_rpc_legacy_client.pl", *program_args(wire.url + "/jsonrpc"),
                       mode])


@pytest.mark.parametrize("mode", ["with-id", "1.0"])
def test_perl_json_rpc_legacy_client(wire, mode):
    run = run_json_rpc_legacy(wire, mode)

    check_results(run.results, COMMON_CALLS)
    check_native_fault(run.results.get("divide_by_zero"))
    exchanges = check_replies(wire, "application/json")
    check_keep_alive(wire, exchanges, kept=False)
    for exchange in exchanges:
        request, reply = json.loads(exchange.request.body), json.loads(exchange.response.body)
        assert reply["id"] == request["id"]
        if mode == "1.0":
            assert "version" not in request and "error" in reply
        else:
            assert request["version"] == "1.1" and reply["version"] == "1.1"


def test_perl_json_rpc_legacy_client_default_sends_no_id(wire):
    """The client as documented: "version":"1.1" and no "id" member at all.

    The 1.1 working draft makes "id" optional, and the same distribution's
    server (JSON::RPC::Legacy::Server) takes a call for a notification only
    when it has neither "version" nor "id". Taken for a notification, the call
    would get an empty answer and the client would return nothing at all.
    """
    run = run_json_rpc_legacy(wire, "default")

    (add,) = wire.calls("add")
    assert "id" not in json.loads(add.request.body)
    assert add.response.status == 200, f"a 1.1 call without id was answered {add.response.start}"
    check_results(run.results, COMMON_CALLS)
    check_native_fault(run.results.get("divide_by_zero"))


# -- Ruby -----------------------------------------------------------------------------------


def test_ruby_xmlrpc_client(wire):
    ruby = require_ruby_library("xmlrpc/client", "ruby-xmlrpc")
    run = run_client([ruby, "ruby_xmlrpc_client.rb", *program_args(wire.url + "/RPC2")])

    check_results(run.results, COMMON_CALLS)
    check_native_fault(run.results.get("divide_by_zero"))
    assert run.results["divide_by_zero"]["native"] == "XMLRPC::FaultException"
    check_multicall(run.results.get("multicall"))
    exchanges = check_replies(wire, "text/xml; charset=utf-8")
    check_keep_alive(wire, exchanges, kept=True)
    # The ~100 KB reply was gzipped, and Ruby's own size check still passed.
    (large,) = [x for x in wire.calls("ping") if len(x.request.body) > 10000]
    assert large.response.headers.get("content-encoding") == "gzip"


# -- PHP ------------------------------------------------------------------------------------


def test_php_ext_xmlrpc_client(wire):
    php = require_php_extension("xmlrpc", "php-xmlrpc")
    run = run_client([php, "-d", "display_errors=stderr", "php_xmlrpc_client.php",
                      *program_args(wire.url + "/RPC2")])

    check_results(run.results, ("add", "subtract", "divide", "hello", "ping_struct",
                                "ping_array", "ping_large"))
    check_native_fault(run.results.get("divide_by_zero"))
    check_multicall(run.results.get("multicall"))
    exchanges = check_replies(wire, "text/xml; charset=utf-8")
    check_keep_alive(wire, exchanges, kept=False)  # PHP's http stream sends Connection: close

    # Defaults: declared iso-8859-1 and every UTF-8 byte escaped as its own character,
    # so the gateway's method saw mojibake ("JÃ¼rgen ..."). xmlrpc_decode() maps the
    # reply back to Latin-1 bytes, which undoes it: the PHP caller sees the right text.
    hello_default, hello_utf8 = wire.calls("hello")
    assert hello_default.request.body.startswith(b'<?xml version="1.0" encoding="iso-8859-1"?>')
    assert b"J&#195;&#188;rgen" in hello_default.request.body
    mojibake = NAME.encode("utf-8").decode("latin-1")
    assert f"Hello, {mojibake}".encode("utf-8") in hello_default.response.body
    # With encoding=utf-8 and escaping=markup the gateway sees the real name.
    assert f"Hello, {NAME}".encode("utf-8") in hello_utf8.response.body
    assert run.results["hello_utf8_options"].get("result") == f"Hello, {NAME}"

    # No Content-Type header: PHP sends form-urlencoded; the gateway sniffs the '<'.
    assert "Content-type not specified" in run.stderr
    untyped = [x for x in exchanges
               if x.request.headers.get("content-type") == "application/x-www-form-urlencoded"]
    assert len(untyped) == 1
    assert untyped[0].response.headers["content-type"] == "text/xml; charset=utf-8"
    assert run.results["add_no_content_type"].get("result") == A + B

    # ext/xmlrpc cannot read <i8> (xmlrpc_decode gives null), and truncates 2**40 to 0
    # before sending: both are the client's limits, visible on the wire.
    (pow_call,) = wire.calls("getpow")
    assert f"<i8>{BIG}</i8>".encode() in pow_call.response.body
    assert "returned null" in run.results["i8_result"].get("error", "")
    assert run.results["ping_2_40"].get("result") == 0
    assert any(b"<int>0</int>" in x.request.body for x in wire.calls("ping"))


# -- JavaScript -----------------------------------------------------------------------------


def test_node_xmlrpc_client(wire):
    node = require_node_package("xmlrpc")
    run = run_client([node, "node_xmlrpc_client.js", *program_args(wire.url + "/RPC2")])

    check_results(run.results, tuple(c for c in COMMON_CALLS if c != "i8_result"))
    check_native_fault(run.results.get("divide_by_zero"))
    check_multicall(run.results.get("multicall"))
    # The package decodes <i8> as a string, so no precision is lost beyond 2**53.
    assert run.results["i8_result"].get("result") == str(BIG)
    exchanges = check_replies(wire, "text/xml; charset=utf-8")
    check_keep_alive(wire, exchanges, kept=True)


def test_node_jayson_client(wire):
    node = require_node_package("jayson")
    run = run_client([node, "node_jayson_client.js", *program_args(wire.url + "/jsonrpc")])

    check_results(run.results, COMMON_CALLS)
    check_native_fault(run.results.get("divide_by_zero"))
    check_multicall(run.results.get("multicall"))
    assert run.results["notification"] == {"call": "notification", "result": None}
    exchanges = check_replies(wire, "application/json")
    check_keep_alive(wire, exchanges, kept=True)
    notification = exchanges[-1]
    assert "id" not in json.loads(notification.request.body)
    # jayson's own server answers 204; its client takes the gateway's empty 200 as well.
    assert (notification.response.status, notification.response.body) == (200, b"")
