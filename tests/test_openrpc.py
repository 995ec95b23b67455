"""rpc.discover: an OpenRPC document from the method table, valid against the OpenRPC
meta-schema (npm @open-rpc/meta-schema, checked with ajv), and the same model that
system.methodSignature and the front page read."""

from __future__ import annotations

import json
import shutil
import subprocess
import xmlrpc.client
from pathlib import Path

import jsonrpclib
import pytest

from gateway.methods import MethodTable
from gateway.openrpc import base_urls, type_of
from handlers.calculator import Calculator

CHECKER = Path(__file__).parent / "openrpc"


def discover(url: str) -> dict:
    return getattr(jsonrpclib.ServerProxy(url + "/jsonrpc"), "rpc.discover")()


def validate(document: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    assert node, "node is not installed; tests/run.sh installs nodejs"
    assert (CHECKER / "node_modules" / "@open-rpc" / "meta-schema").is_dir(), \
        "run `npm install` in tests/openrpc (tests/run.sh does)"
    path = tmp_path / "openrpc.json"
    path.write_text(json.dumps(document))
    return subprocess.run([node, str(CHECKER / "validate.js"), str(path)], capture_output=True,
                          text=True, timeout=60)


def test_the_document_validates_against_the_openrpc_meta_schema(url, tmp_path):
    document = discover(url)
    result = validate(document, tmp_path)
    assert result.returncode == 0, result.stderr
    broken = {**document, "methods": [{**document["methods"][0], "params": [{"schema": {}}]}]}
    assert validate(broken, tmp_path).returncode == 1  # the check can fail: no param name


def test_methods_params_results_docs_and_errors_come_from_the_table(url):
    document = discover(url)
    methods = {m["name"]: m for m in document["methods"]}
    assert "rpc.discover" not in methods  # the spec: the discovery method is not listed
    assert set(methods) == set(xmlrpc.client.ServerProxy(url).system.listMethods()) - {
        "rpc.discover"}
    add = methods["add"]
    assert [(p["name"], p["schema"], p["required"]) for p in add["params"]] == [
        ("a", {"type": "number"}, True), ("b", {"type": "number"}, True)]
    assert add["result"]["schema"] == {"type": "number"}
    assert add["summary"] == "Return a + b."
    pow_z = methods["pow"]["params"][2]
    assert (pow_z["schema"], pow_z["required"]) == ({"type": ["integer", "null"]}, False)
    assert methods["hello"]["params"][0]["schema"] == {"type": "string"}
    assert methods["ping"]["params"][0]["schema"] == {}  # Any: every value
    assert methods["system.listMethods"]["result"]["schema"] == {
        "type": "array", "items": {"type": "string"}}
    codes = {e["code"] for e in methods["divide"]["errors"]}
    assert {-32602, -32000} <= codes


def test_servers_name_both_protocols_on_this_gateway(gateway, url):
    servers = discover(url)["servers"]
    port = gateway.server_address[1]
    assert {s["url"] for s in servers} == {f"http://127.0.0.1:{port}/jsonrpc",
                                           f"http://127.0.0.1:{port}/RPC2"}
    assert base_urls(["0.0.0.0:80", "unix:/run/x.sock", "[::1]:8443"], tls=True)[1] == \
        "https://[::1]:8443"


def test_xmlrpc_clients_can_discover_too(url):
    document = xmlrpc.client.ServerProxy(url).rpc.discover()
    assert document["openrpc"].startswith("1.")


def test_method_signature_reads_the_same_model():
    table = MethodTable([("", Calculator())])
    to_xml = {"integer": "int", "number": "double", "string": "string", "boolean": "boolean",
              "array": "array", "object": "struct"}
    for name in table.names():
        model = table.lookup(name).model
        signatures = table.call("system.methodSignature", [name])
        longest = max(signatures, key=len)
        described = [model.openrpc()["result"], *model.openrpc()["params"]]
        for xml_type, descriptor in zip(longest, described):
            kind = descriptor["schema"].get("type", "any")
            kind = kind[0] if isinstance(kind, list) else kind
            assert xml_type == to_xml.get(kind, "any"), (name, longest, described)


@pytest.mark.parametrize("hint, schema, xml", [
    (int, {"type": "integer"}, "int"),
    (int | float, {"type": "number"}, "double"),
    (int | None, {"type": ["integer", "null"]}, "int"),
    (bytes, {"type": "string", "contentEncoding": "base64"}, "base64"),
    (list[int], {"type": "array", "items": {"type": "integer"}}, "array"),
    (dict[str, int], {"type": "object"}, "struct"),
    (int | str, {"type": ["integer", "string"]}, "any"),
])
def test_type_hints_become_json_schema_and_xmlrpc_names(hint, schema, xml):
    assert type_of(hint) == (schema, xml)
