"""C++ client libraries against a real gateway (issue 12): xmlrpc-c's C++
``clientSimple``, XmlRpc++ (the ROS fork Debian ships) and libjson-rpc-cpp's HTTP
client in JSON-RPC 1.0 and 2.0 modes.

The programs are compiled once per source and library version (``builds.py``)
with -Wall -Wextra -Werror. Each prints what the library handed its caller;
a library limit is asserted as the library's own behaviour and named in the
README's compatibility table.
"""

from __future__ import annotations

import json

import pytest

from tests.interop.builds import build_cpp, config_flags, package_versions, xmlrpc_c_flags
from tests.interop.clients import (
    APT, WIDE_CALLS, check_multicall, check_native_fault, check_raw_multicall, check_results,
    check_unknown_method, require_tool, run_client, wide_args)
from tests.interop.wire import check_keep_alive, check_replies


def library_flags(package: str, tool: str, *args: str) -> list[str]:
    return config_flags(require_tool(tool, f"{APT} {package}"), *args)


def test_xmlrpc_c_cpp_client_simple(wire):
    flags = xmlrpc_c_flags("libxmlrpc-c++8-dev", "c++2", "client", "--cflags", "--libs")
    binary = build_cpp("xmlrpc_c_cpp_client", "xmlrpc_c_cpp_client.cpp",
                       ("libxmlrpc-c++8-dev",), flags)
    run = run_client([str(binary), *wide_args(wire.url + "/RPC2")])

    check_results(run.results, WIDE_CALLS)
    check_raw_multicall(run.results.get("multicall"))
    # clientSimple has no fault object: a girerr::error carrying the fault string only.
    assert run.results["divide_by_zero"]["error"].endswith("division by zero")
    assert "no_such_method" in run.results["unknown_method"]["error"]
    exchanges = check_replies(wire, "text/xml; charset=utf-8")
    check_keep_alive(wire, exchanges, kept=True)
    assert all(x.request.headers["user-agent"].startswith("Xmlrpc-c/") for x in exchanges)


def test_xmlrpcpp_client(wire):
    flags = library_flags("libxmlrpcpp-dev", "pkg-config", "--cflags", "--libs", "xmlrpcpp")
    binary = build_cpp("xmlrpcpp_client", "xmlrpcpp_client.cpp", ("libxmlrpcpp-dev",), flags)
    run = run_client([str(binary), *wide_args(wire.url + "/RPC2")])

    # No 64-bit integer and no nil type: an <i8> reply fails the whole call.
    check_results(run.results, tuple(c for c in WIDE_CALLS
                                     if c not in ("i8_result", "ping_i8", "ping_nil")))
    assert run.results["i8_result"] == {"call": "i8_result", "error": "execute() failed"}
    check_native_fault(run.results.get("divide_by_zero"))
    check_unknown_method(run.results.get("unknown_method"))
    check_raw_multicall(run.results.get("multicall"))
    # It writes struct tm fields as they are: the program sets tm_year = 2026 and
    # tm_mon = 1, and the wire carries the date the caller meant.
    assert any(b"<dateTime.iso8601>20260102T03:04:05</dateTime.iso8601>" in x.request.body
               for x in wire.calls("ping"))
    exchanges = check_replies(wire, "text/xml; charset=utf-8")
    check_keep_alive(wire, exchanges, kept=True)


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_libjson_rpc_cpp_http_client(wire, version):
    flags = library_flags("libjsonrpccpp-dev", "pkg-config", "--cflags", "--libs",
                          "libjsonrpccpp-client")
    # Its headers still use dynamic exception specifications, which C++17 removed.
    binary = build_cpp("jsonrpccpp_client", "jsonrpccpp_client.cpp", ("libjsonrpccpp-dev",),
                       [*flags, "-Wno-deprecated"], standard="c++14")
    run = run_client([str(binary), *wide_args(wire.url + "/jsonrpc"), version])

    json_calls = ("add", "subtract", "divide", "hello", "ping_markup", "ping_struct",
                  "ping_array", "ping_double", "ping_boolean", "i8_result", "ping_i8",
                  "ping_nil", "ping_large", "sequential")
    check_results(run.results, json_calls)
    # The message arrives prefixed with the library's own text for the code.
    check_native_fault(run.results.get("divide_by_zero"))
    assert run.results["divide_by_zero"]["fault"]["message"] == (
        "Configuration file was not found: division by zero")
    check_unknown_method(run.results.get("unknown_method"))
    if version == "2.0":
        check_multicall(run.results.get("multicall"))
    # A notification: the library throws on any status but 200; the gateway answers
    # an empty 200, which it takes.
    assert run.results["notification"] == {"call": "notification", "result": None}
    exchanges = check_replies(wire, "application/json")
    check_keep_alive(wire, exchanges, kept=True)
    calls = [(x, json.loads(x.request.body)) for x in exchanges]
    notification = [x for x, call in calls if isinstance(call, dict) and call.get("id") is None]
    assert len(notification) == 1 and notification[0].response.body == b""
    first = json.loads(exchanges[0].request.body)
    assert ("jsonrpc" in first) == (version == "2.0")


def test_a_missing_library_fails_the_build_with_its_install_command():
    """On CI a client whose package is missing must fail, never skip."""
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y no-such-library-dev"):
        package_versions(("no-such-library-dev",))
