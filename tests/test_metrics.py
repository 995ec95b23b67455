"""GET /metrics: real gateways, real clients, checked by prometheus_client's parsers,
``promtool check metrics`` and a real Prometheus server scraping the gateway."""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import xmlrpc.client
from pathlib import Path

import jsonrpclib
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families

from gateway.auth import hash_secret
from tests.support.scrape import get, scrape, settled, url_of, value, wait_until


def make_some_calls(url: str) -> None:
    xml = xmlrpc.client.ServerProxy(url + "/RPC2")
    assert xml.add(2, 3) == 5
    assert xml.add(1, 1) == 2
    with pytest.raises(xmlrpc.client.Fault):
        xml.divide(1, 0)
    with pytest.raises(xmlrpc.client.Fault):
        xml.no_such_method()
    assert jsonrpclib.ServerProxy(url + "/jsonrpc").add(4, 5) == 9
    assert get(url, "/?a=1&b=2")[2] == b'{"result": 3}'


def test_calls_errors_and_latency_per_method_and_protocol(url):
    make_some_calls(url)
    samples = settled(url, "rpc_gateway_calls_total", 1, protocol="http", method="add")
    assert value(samples, "rpc_gateway_calls_total", protocol="xmlrpc", method="add") == 2
    assert value(samples, "rpc_gateway_calls_total", protocol="jsonrpc", method="add") == 1
    assert value(samples, "rpc_gateway_calls_total", protocol="http", method="add") == 1
    assert value(samples, "rpc_gateway_call_errors_total", protocol="xmlrpc", method="divide",
                 code="-32000") == 1
    assert value(samples, "rpc_gateway_call_errors_total", protocol="xmlrpc", method="unknown",
                 code="-32601") == 1
    assert value(samples, "rpc_gateway_call_duration_seconds_count", protocol="xmlrpc",
                 method="add") == 2
    assert value(samples, "rpc_gateway_call_duration_seconds_bucket", protocol="xmlrpc",
                 method="add", le="+Inf") == 2
    assert 0 < value(samples, "rpc_gateway_call_duration_seconds_sum", protocol="xmlrpc",
                     method="add") < 5
    # Registered methods exist from the start, at zero: rate() works from the first call.
    assert ("rpc_gateway_calls_total", (("method", "hello"), ("protocol", "jsonrpc"))) in samples
    info = [k for k in samples if k[0] == "rpc_gateway_build_info"]
    assert len(info) == 1 and dict(info[0][1])["version"]


def test_invented_method_names_create_no_series(url):
    proxy = xmlrpc.client.ServerProxy(url + "/RPC2")
    proxy.add(1, 2)
    before = set(settled(url, "rpc_gateway_calls_total", 1, protocol="xmlrpc", method="add"))
    for n in range(25):
        with pytest.raises(xmlrpc.client.Fault):
            getattr(proxy, f"invented_{n}")()
    samples = settled(url, "rpc_gateway_calls_total", 25, protocol="xmlrpc", method="unknown")
    assert not [k for k in samples if "invented" in str(k)]
    new = {k for k in set(samples) - before if k[0].startswith("rpc_gateway_call")}
    assert all(dict(k[1]).get("method") == "unknown" for k in new), new
    assert value(samples, "rpc_gateway_calls_total", protocol="xmlrpc", method="unknown") == 25


def test_a_body_that_does_not_parse_is_an_unknown_call_with_its_error_code(url):
    host, port = url.removeprefix("http://").rsplit(":", 1)
    for body, kind in ((b'{"jsonrpc": "2.0", "method": ', "application/json"),
                       (b"<methodCall><methodName>add", "text/xml")):
        conn = http.client.HTTPConnection(host, int(port), timeout=15)
        conn.request("POST", "/", body, {"Content-Type": kind})
        assert conn.getresponse().status == 200  # a JSON-RPC error, an XML-RPC fault
        conn.close()
    samples = settled(url, "rpc_gateway_call_errors_total", 1, protocol="xmlrpc",
                      method="unknown", code="-32700")
    assert value(samples, "rpc_gateway_call_errors_total", protocol="jsonrpc", method="unknown",
                 code="-32700") == 1
    assert value(samples, "rpc_gateway_calls_total", protocol="jsonrpc", method="unknown") == 1


def post_json(url: str, body: bytes) -> int:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        conn.request("POST", "/jsonrpc", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_the_calls_in_a_batch_and_a_multicall_count_under_their_own_methods(url):
    assert post_json(url, b'[{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]},'
                          b'{"jsonrpc":"2.0","method":"add","params":[3,4]},'  # notification
                          b'{"jsonrpc":"2.0","id":2,"method":"made_up","params":[]},'
                          b'{"jsonrpc":"2.0","id":3,"method":"divide","params":[1,0]}]') == 200
    assert post_json(url, b'{"jsonrpc":"2.0","id":4,"method":"system.multicall","params":'
                          b'[[{"methodName":"add","params":[1,2]}]]}') == 200
    assert post_json(url, b"[]") == 200  # refused whole (-32600): one "batch" call
    assert post_json(url, b'{"jsonrpc":"2.0","id":5,"method":"batch[2]"}') == 200  # a name
    multicall = xmlrpc.client.MultiCall(xmlrpc.client.ServerProxy(url))
    multicall.add(1, 2)
    multicall.divide(1, 0)
    multicall.made_up()
    results = multicall()
    assert results[0] == 3
    samples = settled(url, "rpc_gateway_calls_total", 1, protocol="xmlrpc", method="unknown")
    calls = {(dict(labels)["method"], dict(labels)["protocol"]): n
             for (name, labels), n in samples.items() if name == "rpc_gateway_calls_total" and n}
    assert calls == {("add", "jsonrpc"): 3, ("unknown", "jsonrpc"): 2, ("divide", "jsonrpc"): 1,
                     ("batch", "jsonrpc"): 1, ("add", "xmlrpc"): 1, ("divide", "xmlrpc"): 1,
                     ("unknown", "xmlrpc"): 1}, calls
    errors = {(dict(labels)["method"], dict(labels)["protocol"], dict(labels)["code"]): n
              for (name, labels), n in samples.items() if name == "rpc_gateway_call_errors_total"}
    assert errors == {("unknown", "jsonrpc", "-32601"): 2, ("divide", "jsonrpc", "-32000"): 1,
                      ("batch", "jsonrpc", "-32600"): 1, ("divide", "xmlrpc", "-32000"): 1,
                      ("unknown", "xmlrpc", "-32601"): 1}, errors
    assert not [k for k in samples if "made_up" in str(k) or "batch[" in str(k)]


def test_text_format_by_default_and_openmetrics_when_asked(url):
    make_some_calls(url)
    settled(url, "rpc_gateway_calls_total", 1, protocol="http", method="add")
    status, response, body = get(url, "/metrics")
    assert response.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    assert b"# EOF" not in body
    status, response, body = get(url, "/metrics", {
        "Accept": "application/openmetrics-text; version=1.0.0,text/plain;q=0.5"})
    assert status == 200
    assert response.getheader("Content-Type").startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")
    families = {f.name: f for f in parse_om(body.decode())}
    add = [s for s in families["rpc_gateway_calls"].samples
           if s.labels == {"protocol": "xmlrpc", "method": "add"}]
    assert add[0].value == 2


def test_promtool_accepts_the_text_format(url):
    """promtool 2.x lints the text format only (OpenMetrics is checked by the parser above)."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is not installed; tests/run.sh installs it"
    make_some_calls(url)
    body = get(url, "/metrics")[2]
    result = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                            timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    bad = b"# TYPE rpc_gateway_calls counter\nrpc_gateway_calls{a=\"1\"} 1\n"
    result = subprocess.run([promtool, "check", "metrics"], input=bad, capture_output=True,
                            timeout=30)
    assert result.returncode != 0  # the check can fail: a counter without _total


def test_http_errors_auth_failures_and_rate_limits(make_gateway):
    server = make_gateway(auth__tokens=[hash_secret("s3cret")], access__rate=0.01,
                          access__burst=2)
    url = url_of(server)
    assert get(url, "/nothing-here")[0] == 404  # takes the first token
    with pytest.raises(xmlrpc.client.ProtocolError) as refused:
        xmlrpc.client.ServerProxy(url + "/RPC2").add(1, 2)  # no credentials: 401
    assert refused.value.errcode == 401
    assert get(url, "/healthz")[0] == 429  # the bucket is empty now
    server.router.policy.rate = 0  # let the scrape itself through
    samples = settled(url, "rpc_gateway_http_errors_total", 1, status="429")
    assert value(samples, "rpc_gateway_http_errors_total", status="404") == 1
    assert value(samples, "rpc_gateway_http_errors_total", status="401") == 1
    assert value(samples, "rpc_gateway_http_errors_total", status="429") == 1
    assert value(samples, "rpc_gateway_auth_failures_total") == 1
    assert value(samples, "rpc_gateway_rate_limited_total") == 1


def test_errors_answered_by_the_loop_are_counted(make_gateway):
    server = make_gateway(limits__max_body_bytes=1024)
    url = url_of(server)
    with socket.create_connection(server.server_address[:2], timeout=10) as sock:
        sock.sendall(b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
                     b"Content-Length: 5000\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 413")
    assert value(settled(url, "rpc_gateway_http_errors_total", 1, status="413"),
                 "rpc_gateway_http_errors_total", status="413") == 1


def test_in_flight_and_open_connections(make_gateway):
    server = make_gateway(service__services=["tests.support.services:Slow"])
    url = url_of(server)
    thread = threading.Thread(target=lambda: xmlrpc.client.ServerProxy(url).sleep(3))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while server.router.xml.in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        samples = scrape(url)
    finally:
        thread.join(10)
    assert value(samples, "rpc_gateway_in_flight") == 1
    assert value(samples, "rpc_gateway_open_connections") == 2  # the sleeper and the scraper
    assert value(settled(url, "rpc_gateway_in_flight", 0), "rpc_gateway_in_flight") == 0


def test_metrics_follow_the_access_rules_and_their_own(make_gateway):
    open_server = make_gateway(access__allow_networks=["10.0.0.0/8"])
    assert get(url_of(open_server), "/metrics")[0] == 403  # as /healthz is
    assert get(url_of(open_server), "/healthz")[0] == 403
    narrow = make_gateway(metrics__allow_networks=["10.0.0.0/8"])
    status, _, body = get(url_of(narrow), "/metrics")
    assert status == 403 and b"metrics.allow_networks" in body
    assert get(url_of(narrow), "/healthz")[0] == 200
    off = make_gateway(metrics__enabled=False)
    xmlrpc.client.ServerProxy(url_of(off)).add(1, 2)
    assert get(url_of(off), "/metrics")[0] == 404
    assert off.metrics.figures() == {} or all(v[0] == 0 for v in off.metrics.figures().values())


def test_access_log_and_metrics_share_the_method_name_and_the_clock(make_gateway, caplog):
    server = make_gateway()
    url = url_of(server)
    caplog.set_level(logging.INFO, logger="gateway.access")
    assert xmlrpc.client.ServerProxy(url).add(20, 22) == 42
    samples = settled(url, "rpc_gateway_calls_total", 1, protocol="xmlrpc", method="add")
    line = [r.getMessage() for r in caplog.records if r.name == "gateway.access"
            and "GET /metrics" not in r.getMessage()][0]
    protocol, method, outcome, ms = re.search(
        r" (\w+) (\S+) (\S+) ([\d.]+)ms ", line).groups()
    seconds = value(samples, "rpc_gateway_call_duration_seconds_sum", protocol=protocol,
                    method=method)
    assert (protocol, method, outcome) == ("xmlrpc", "add", "ok")
    assert abs(seconds * 1000 - float(ms)) <= 0.051, (seconds, line)


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_reloads_are_counted_with_their_outcome(daemon, tmp_path):
    config = write_config(tmp_path / "gateway.toml", "[limits]\nmax_depth = 32\n")
    process = daemon("--config", str(config))
    process.signal(signal.SIGHUP)
    wait_until(lambda: value(scrape(process.url), "rpc_gateway_reloads_total", outcome="ok") == 1)
    write_config(config, "[limits]\nmax_depth = 'deep'\n")
    process.signal(signal.SIGHUP)
    wait_until(lambda: value(scrape(process.url), "rpc_gateway_reloads_total",
                             outcome="failed") == 1)
    assert process.stop() == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_prometheus(tmp_path: Path, target: str) -> tuple[subprocess.Popen, str]:
    """Prometheus cannot take port 0: try free ports until one holds."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus (Debian package prometheus) is not installed; tests/run.sh does"
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                      "scrape_configs:\n  - job_name: rpc-gateway\n"
                      f"    static_configs:\n      - targets: ['{target}']\n")
    for attempt in range(5):
        port = free_port()
        log = open(tmp_path / f"prometheus-{attempt}.log", "w")
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / f'tsdb{attempt}'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if urllib.request.urlopen(base + "/-/ready", timeout=2).status == 200:
                    return process, base
            except OSError:
                time.sleep(0.2)
        stop_process(process)
        text = (tmp_path / f"prometheus-{attempt}.log").read_text()
        if "address already in use" not in text:
            raise AssertionError(f"prometheus did not start:\n{text[-2000:]}")
    raise AssertionError("no free port for prometheus after 5 attempts")


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


QUERIES = {  # the README's three, over a window this short test can fill
    "calls/s": 'sum by (method) (rate(rpc_gateway_calls_total[{w}]))',
    "error ratio": 'sum by (method) (rate(rpc_gateway_call_errors_total[{w}])) '
                   '/ sum by (method) (rate(rpc_gateway_calls_total[{w}]))',
    "p99": 'histogram_quantile(0.99, sum by (le, method) '
           '(rate(rpc_gateway_call_duration_seconds_bucket[{w}])))',
}


def promql(base: str, expression: str) -> dict[str, float]:
    """{method (or ""): value} of an instant query."""
    query = urllib.parse.quote(expression)
    with urllib.request.urlopen(f"{base}/api/v1/query?query={query}", timeout=5) as answer:
        result = json.load(answer)["data"]["result"]
    return {r["metric"].get("method", ""): float(r["value"][1]) for r in result}


def test_a_real_prometheus_scrapes_the_gateway(gateway, tmp_path):
    url = url_of(gateway)
    proxy = xmlrpc.client.ServerProxy(url)
    for n in range(7):
        assert proxy.add(n, 1) == n + 1
    process, base = start_prometheus(tmp_path, url.removeprefix("http://"))
    try:
        wait_until(lambda: promql(base, 'sum(rpc_gateway_calls_total{method="add"})')
                   .get("") == 7, timeout=45)
        with urllib.request.urlopen(f"{base}/api/v1/targets", timeout=5) as answer:
            targets = json.load(answer)["data"]["activeTargets"]
        assert targets[0]["health"] == "up", targets
        # The README's queries, once a few scrapes have seen calls and errors happen.
        for _ in range(20):
            proxy.add(1, 2)
            with pytest.raises(xmlrpc.client.Fault):
                proxy.divide(1, 0)
            time.sleep(0.25)
        answers = {name: promql(base, q.format(w="30s")) for name, q in QUERIES.items()}
        assert answers["calls/s"]["add"] > 0, answers
        assert answers["error ratio"]["divide"] == pytest.approx(1, abs=0.1)  # rate() extrapolates
        assert answers["error ratio"].get("add", 0) == 0  # no error series: no errors
        assert 0 < answers["p99"]["add"] < 1, answers
    finally:
        stop_process(process)
