"""Every client snippet of the reference notes, run against a real gateway.

The notes (shared/reference/rpc-notes.md) are the spec of what existing
callers do: each snippet below is copied from them with only the address
changed, and must keep working. Servers in the notes registered different
subsets of methods on different ports; the gateway serves their union on one.
"""

import json
import urllib.request
import xmlrpc.client
from xmlrpc import client

import jsonrpclib
import requests


def test_xmlrpc_snippet_calculate_class(url):
    # from xmlrpc import client; server = client.ServerProxy("http://localhost:8088")
    server = client.ServerProxy(url)
    assert server.add(2, 3) == 5
    # The rest of the notes' `calculate` class, with its legacy semantics.
    assert server.multiply(4, 5) == 20
    assert server.subtract(2, 7) == 5  # abs(x - y): never negative
    assert server.divide(7, 2) == 3.5


def test_jsonrpclib_snippet_add_pow_ping(url):
    # server = jsonrpclib.ServerProxy('http://localhost:8081'); print(server.add(5,6))
    server = jsonrpclib.ServerProxy(url)
    assert server.add(5, 6) == 11
    # The notes' servers also registered the builtin pow and a lambda ping.
    assert server.pow(2, 10) == 1024
    assert server.pow(3, 4, 5) == 3 ** 4 % 5
    assert server.ping("pong") == "pong"
    assert server.ping({"nested": [1, 2.5, None, True]}) == {"nested": [1, 2.5, None, True]}


def test_requests_client_class_posts_jsonrpc_2(url):
    # The notes' requests-based Client, verbatim but for the address.
    class Client:
        def __init__(self, url):
            self.url = url

        def add(self, a, b):
            payload = {
                "method": "add",
                "params": [a, b],
                "jsonrpc": "2.0",
                "id": 0,
            }
            response = requests.post(self.url, json=payload, timeout=10).json()
            print(response)
            return response["result"]

    cli = Client(f"{url}/jsonrpc")
    assert cli.add(1, 2) == 3
    raw = requests.post(f"{url}/jsonrpc", timeout=10, json={
        "method": "add", "params": [1, 2], "jsonrpc": "2.0", "id": 0}).json()
    assert raw == {"jsonrpc": "2.0", "result": 3, "id": 0}  # id 0 echoed, not dropped


def test_http_server_get_example(url):
    # The notes' http.server example: GET /?a=1&b=2 answers {"result": 3}.
    with urllib.request.urlopen(f"{url}/?a=1&b=2", timeout=10) as response:
        assert response.status == 200
        assert response.headers.get_content_type() == "application/json"
        assert json.loads(response.read()) == {"result": 3}


def test_http_server_get_example_defaults_missing_operands_to_zero(url):
    # qs.get("a", 0): a missing operand counts as 0, as in the example handler.
    with urllib.request.urlopen(f"{url}/?b=7", timeout=10) as response:
        assert json.loads(response.read()) == {"result": 7}


def test_zerorpc_style_methods_over_xmlrpc(url):
    # c.hello("RPC"), c.listinfo("this is test string"), c.getpow(2,5)
    c = xmlrpc.client.ServerProxy(url)
    assert c.hello("RPC") == "Hello, RPC"
    assert c.listinfo("this is test string") == "get info : this is test string"
    assert c.getpow(2, 5) == 32


def test_zerorpc_style_methods_over_jsonrpc(url):
    c = jsonrpclib.ServerProxy(url)
    assert c.hello("RPC") == "Hello, RPC"
    assert c.listinfo("this is test string") == "get info : this is test string"
    assert c.getpow(2, 5) == 32


def test_both_notes_clients_reach_one_instance_on_one_port(gateway, url):
    # The notes ran XML-RPC on 8088 and JSON-RPC on 8081; here both share one port.
    assert client.ServerProxy(url).add(2, 3) == jsonrpclib.ServerProxy(url).add(2, 3)
    assert gateway.xml_server.instance is gateway.json_server.instance
