"""The access log: one line per call, every client-controlled field escaped, nothing lost.

Hostile calls go to a real ``python -m gateway`` process and its stderr is
read back: a client must not be able to split a line, forge a journal entry
or put terminal escapes in it, and every call must have its line, even when
the gateway is stopped right after the call (lines are written in batches).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path

import jsonrpclib
import pytest

from gateway.accesslog import escape
from tests.support.processes import ROOT
from tests.support.wire import post

ACCESS = "gateway.access: "
# client "METHOD path VERSION" status size protocol method outcome 1.2ms "user-agent"
LINE = re.compile(r'^(?:<6>|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO )gateway\.access: '
                  r'\S+ "[A-Z]+ \S+ HTTP/1\.[01]" \d{3} \d+ \S+ .+ \d+\.\dms "(?:[^"\\]|\\.)*"$')


def access_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if ACCESS in line]


def raw_call(address: str, head: bytes, body: bytes = b"") -> bytes:
    """One request written byte for byte (http.client refuses to send these heads)."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                     .encode() + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def stderr_bytes(process) -> bytes:
    return Path(process.stderr_path).read_bytes()


# -- escaping, unit -------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("add", "add"),
    ("ad\r\nd", "ad\\x0d\\x0ad"),
    ("\x1b[31mred", "\\x1b[31mred"),
    ('say "hi" \\o/', 'say \\"hi\\" \\\\o/'),
    ("caf\u00e9 \u4e2d", "caf\u00e9 \u4e2d"),  # printable Unicode stays readable
    ("a\u2028b\x85c\x7f", "a\\u2028b\\x85c\\x7f"),  # line separators and DEL do not
    ("\udcff", "\\udcff"),
])
def test_escape_leaves_nothing_that_ends_a_line_or_drives_a_terminal(text, expected):
    assert escape(text) == expected


# -- through a real gateway ----------------------------------------------------------

def test_hostile_fields_are_escaped_one_call_one_line(daemon):
    process = daemon()
    calls = 0
    # a JSON-RPC method name with CR/LF and ESC
    status, _, _ = post(process.url, json.dumps({"jsonrpc": "2.0", "id": 1,
                        "method": "evil\r\n<3>forged\x1b[2J"}).encode(),
                        "application/json", "/jsonrpc")
    assert status == 200
    calls += 1
    # an XML-RPC methodName with &#13;&#10;
    status, _, _ = post(process.url, b"<?xml version='1.0'?><methodCall><methodName>"
                        b"evil&#13;&#10;x&#9;</methodName><params/></methodCall>",
                        "text/xml", "/RPC2")
    assert status == 200
    calls += 1
    # a percent-encoded path with %0d%0a (decoded before it is logged)
    answer = raw_call(process.address, b"GET /a%0d%0aforged%1b%22 HTTP/1.1\r\nHost: x\r\n")
    assert answer.startswith(b"HTTP/1.1 404")
    calls += 1
    # a User-Agent with ESC and a bare CR; refusing the head (400) is also right
    body = xmlrpc.client.dumps((2, 3), "add").encode()
    answer = raw_call(process.address, b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: "
                      b"text/xml\r\nUser-Agent: ua\x1b[31m\rforged\r\n", body)
    ua_answered = answer.startswith(b"HTTP/1.1 200")
    assert ua_answered or answer.startswith(b"HTTP/1.1 400"), answer[:60]
    calls += ua_answered
    assert process.stop() == 0

    raw = stderr_bytes(process)
    assert not set(raw) & (set(range(32)) - {10} | {127}), raw  # no control byte but \n
    lines = access_lines(raw.decode())
    assert len(lines) == calls, lines
    assert all(LINE.match(line) for line in lines), lines
    text = "\n".join(lines)
    assert "evil\\x0d\\x0a<3>forged\\x1b[2J" in text
    assert "evil\\x0d\\x0ax\\x09" in text
    assert '/a\\x0d\\x0aforged\\x1b\\"' in text
    if ua_answered:
        assert '"ua\\x1b[31m\\x0dforged"' in text


def test_every_call_has_its_line_after_a_graceful_stop(daemon):
    process = daemon()
    proxy = xmlrpc.client.ServerProxy(process.url + "/RPC2")
    json_proxy = jsonrpclib.ServerProxy(process.url + "/jsonrpc")
    for i in range(150):
        assert proxy.add(i, 1) == i + 1
        assert json_proxy.add(i, 2) == i + 2
    process.signal(signal.SIGTERM)  # at once: the last batch is still pending
    assert process.stop() == 0
    lines = stderr_bytes(process).decode().splitlines()
    access = access_lines("\n".join(lines))
    assert len(access) == 300
    assert sum(" xmlrpc add ok " in line for line in access) == 150
    assert sum(" jsonrpc add ok " in line for line in access) == 150
    assert "stopped after" in lines[-1]  # after every access line: the stream is in order


def test_lines_reach_stderr_while_the_gateway_runs_batch_after_batch(daemon):
    """Each batch wakes the writer anew: lines must not wait for the stop to be written."""
    process = daemon()
    proxy = xmlrpc.client.ServerProxy(process.url + "/RPC2")
    for burst in range(1, 4):
        for i in range(20):
            assert proxy.add(i, burst) == i + burst
        deadline = time.monotonic() + 5
        while len(access_lines(stderr_bytes(process).decode())) < 20 * burst:
            assert time.monotonic() < deadline, f"burst {burst}: lines not written"
            time.sleep(0.02)
    assert process.stop() == 0


def test_a_kept_alive_client_repeating_its_head_gets_each_calls_own_fields(daemon):
    """The line's text up to the outcome is kept per head and call: bodies of one length
    give the same head bytes, so only the call's own fields may change between lines."""
    process = daemon()
    host, port = process.address.rsplit(":", 1)
    calls = [("add", [6, 3]), ("add", [9, 9]), ("pow", [2, 3]), ("add", [6, 3]),
             ("divide", [6, 3]), ("divide", [6, 0]), ("nosuch", [6, 3]), ("divide", [6, 3])]
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    expected = []
    for method, params in calls:
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1})
        connection.request("POST", "/jsonrpc", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = response.read()
        error = json.loads(answer).get("error")
        expected.append((str(len(answer)), method, f"error {error['code']}" if error else "ok"))
    connection.close()
    assert process.stop() == 0
    fields = re.compile(r'" 200 (\d+) jsonrpc (\S+) (.+) \d+\.\dms "')
    logged = [fields.search(line).groups() for line in access_lines(
        stderr_bytes(process).decode())]
    assert logged == expected
    assert len({size for size, _, _ in expected}) > 2  # the sizes differ between calls


def test_two_worker_processes_never_mix_their_lines(daemon):
    process = daemon("--workers", "2")
    clients = [xmlrpc.client.ServerProxy(process.url + "/RPC2") for _ in range(4)]
    agents = [f"agent-{i}-" + "x" * 90 for i in range(4)]  # long lines fill batches sooner
    for proxy, agent in zip(clients, agents):
        proxy._ServerProxy__transport.user_agent = agent
    for i in range(200):
        for proxy in clients:
            assert proxy.add(i, 0) == i
    assert process.stop() == 0
    lines = access_lines(stderr_bytes(process).decode())
    assert len(lines) == 800
    assert all(LINE.match(line) for line in lines), [l for l in lines if not LINE.match(l)][:3]
    assert {line.rsplit('"', 2)[1] for line in lines} == set(agents)


def test_access_lines_carry_the_journald_priority_under_journald(tmp_path):
    stderr = tmp_path / "journal.log"
    stderr.write_text("")
    info = stderr.stat()
    with socket.socket() as probe:  # a free port for --bind (Daemon picks its own stderr)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "LISTEN_"))}
    env.update(JOURNAL_STREAM=f"{info.st_dev}:{info.st_ino}", PYTHONPATH=str(ROOT))
    with open(stderr, "ab") as stream:
        process = subprocess.Popen([sys.executable, "-m", "gateway", "--bind",
                                    f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=stream)
    try:
        proxy = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}/RPC2")
        deadline = time.monotonic() + 20
        while True:
            try:
                assert proxy.add(2, 3) == 5
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    lines = access_lines(stderr.read_text())
    assert len(lines) == 1 and lines[0].startswith("<6>gateway.access: 127.0.0.1 "), lines
    assert LINE.match(lines[0]), lines


def test_access_log_false_writes_no_access_lines(daemon, tmp_path):
    config = tmp_path / "quiet.toml"
    config.write_text("[logging]\naccess_log = false\n")
    process = daemon("--config", str(config))
    assert xmlrpc.client.ServerProxy(process.url + "/RPC2").add(1, 2) == 3
    assert process.stop() == 0
    text = stderr_bytes(process).decode()
    assert "stopped after 1 calls" in text and not access_lines(text)
