"""The hostile catalogue without sockets: RequestReader + Router fed bytes in memory.

The same cases and expectations as ``tests/test_hostile.py`` (which sends them
over real sockets), here answered by the I/O-free layers alone, the way
CPython's test_xmlrpc checks its dispatcher before it opens a socket. A case
that passes here but fails on a socket points at the loop; one that fails here
points at the reader, the router or a protocol module.
"""

from __future__ import annotations

import pytest

from gateway.http import HTTPError, Request
from gateway.routing import GET_ADD, GET_CALL, HEALTH, INDEX, JSONRPC, PREFLIGHT, XMLRPC, route
from tests.hostile.cases import CATALOGUE
from tests.hostile.catalogue import Case, Target
from tests.hostile.checks import assert_no_leak
from tests.hostile.memory import MemoryGateway
from tests.test_hostile import CONFIGURATIONS


@pytest.fixture(scope="module")
def gateways():
    started: dict[str, MemoryGateway] = {}
    yield lambda name: started.setdefault(name, MemoryGateway(**CONFIGURATIONS[name]))
    for gateway in started.values():
        gateway.close()


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda case: case.name)
def test_hostile_request_in_memory(case: Case, gateways, tmp_path):
    gateway = gateways(case.gateway)
    target = Target(gateway.config.limits, "http://127.0.0.1:9/unused", str(tmp_path / "x"))
    reply = gateway.exchange(case.build(target))
    case.expect.verify(reply, target)
    assert_no_leak(reply)


def head(method: str, target: str, **headers: str) -> Request:
    return Request(method, target, "HTTP/1.1", {k.replace("_", "-"): v
                                                for k, v in headers.items()})


@pytest.mark.parametrize("method, target, headers, body, endpoint", [
    ("GET", "/healthz", {}, b"", HEALTH),
    ("HEAD", "/healthz/", {}, b"", HEALTH),
    ("OPTIONS", "/RPC2", {}, b"", PREFLIGHT),
    ("GET", "/", {}, b"", INDEX),
    ("GET", "/?a=1&b=2", {}, b"", GET_ADD),
    ("GET", "/jsonrpc?method=add&params=[1,2]", {}, b"", GET_CALL),
    ("POST", "/RPC2", {"content_type": "TEXT/XML; charset=utf-8"}, b"{", XMLRPC),
    ("POST", "/", {"content_type": "application/json-rpc"}, b"<", JSONRPC),
    ("POST", "/xmlrpc/", {"content_type": "text/plain"}, b"\xef\xbb\xbf \r\n<?xml", XMLRPC),
    ("POST", "/jsonrpc", {}, b"\t[{}]", JSONRPC),
])
def test_route_is_a_function_of_the_request(method, target, headers, body, endpoint):
    request = head(method, target, **headers)
    request.body = body
    assert route(request, 1 << 20).endpoint == endpoint


@pytest.mark.parametrize("method, target, body, status", [
    ("GET", "/etc/passwd", b"", 404),
    ("POST", "/RPC3", b"<", 404),
    ("DELETE", "/RPC2", b"", 405),
    ("POST", "/RPC2", b"hello", 415),
    ("POST", "/RPC2", b"", 415),
])
def test_route_refuses_with_a_status(method, target, body, status):
    request = head(method, target)
    request.body = body
    with pytest.raises(HTTPError) as refused:
        route(request, 1 << 20)
    assert refused.value.status == status
