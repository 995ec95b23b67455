"""The method table: what is exposed, how it is looked up, and how arity is judged.

Unit tests (no sockets) pin the rules of gateway/methods.py: only public
callables by exact name, no ``_names`` and no dotted traversal; the arity check
runs before the call, so a TypeError raised *inside* a method is an internal
error with a reference, never "invalid params". End-to-end tests start real
gateways with ``--service`` to replace the calculator or namespace a service
beside it, and call them over both protocols.
"""

from __future__ import annotations

import http.client
import json
import logging
import types
import xmlrpc.client
from urllib.parse import urlsplit

import jsonrpclib
import pytest

from gateway import faults
from gateway.methods import MethodTable, public_callables
from handlers import Calculator
from handlers.errors import DivisionByZero


class Faulty:
    """A service with a bug and a private helper, loaded as tests.test_methods:Faulty."""

    def size(self, value: list) -> int:
        """Return len(value); an int makes len() raise TypeError inside the method."""
        return len(value)

    def keywords(self, a: int, *, scale: int = 1) -> int:
        """Return a * scale."""
        return a * scale

    def spread(self, *values: int) -> int:
        """Return the sum of any number of values."""
        return sum(values)

    def untyped(self, x, y=2):
        return x

    def _secret(self) -> str:
        return "never exposed"


def calculator_table(*extra: tuple[str, object]) -> MethodTable:
    return MethodTable([("", Calculator()), *extra])


# -- what is exposed ---------------------------------------------------------------------------

def test_only_public_methods_and_system_are_listed():
    names = calculator_table().names()
    assert names == ["add", "divide", "getpow", "hello", "listinfo", "multiply", "ping", "pow",
                     "rpc.discover", "streaming_range", "subtract", "system.getCapabilities",
                     "system.listMethods",
                     "system.methodHelp", "system.methodSignature", "system.multicall"]


@pytest.mark.parametrize("name", [
    "_check_bits", "_power", "__init__", "__class__", "__init__.__globals__",
    "add.__func__", "add.__globals__", "add.__self__", "add.__self__._max_int_bits",
    "system._table", "system.__init__", "system.listMethods.__self__", "system",
    "Add", " add", "add ", "add.", ".add", "",
])
def test_private_and_dotted_names_are_method_not_found(name):
    table = calculator_table()
    with pytest.raises(faults.MethodNotFound):
        table.call(name, [])


@pytest.mark.parametrize("name", [None, 1, ["add"], {"add": 1}], ids=repr)
def test_a_method_name_that_is_not_a_string_is_an_invalid_request(name):
    with pytest.raises(faults.InvalidRequest):
        calculator_table().lookup(name)


def test_prefixed_service_answers_as_prefix_dot_method():
    table = calculator_table(("faulty", Faulty()))
    assert table.call("faulty.spread", [1, 2, 3]) == 6
    assert table.call("add", [1, 2]) == 3
    with pytest.raises(faults.MethodNotFound):
        table.call("spread", [1])
    with pytest.raises(faults.MethodNotFound):
        table.call("faulty._secret", [])


def test_module_services_expose_only_their_own_public_functions():
    module = types.ModuleType("service_module")
    exec("from os.path import join\n"
         "class Helper: pass\n"
         "def visible(x):\n    return x\n"
         "def _hidden():\n    return 1\n", module.__dict__)
    assert [name for name, _ in public_callables(module)] == ["visible"]


def test_classes_and_attributes_are_not_methods():
    class Service:
        limit = 5
        Nested = Calculator

        def method(self) -> int:
            return 1

    assert [name for name, _ in public_callables(Service())] == ["method"]


# -- arity is checked before the call ----------------------------------------------------------

@pytest.mark.parametrize("name, params", [
    ("add", [1]), ("add", [1, 2, 3]), ("add", []), ("hello", []), ("pow", [1]),
    ("pow", [1, 2, 3, 4]), ("ping", []), ("add", {"a": 1}), ("add", {"a": 1, "b": 2, "c": 3}),
    ("subtract", {"x": 1, "y": 2}),
])
def test_wrong_arity_is_invalid_params(name, params):
    with pytest.raises(faults.InvalidParams) as error:
        calculator_table().call(name, params)
    assert error.value.code == -32602
    assert name in str(error.value)


def test_optional_and_variadic_and_keyword_only_parameters():
    table = calculator_table(("f", Faulty()))
    assert table.call("pow", [2, 3]) == 8 and table.call("pow", [2, 3, 5]) == 3
    assert table.call("f.spread", []) == 0 and table.call("f.spread", list(range(50))) == 1225
    assert table.call("f.keywords", {"a": 2, "scale": 3}) == 6
    assert table.call("f.keywords", [2]) == 2
    with pytest.raises(faults.InvalidParams):
        table.call("f.keywords", [2, 3])  # scale is keyword-only
    assert table.call("f.untyped", [1]) == 1


def test_a_type_error_inside_a_method_is_an_internal_error_not_invalid_params(caplog):
    table = calculator_table(("f", Faulty()))
    with pytest.raises(TypeError):  # the right number of params: the bug is inside
        table.call("f.size", [5])
    with caplog.at_level(logging.ERROR, logger="gateway.faults"):
        try:
            table.call("f.size", [5])
        except TypeError as error:
            code, message = faults.describe(error, "f.size")
    assert code == -32603
    assert message.startswith("internal error (ref ")
    assert "len()" not in message and "Traceback" not in message
    reference = message.split("ref ")[1].rstrip(")")
    assert reference in caplog.text and "TypeError" in caplog.text  # logged for the operator


def test_service_errors_keep_their_codes():
    table = calculator_table()
    with pytest.raises(DivisionByZero) as error:
        table.call("divide", [1, 0])
    assert faults.describe(error.value) == (-32000, "division by zero")


# -- introspection -----------------------------------------------------------------------------

def test_signatures_come_from_type_hints():
    table = calculator_table(("f", Faulty()))
    signature = lambda name: table.call("system.methodSignature", [name])  # noqa: E731
    assert signature("hello") == [["string", "string"]]
    assert signature("divide") == [["double", "double", "double"]]
    assert signature("f.size") == [["int", "array"]]
    assert signature("f.untyped") == [["any", "any"], ["any", "any", "any"]]
    assert signature("system.methodSignature") == [["array", "string"]]
    assert signature("system.getCapabilities") == [["struct"]]


def test_method_help_is_the_docstring():
    table = calculator_table(("f", Faulty()))
    assert table.call("system.methodHelp", ["subtract"]).startswith("Return |a - b|")
    assert table.call("system.methodHelp", ["f.untyped"]) == ""
    with pytest.raises(faults.MethodNotFound):
        table.call("system.methodHelp", ["f._secret"])


def test_multicall_entries_are_values_or_fault_structs():
    table = calculator_table()
    results = table.call("system.multicall", [[
        {"methodName": "add", "params": [1, 2]},
        {"methodName": "add", "params": [1]},
        {"methodName": "_power", "params": [1, 2, "x"]},
        {"methodName": "system.multicall", "params": [[]]},
        "not a struct",
        {"methodName": "ping", "params": "not an array"},
    ]])
    assert results[0] == [3]
    assert [entry["faultCode"] for entry in results[1:]] == [-32602, -32601, -32600, -32600,
                                                             -32602]
    assert all(set(entry) == {"faultCode", "faultString"} for entry in results[1:])


def test_multicall_is_bounded():
    table = MethodTable([("", Calculator())], max_calls=3)
    with pytest.raises(faults.InvalidRequest):
        table.call("system.multicall", [[{"methodName": "ping", "params": [1]}] * 4])


# -- --service, end to end ---------------------------------------------------------------------

def test_service_option_replaces_the_calculator(daemon):
    process = daemon("--service", "tests.support.services:Slow")
    xml_proxy = xmlrpc.client.ServerProxy(process.url)
    json_proxy = jsonrpclib.ServerProxy(process.url)
    names = xml_proxy.system.listMethods()
    assert {"echo", "sleep"} <= set(names) and "add" not in names
    assert xml_proxy.echo("x") == json_proxy.echo("x") == "x"
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xml_proxy.add(1, 2)
    assert fault.value.faultCode == -32601


def test_prefixed_service_options_add_namespaces_beside_the_calculator(daemon):
    process = daemon("--service", "slow=tests.support.services:Slow",
                     "--service", "count=tests.support.services:Counting")
    xml_proxy = xmlrpc.client.ServerProxy(process.url)
    json_proxy = jsonrpclib.ServerProxy(process.url)
    assert xml_proxy.add(1, 2) == json_proxy.add(1, 2) == 3
    assert getattr(xml_proxy, "slow.echo")("a") == json_proxy.slow.echo("a") == "a"
    assert json_proxy.count.whoami() == process.process.pid
    names = json_proxy.system.listMethods()
    assert {"slow.echo", "slow.sleep", "count.record", "count.whoami"} <= set(names)
    for hidden in ("echo", "slow._lock", "count._lock", "count.__init__"):
        with pytest.raises(jsonrpclib.ProtocolError) as error:
            getattr(json_proxy, hidden)()
        assert error.value.args[0][0] == -32601


@pytest.mark.parametrize("name", ["_check_bits", "__init__.__globals__", "add.__func__",
                                  "add.__self__._max_int_bits", "system._table", "__class__"])
def test_private_and_dotted_names_are_not_found_over_both_protocols(url, name):
    # Raw bodies: the client libraries themselves refuse some of these names.
    parts = urlsplit(url)
    xml_body = xmlrpc.client.dumps((1, 2), methodname=name).encode()
    json_body = json.dumps({"jsonrpc": "2.0", "method": name, "params": [1, 2], "id": 1})
    for body, content_type in ((xml_body, "text/xml"), (json_body.encode(), "application/json")):
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            connection.request("POST", "/", body=body, headers={"Content-Type": content_type})
            reply = connection.getresponse().read()
        finally:
            connection.close()
        if content_type == "text/xml":
            with pytest.raises(xmlrpc.client.Fault) as fault:
                xmlrpc.client.loads(reply)
            assert fault.value.faultCode == -32601
        else:
            assert json.loads(reply)["error"]["code"] == -32601


def test_internal_error_reaches_the_client_as_a_reference_only(make_gateway):
    server = make_gateway(service__services=["tests.test_methods:Faulty"])
    host, port = server.server_address[:2]
    url = f"http://{host}:{port}"
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc.client.ServerProxy(url).size(5)
    assert fault.value.faultCode == -32603
    assert fault.value.faultString.startswith("internal error (ref ")
    with pytest.raises(jsonrpclib.ProtocolError) as error:
        jsonrpclib.ServerProxy(url).size(5)
    code, message = error.value.args[0]
    assert code == -32603 and "len()" not in message and ".py" not in message
    # Wrong arity on the same method is the caller's fault: -32602.
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc.client.ServerProxy(url).size(5, 6)
    assert fault.value.faultCode == -32602
