"""Bridging supervisor's XML-RPC (Unix socket and TCP) and the notes' zerorpc servers,
called through the gateway by jsonrpclib and xmlrpc.client. Real processes, real clients."""

from __future__ import annotations

import json
import time
import urllib.request
import xmlrpc.client

import jsonrpclib
import pytest

from tests.support.upstreams import supervisord, zerorpc_ipc_server, zerorpc_server


def address(server) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


@pytest.fixture
def supervisor(tmp_path):
    upstream, port, sock = supervisord(tmp_path)
    yield port, sock
    upstream.stop()


@pytest.fixture
def zerorpc_servers(tmp_path):
    """The notes' three servers, each its own process: {class name: (process, port)}."""
    started = {name: zerorpc_server(tmp_path, name)
               for name in ("HelloRPC", "StreamingRPC", "myRPC")}
    yield started
    for upstream, _ in started.values():
        upstream.stop()


def zerorpc_gateway(make_gateway, servers, options: str = ""):
    return make_gateway(service__services=["handlers.calculator:Calculator"] + [
        f"{name.lower()}=zerorpc+tcp://127.0.0.1:{port}{options}"
        for name, (_, port) in servers.items()])


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_jsonrpclib_calls_supervisor(make_gateway, supervisor, transport):
    port, sock = supervisor
    url = (f"xmlrpc+unix://{sock}:/RPC2" if transport == "unix"
           else f"xmlrpc+http://127.0.0.1:{port}/RPC2")
    server = make_gateway(service__services=[f"sup={url}"])
    client = jsonrpclib.ServerProxy(address(server) + "/")
    assert client.sup.supervisor.getState() == {"statecode": 1, "statename": "RUNNING"}
    deadline = time.monotonic() + 10
    while client.sup.supervisor.getProcessInfo("sleeper")["statename"] != "RUNNING":
        assert time.monotonic() < deadline, "supervisor never started its program"
        time.sleep(0.2)
    with pytest.raises(jsonrpclib.ProtocolError) as error:
        client.sup.supervisor.getProcessInfo("no-such-program")
    assert error.value.args[0][:2] == (10, "BAD_NAME: no-such-program")  # its own fault
    answers = client.sup.system.multicall([
        {"methodName": "supervisor.getAPIVersion", "params": []},
        {"methodName": "supervisor.getProcessInfo", "params": ["nope"]}])
    # supervisor's own multicall answers bare values (not [value]): passed on as it is
    assert answers[0] == "3.0" and answers[1]["faultCode"] == 10


def test_integers_beyond_64_bits_never_reach_an_xml_rpc_upstream(make_gateway, supervisor):
    _, sock = supervisor
    server = make_gateway(service__services=[f"sup=xmlrpc+unix://{sock}:/RPC2"])
    body = json.dumps({"jsonrpc": "2.0", "method": "sup.supervisor.readLog",
                       "params": [2**70, 10], "id": 1}).encode()
    request = urllib.request.Request(address(server) + "/", body,
                                     {"Content-Type": "application/json"})
    answer = json.loads(urllib.request.urlopen(request, timeout=15).read())
    assert answer["error"]["code"] == -32602
    assert "beyond 64 bits" in answer["error"]["message"]
    client = jsonrpclib.ServerProxy(address(server) + "/")
    assert isinstance(client.sup.supervisor.readLog(2**40, 10), str)  # sent as <i8>: accepted


def test_xmlrpc_and_jsonrpclib_call_the_notes_zerorpc_servers(make_gateway, zerorpc_servers):
    server = zerorpc_gateway(make_gateway, zerorpc_servers)
    xml = xmlrpc.client.ServerProxy(address(server))
    js = jsonrpclib.ServerProxy(address(server) + "/")
    assert xml.hellorpc.hello("RPC") == "Hello, RPC"
    assert js.hellorpc.hello("RPC") == "Hello, RPC"
    assert xml.myrpc.listinfo("this is test string") == "get info : this is test string"
    assert js.myrpc.getpow(2, 5) == 32
    assert xml.streamingrpc.streaming_range(10, 20, 2) == [10, 12, 14, 16, 18]
    assert js.streamingrpc.streaming_range(10, 20, 2) == [10, 12, 14, 16, 18]
    assert len(js.streamingrpc.streaming_range(0, 5000, 1)) == 5000  # flow control grants
    assert js.myrpc.getpow(2, 63) == 2**63  # msgpack uint64, exact over JSON


def test_zerorpc_errors_binary_and_limits(make_gateway, zerorpc_servers):
    server = zerorpc_gateway(make_gateway, zerorpc_servers, "#max_items=100")
    xml = xmlrpc.client.ServerProxy(address(server))
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xml.myrpc.getpow(3, 50)  # the upstream cannot pack it: its ERR, name and message
    assert (fault.value.faultCode, fault.value.faultString) == (
        -32000, "OverflowError: Integer value out of range")
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xml.myrpc.getpow(1)
    assert fault.value.faultString.startswith("TypeError: ") and "File " not in \
        fault.value.faultString  # no traceback, no upstream paths
    assert xml.hellorpc.hello(xmlrpc.client.Binary(b"\x00\xff")) == "Hello, b'\\x00\\xff'"
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xml.streamingrpc.streaming_range(0, 1000, 1)
    assert fault.value.faultCode == -32602 and "max_items (100)" in fault.value.faultString
    assert xml.streamingrpc.streaming_range(0, 100, 1) == list(range(100))
    js = jsonrpclib.ServerProxy(address(server) + "/")
    with pytest.raises(jsonrpclib.ProtocolError) as error:
        js.myrpc.getpow(n=2, m=3)
    assert error.value.args[0][0] == -32602 and "named parameters" in error.value.args[0][1]


def test_zerorpc_big_integer_params_are_refused_before_sending(make_gateway, zerorpc_servers):
    server = zerorpc_gateway(make_gateway, zerorpc_servers)
    body = json.dumps({"jsonrpc": "2.0", "method": "myrpc.getpow", "params": [2**64, 1],
                       "id": 7}).encode()
    request = urllib.request.Request(address(server) + "/", body,
                                     {"Content-Type": "application/json"})
    answer = json.loads(urllib.request.urlopen(request, timeout=15).read())
    assert answer["error"]["code"] == -32602 and "beyond 64 bits" in answer["error"]["message"]


def test_a_killed_zerorpc_upstream_fails_fast_then_recovers(make_gateway, zerorpc_servers):
    upstream, _ = zerorpc_servers["HelloRPC"]
    server = zerorpc_gateway(make_gateway, {"HelloRPC": zerorpc_servers["HelloRPC"]},
                             "#connect_timeout=0.3&failures=2&reset=0.5")
    xml = xmlrpc.client.ServerProxy(address(server))
    assert xml.hellorpc.hello("a") == "Hello, a"
    upstream.kill()
    time.sleep(0.2)  # let ZeroMQ see the connection go
    for _ in range(3):
        start = time.monotonic()
        with pytest.raises(xmlrpc.client.Fault) as fault:
            xml.hellorpc.hello("b")
        assert fault.value.faultCode == -32000
        assert time.monotonic() - start < 3
    assert "circuit open" in fault.value.faultString
    assert xml.add(1, 2) == 3
    upstream.restart()
    deadline = time.monotonic() + 10
    while True:  # ZeroMQ reconnects on its own; the circuit lets a trial through
        try:
            assert xml.hellorpc.hello("c") == "Hello, c"
            break
        except xmlrpc.client.Fault:
            assert time.monotonic() < deadline, "no recovery after the upstream came back"
            time.sleep(0.3)


def test_a_hung_zerorpc_upstream_times_out(make_gateway, zerorpc_servers):
    upstream, _ = zerorpc_servers["myRPC"]
    server = zerorpc_gateway(make_gateway, {"myRPC": zerorpc_servers["myRPC"]},
                             "#timeout=1&failures=5")
    xml = xmlrpc.client.ServerProxy(address(server))
    assert xml.myrpc.getpow(2, 3) == 8
    upstream.pause()
    try:
        start = time.monotonic()
        with pytest.raises(xmlrpc.client.Fault) as fault:
            xml.myrpc.getpow(2, 4)
        assert fault.value.faultCode == -32001
        assert time.monotonic() - start < 5
        assert xml.add(1, 1) == 2
    finally:
        upstream.resume()
    assert xml.myrpc.getpow(2, 5) == 32
    health = json.loads(urllib.request.urlopen(address(server) + "/healthz").read())
    assert health["upstreams"]["myrpc"]["in_flight"] == 0


def test_a_zerorpc_upstream_over_ipc(make_gateway, tmp_path):
    upstream, path = zerorpc_ipc_server(tmp_path, "HelloRPC")
    try:
        server = make_gateway(service__services=[f"h=zerorpc+ipc://{path}"])
        assert xmlrpc.client.ServerProxy(address(server)).h.hello("ipc") == "Hello, ipc"
    finally:
        upstream.stop()
