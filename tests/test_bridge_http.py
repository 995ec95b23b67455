"""Bridging HTTP upstreams: aria2 (JSON-RPC and XML-RPC) and a jsonrpclib PooledJSONRPCServer,
called through the gateway by clients of the other protocol. Real processes, real clients."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import xmlrpc.client

import jsonrpclib
import pytest

from tests.support.upstreams import ROOT, aria2, jsonrpclib_server

# A minimal single-file torrent (bencoded), to send as binary data.
TORRENT = (b"d4:infod6:lengthi5e4:name5:a.txt12:piece lengthi16384e"
           b"6:pieces20:" + b"\x01" * 20 + b"ee")


def addresses(server) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def raw_json(url: str, payload: object) -> object:
    """A JSON-RPC call with the stdlib (jsonrpclib's own encoder stops at 64-bit ints)."""
    request = urllib.request.Request(url + "/", json.dumps(payload).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=15) as answer:
        return json.loads(answer.read())


@pytest.fixture
def aria(tmp_path):
    upstream, port = aria2(tmp_path)
    yield upstream, port
    upstream.stop()


@pytest.fixture
def pooled(tmp_path):
    upstream, port = jsonrpclib_server(tmp_path)
    yield upstream, port
    upstream.stop()


def test_xmlrpc_client_calls_aria2_json_rpc(make_gateway, aria):
    _, port = aria
    server = make_gateway(service__services=[
        "handlers.calculator:Calculator", f"aria=jsonrpc+http://127.0.0.1:{port}/jsonrpc"])
    client = xmlrpc.client.ServerProxy(addresses(server))
    names = client.system.listMethods()
    assert "aria.aria2.getVersion" in names and "add" in names  # one table, both services
    assert client.aria.aria2.getVersion()["version"].startswith("1.")
    assert client.add(2, 3) == 5
    with pytest.raises(xmlrpc.client.Fault) as fault:
        client.aria.aria2.tellStatus("0000000000000000")
    assert fault.value.faultCode == 1 and "GID" in fault.value.faultString  # aria2's own error


def test_binary_to_a_json_upstream_is_refused_unless_base64_is_asked_for(make_gateway, aria):
    _, port = aria
    url = f"jsonrpc+http://127.0.0.1:{port}/jsonrpc"
    server = make_gateway(service__services=[f"plain={url}", f"b64={url}#binary=base64"])
    client = xmlrpc.client.ServerProxy(addresses(server))
    with pytest.raises(xmlrpc.client.Fault) as fault:
        client.plain.aria2.addTorrent(xmlrpc.client.Binary(TORRENT))
    assert fault.value.faultCode == -32602
    assert "binary data, which JSON has no type for" in fault.value.faultString
    gid = client.b64.aria2.addTorrent(xmlrpc.client.Binary(TORRENT), [], {"pause": "true"})
    status = client.b64.aria2.tellStatus(gid, ["gid", "bittorrent"])
    assert status["gid"] == gid
    assert status["bittorrent"]["info"]["name"] == "a.txt"  # aria2 decoded what we sent


def test_multicall_to_a_json_upstream_goes_as_one_batch(make_gateway, aria):
    _, port = aria
    server = make_gateway(service__services=[f"aria=jsonrpc+http://127.0.0.1:{port}/jsonrpc"])
    client = xmlrpc.client.ServerProxy(addresses(server))
    answers = client.aria.system.multicall([
        {"methodName": "aria2.getGlobalStat", "params": []},
        {"methodName": "aria2.tellStatus", "params": ["0000000000000000"]}])
    assert "numActive" in answers[0][0]
    assert answers[1]["faultCode"] == 1 and "GID" in answers[1]["faultString"]
    health = json.loads(urllib.request.urlopen(addresses(server) + "/healthz").read())
    assert health["upstreams"]["aria"]["calls"] == 2  # discovery + ONE batch request


def test_jsonrpclib_client_calls_aria2_xml_rpc(make_gateway, aria):
    _, port = aria
    server = make_gateway(service__services=[f"ax=xmlrpc+http://127.0.0.1:{port}/rpc"])
    client = jsonrpclib.ServerProxy(addresses(server) + "/")
    assert "numWaiting" in client.ax.aria2.getGlobalStat()
    with pytest.raises(jsonrpclib.ProtocolError) as error:
        client.ax.aria2.tellStatus("0000000000000000")
    assert error.value.args[0][0] == 1
    with pytest.raises(jsonrpclib.ProtocolError) as error:
        client.ax.aria2.tellStatus(gid="0000000000000000")
    assert error.value.args[0][0] == -32602 and "named parameters" in error.value.args[0][1]


def test_big_integers_cross_where_they_fit_and_are_refused_where_not(make_gateway, pooled):
    _, port = pooled
    server = make_gateway(service__services=[f"j=jsonrpc+http://127.0.0.1:{port}/",
                                             f"x=jsonrpc+http://127.0.0.1:{port}/"])
    url = addresses(server)
    xml = xmlrpc.client.ServerProxy(url)
    assert xml.j.power(2, 40) == 2**40  # <i8> to the XML-RPC client
    assert jsonrpclib.ServerProxy(url + "/").j.power(2, 63) == 2**63  # exact over JSON
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xml.j.power(2, 63)
    assert fault.value.faultCode == -32602 and "beyond 64 bits" in fault.value.faultString
    answer = raw_json(url, {"jsonrpc": "2.0", "method": "j.echo", "params": [2**100], "id": 1})
    assert answer["result"] == 2**100 or answer["error"]["code"] == -32603  # the upstream's say


def test_named_params_and_notifications_reach_a_json_upstream(make_gateway, pooled):
    _, port = pooled
    server = make_gateway(service__services=[f"j=jsonrpc+http://127.0.0.1:{port}/"])
    client = jsonrpclib.ServerProxy(addresses(server) + "/")
    assert client.j.keyed(b=1, a=2) == ["a", "b"]
    answer = raw_json(addresses(server), [
        {"jsonrpc": "2.0", "method": "j.add", "params": [1, 2], "id": 1},
        {"jsonrpc": "2.0", "method": "j.add", "params": [3, 4]}])  # a notification: no answer
    assert answer == [{"jsonrpc": "2.0", "result": 3, "id": 1}]
    xml = xmlrpc.client.ServerProxy(addresses(server))  # jsonrpclib lists no multicall: ours
    assert xml.j.system.multicall([{"methodName": "add", "params": [1, 1]},
                                   {"methodName": "fail", "params": ["no"]}])[0] == [2]


def _calculator_and_j(make_gateway, port: int, options: str):
    """A gateway serving the calculator and the pooled upstream as "j", and an XML-RPC client."""
    server = make_gateway(service__services=[
        "handlers.calculator:Calculator", f"j=jsonrpc+http://127.0.0.1:{port}/#{options}"])
    return server, xmlrpc.client.ServerProxy(addresses(server))


def test_a_killed_upstream_fails_fast_then_recovers(make_gateway, pooled):
    upstream, port = pooled
    server, client = _calculator_and_j(make_gateway, port, "failures=2&reset=0.5&retries=1")
    assert client.j.add(1, 2) == 3
    upstream.kill()
    for _ in range(4):
        start = time.monotonic()
        with pytest.raises(xmlrpc.client.Fault) as fault:
            client.j.add(1, 2)
        assert fault.value.faultCode == -32000
        assert fault.value.faultString.startswith("upstream unavailable")
        assert time.monotonic() - start < 2.0  # refused or circuit open: no waiting
    assert "circuit open" in fault.value.faultString
    assert client.add(1, 1) == 2  # the gateway serves everyone else
    upstream.restart()
    time.sleep(0.6)  # past reset: the next call is the trial
    assert client.j.add(2, 2) == 4
    health = json.loads(urllib.request.urlopen(addresses(server) + "/healthz").read())
    assert health["upstreams"]["j"]["circuit"] == "closed"


def test_metrics_count_each_upstreams_calls_failures_refusals_and_circuit(make_gateway, pooled):
    """The guard's figures in /metrics under the upstream's /healthz name, prefix "j"."""
    from tests.support.scrape import scrape
    upstream, port = pooled
    server, client = _calculator_and_j(make_gateway, port, "failures=2&reset=0.5&retries=0")

    def figures() -> dict[str, float]:
        samples = scrape(addresses(server))
        return {name.removeprefix("rpc_gateway_upstream_"): value
                for (name, labels), value in samples.items()
                if name.startswith("rpc_gateway_upstream_") and labels == (("upstream", "j"),)}

    start = figures()  # the method list was read at start: one call
    assert start["calls_total"] == 1 and start["seconds_total"] > 0
    assert {k: v for k, v in start.items() if k not in ("calls_total", "seconds_total")} == {
        "failures_total": 0, "refused_total": 0, "in_flight": 0, "circuit_open": 0}
    for _ in range(3):
        assert client.j.add(1, 2) == 3
    with pytest.raises(xmlrpc.client.Fault):
        client.j.fail("no")  # a fault: a healthy upstream saying no, not a failure
    upstream.kill()
    for _ in range(3):  # two failures open the circuit, the third call is refused
        with pytest.raises(xmlrpc.client.Fault):
            client.j.add(1, 2)
    seen = figures()
    assert {k: v for k, v in seen.items() if k != "seconds_total"} == {
        "calls_total": 7, "failures_total": 2, "refused_total": 1, "in_flight": 0,
        "circuit_open": 1}
    assert start["seconds_total"] < seen["seconds_total"] < 10
    upstream.restart()
    time.sleep(0.6)  # past reset: the trial closes the circuit
    assert client.j.add(2, 2) == 4
    assert figures()["circuit_open"] == 0


def test_a_hung_upstream_times_out_and_holds_nothing(make_gateway, pooled):
    upstream, port = pooled
    server, client = _calculator_and_j(make_gateway, port, "timeout=1&failures=2&reset=0.5")
    assert client.j.add(1, 2) == 3
    upstream.pause()
    try:
        for _ in range(2):
            start = time.monotonic()
            with pytest.raises(xmlrpc.client.Fault) as fault:
                client.j.add(1, 2)
            assert fault.value.faultCode == -32001 and "timed out" in fault.value.faultString
            assert time.monotonic() - start < 5
        with pytest.raises(xmlrpc.client.Fault) as fault:
            client.j.add(1, 2)
        assert fault.value.faultCode == -32000 and "circuit open" in fault.value.faultString
        assert client.add(2, 2) == 4
    finally:
        upstream.resume()
    time.sleep(0.6)
    assert client.j.add(3, 4) == 7
    health = json.loads(urllib.request.urlopen(addresses(server) + "/healthz").read())
    assert health["upstreams"]["j"]["in_flight"] == 0


def test_a_slow_call_past_the_timeout_is_a_timeout_not_a_hang(make_gateway, pooled):
    _, port = pooled
    server = make_gateway(service__services=[f"j=jsonrpc+http://127.0.0.1:{port}/#timeout=0.5"])
    client = xmlrpc.client.ServerProxy(addresses(server))
    assert client.j.sleep(0.1) == 0.1
    with pytest.raises(xmlrpc.client.Fault) as fault:
        client.j.sleep(3)
    assert fault.value.faultCode == -32001
    assert client.j.add(1, 1) == 2  # a fresh connection; the timed-out one was dropped


def test_sighup_rereads_the_method_list(make_gateway, pooled):
    upstream, port = pooled
    server = make_gateway(service__services=[f"j=jsonrpc+http://127.0.0.1:{port}/"])
    client = xmlrpc.client.ServerProxy(addresses(server))
    assert "j.renamed" not in client.system.listMethods()
    upstream.args.append("renamed")  # the restarted upstream serves one more method
    upstream.restart()
    server.apply(server.config)  # what SIGHUP runs
    assert "j.renamed" in client.system.listMethods()
    assert client.j.renamed("x") == "x"


def test_methods_from_the_config_when_the_upstream_lists_none(make_gateway, pooled):
    _, port = pooled
    server = make_gateway(service__services=[f"j=jsonrpc+http://127.0.0.1:{port}/#methods=add"])
    client = xmlrpc.client.ServerProxy(addresses(server))
    assert [n for n in client.system.listMethods() if n.startswith("j.")] == [
        "j.add", "j.system.multicall"]  # the batch translation is always there
    assert client.j.add(20, 22) == 42


def test_the_daemon_bridges_and_rereads_the_methods_on_sighup(daemon, pooled):
    upstream, port = pooled
    gateway = daemon("--service", f"j=jsonrpc+http://127.0.0.1:{port}/")
    client = xmlrpc.client.ServerProxy(gateway.url)
    assert client.j.add(1, 2) == 3 and client.add(1, 2) == 3
    upstream.args.append("later")
    upstream.restart()
    gateway.signal(signal.SIGHUP)
    deadline = time.monotonic() + 15
    while "j.later" not in client.system.listMethods():
        assert time.monotonic() < deadline, "SIGHUP did not re-read the upstream's methods"
        time.sleep(0.2)
    assert client.j.later([1, "x"]) == [1, "x"]


def test_check_config_names_an_unreadable_secret(tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text('[service]\nservices = ["x=xmlrpc+https://gw@127.0.0.1:1/RPC2'
                      f'#password_file={tmp_path}/missing"]\n')
    done = subprocess.run([sys.executable, "-m", "gateway", "--check-config", "--config",
                           str(config)], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)
    assert done.returncode == 1
    assert "[service] services" in done.stderr and "cannot read the secret file" in done.stderr
    assert "Traceback" not in done.stderr


def test_get_calls_reach_the_upstream_too(make_gateway, pooled):
    _, port = pooled
    server = make_gateway(service__services=[f"j=jsonrpc+http://127.0.0.1:{port}/"])
    url = addresses(server) + "/jsonrpc?method=j.add&params=[40,2]&id=1"
    assert json.loads(urllib.request.urlopen(url, timeout=15).read())["result"] == 42


def test_calls_beyond_max_in_flight_are_refused_not_queued_forever(make_gateway, pooled):
    _, port = pooled
    server = make_gateway(service__services=[
        f"j=jsonrpc+http://127.0.0.1:{port}/#max_in_flight=1&connect_timeout=0.2"])
    slow = threading.Thread(target=lambda: xmlrpc.client.ServerProxy(
        addresses(server)).j.sleep(1.5))
    slow.start()
    try:
        time.sleep(0.3)
        with pytest.raises(xmlrpc.client.Fault) as fault:
            xmlrpc.client.ServerProxy(addresses(server)).j.add(1, 1)
        assert fault.value.faultCode == -32000 and "1 calls already in flight" in \
            fault.value.faultString
    finally:
        slow.join(10)
    assert xmlrpc.client.ServerProxy(addresses(server)).j.add(1, 1) == 2
