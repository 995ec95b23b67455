"""Connections, deadlines, threads and memory: slow, idle and vanishing peers cannot starve callers.

What issue 4 promises and each test below holds the gateway to:
- headers must arrive within header_timeout, bodies within body_timeout
  (trickling bytes does not extend either), idle keep-alive connections close
  after idle_timeout, a reader slower than write_timeout is dropped;
- idle and half-sent connections hold no worker thread: 300 of them do not
  delay a fresh caller;
- past threads + queue_size (or max_connections) the answer is 503 with
  Retry-After, and the process's thread count does not grow with the load;
- abrupt disconnects at any point leave no connection or worker behind;
- memory stays bounded across bursts of oversized requests (a real daemon's RSS);
- work on the connection loop is linear: buffered chunk framing is not parsed
  again for every byte that arrives.
Timing bounds are generous (seconds) because CI machines are shared.
"""

from __future__ import annotations

import gzip
import json
import time
import xmlrpc.client
from itertools import repeat

import jsonrpclib
import pytest

from gateway import load_config
from tests.hostile.cases import CATALOGUE
from tests.hostile.catalogue import Target
from tests.hostile.checks import assert_still_serving, proc_status
from tests.hostile.wire import Client, address_of, exchange, request

SLOW = ["handlers.calculator:Calculator", "slow=tests.support.services:Slow"]
HEALTH = b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"
MiB = 1 << 20


def address(server) -> tuple[str, int]:
    return server.server_address[:2]


def url_of(server) -> str:
    return "http://%s:%d" % address(server)


def health(addr: tuple[str, int]) -> dict:
    reply = exchange(addr, HEALTH)
    assert reply.status == 200, reply
    return json.loads(reply.body)


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def json_call(method: str, params: list) -> bytes:
    return request(body=json.dumps({"jsonrpc": "2.0", "method": method, "params": params,
                                    "id": 1}).encode(), content_type="application/json")


def xml_call(method: str, *params) -> bytes:
    return request(body=xmlrpc.client.dumps(params, method).encode())


def assert_fresh_calls_answered(url: str, bound: float, behind: str) -> None:
    """A fresh call with each protocol's client is answered within ``bound`` seconds."""
    for proxy in (xmlrpc.client.ServerProxy(url), jsonrpclib.ServerProxy(url)):
        started = time.monotonic()
        assert proxy.add(2, 3) == 5
        elapsed = time.monotonic() - started
        print(f"a fresh call behind {behind}: {elapsed * 1000:.0f} ms")
        assert elapsed < bound, f"a fresh call waited {elapsed:.2f}s behind {behind}"


# -- deadlines ------------------------------------------------------------------------

def test_headers_trickled_past_header_timeout_get_408(make_gateway):
    server = make_gateway(limits__header_timeout=1.0)
    with Client(address(server)) as slowloris:
        slowloris.send(b"POST /RPC2 HTTP/1.1\r\n")
        slowloris.send_pieces(repeat(b"X"), interval=0.1, limit_seconds=5)  # 10 bytes/s
        reply = slowloris.reply(timeout=3)
    assert reply.status == 408, reply
    assert reply.seconds < 3.5, "trickling bytes must not extend the header deadline"
    assert_still_serving(url_of(server))


def test_silent_connection_is_closed_after_header_timeout(make_gateway):
    server = make_gateway(limits__header_timeout=1.0)
    with Client(address(server)) as silent:
        started = time.monotonic()
        data, closed = silent.read_to_close(timeout=4)
    assert closed and time.monotonic() - started < 3.5
    assert data == b"" or data.startswith(b"HTTP/1.1 408 "), data[:100]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_body_trickled_past_body_timeout_gets_408(make_gateway, framing):
    server = make_gateway(limits__body_timeout=1.0)
    if framing == "chunked":
        head = request(length=False, headers=[("Transfer-Encoding", "chunked")])
        trickle = repeat(b"1\r\n<\r\n")
    else:
        head = request(length=False, headers=[("Content-Length", "1000")])
        trickle = repeat(b"<")
    with Client(address(server)) as slow:
        slow.send(head)
        slow.send_pieces(trickle, interval=0.1, limit_seconds=5)
        reply = slow.reply(timeout=3)
    assert reply.status == 408, reply
    assert reply.seconds < 3.5
    assert_still_serving(url_of(server))


def test_idle_keepalive_connection_is_closed_after_idle_timeout(make_gateway):
    server = make_gateway(limits__idle_timeout=1.0)
    with Client(address(server)) as client:
        client.send(xml_call("add", 1, 2))
        reply = client.reply()
        assert reply.status == 200 and "close" not in reply.headers.get("connection", "")
        started = time.monotonic()
        data, closed = client.read_to_close(timeout=4)
    assert closed and data == b"", "an idle keep-alive connection must be closed quietly"
    assert 0.5 < time.monotonic() - started < 3.5


def test_slow_reader_is_dropped_after_write_timeout(make_gateway):
    """A client that never reads a big response holds no worker, and is dropped after
    write_timeout."""
    server = make_gateway(limits__write_timeout=1.0, server__jsonrpc_threads=1,
                          server__queue_size=0)
    addr = address(server)
    echo = {"jsonrpc": "2.0", "method": "ping", "params": ["x" * (12 * MiB)], "id": 1}
    body = gzip.compress(json.dumps(echo).encode(), compresslevel=1)
    with Client(addr, timeout=10, receive_buffer=4096) as reader:
        reader.send(request(body=body, content_type="application/json",
                            headers=[("Content-Encoding", "gzip")]))
        time.sleep(0.3)
        started, statuses = time.monotonic(), []
        while time.monotonic() - started < 8:
            statuses.append(exchange(addr, json_call("add", [1, 2]), timeout=8).status)
            if statuses[-1] == 200:
                break
            time.sleep(0.1)
        freed_after = time.monotonic() - started
        time.sleep(max(0.0, 1.5 - (time.monotonic() - started)))  # past write_timeout
        data, closed = reader.read_to_close(timeout=5)
    print(f"worker freed {freed_after:.2f}s after the slow reader stalled; saw {statuses}")
    assert statuses[-1] == 200, f"the worker was never freed: {statuses}"
    assert set(statuses) <= {200, 503}, statuses
    assert freed_after < 4.5, f"the worker was freed only after {freed_after:.1f}s"
    assert closed and len(data) < 12 * MiB, "the slow reader's connection must be closed"


def test_clients_that_never_read_their_answers_do_not_starve_others(make_gateway):
    """40 clients each asking for a 256 KiB answer and never reading it hold no thread:
    their answers wait in the loop, and a fresh call is answered at once."""
    server = make_gateway(limits__write_timeout=20.0)
    addr, url = address(server), url_of(server)
    echo = {"jsonrpc": "2.0", "method": "ping", "params": ["x" * (256 * 1024)], "id": 1}
    big = request(body=gzip.compress(json.dumps(echo).encode()), content_type="application/json",
                  headers=[("Content-Encoding", "gzip")])  # 1 KiB asking for 256 KiB
    stuck = [Client(addr, timeout=10, receive_buffer=4096) for _ in range(40)]
    try:
        for client in stuck:
            # Loopback sockets buffer about 3 MiB: 16 pipelined answers overflow them.
            client.send(big * 16)
        # Every answer they will get is computed; the rest waits, unread, in the loop.
        assert wait_until(lambda: health(addr)["in_flight"] == 0, timeout=20)
        assert_fresh_calls_answered(url, 1.0, "40 clients that never read")
        assert health(addr)["connections"] >= 40, "the stuck clients were dropped instead"
    finally:
        for client in stuck:
            client.close()


def test_unread_answers_are_bounded_in_memory_then_calls_are_503(make_gateway):
    """Answers that wait for clients who never read are bounded (4 x max_decompressed_bytes):
    past that, new calls are refused 503 instead of computed; they resume once those go."""
    server = make_gateway(limits__max_decompressed_bytes=MiB, limits__write_timeout=20.0)
    addr, url = address(server), url_of(server)
    echo = {"jsonrpc": "2.0", "method": "ping", "params": ["x" * (900 * 1024)], "id": 1}
    big = request(body=gzip.compress(json.dumps(echo).encode()), content_type="application/json",
                  headers=[("Content-Encoding", "gzip")])
    stuck = [Client(addr, timeout=10, receive_buffer=4096) for _ in range(12)]
    try:
        for client in stuck:
            client.send(big * 6)  # past what the kernel buffers: one answer each stays with us
        assert wait_until(lambda: health(addr)["in_flight"] == 0, timeout=10)
        reply = exchange(addr, json_call("add", [1, 2]))
        assert reply.status == 503 and reply.headers.get("retry-after") == "1", reply
    finally:
        for client in stuck:
            client.close()
    assert wait_until(lambda: _add_works(url), timeout=5), "calls did not resume"


def _add_works(url: str) -> bool:
    try:
        return jsonrpclib.ServerProxy(url).add(2, 3) == 5
    except (OSError, jsonrpclib.jsonrpc.ProtocolError):
        return False


# -- idle connections, connection and thread bounds --------------------------------------

def _idle_client(addr: tuple[str, int], kind: int) -> Client:
    client = Client(addr, timeout=10)
    if kind == 1:  # a head that never ends
        client.send(b"POST /RPC2 HTTP/1.1\r\nContent-Type: text/xml\r\n")
    elif kind == 2:  # a body that never ends
        client.send(request(length=False, headers=[("Content-Length", "1000")]) + b"<?xml")
    elif kind == 3:  # one call, then idle keep-alive
        client.send(xml_call("add", 1, 2))
        assert client.reply().status == 200
    return client  # kind 0: connected, never said anything


def test_hundreds_of_idle_clients_do_not_starve_a_fresh_caller(make_gateway):
    server = make_gateway(server__xmlrpc_threads=2, server__jsonrpc_threads=2,
                          server__queue_size=2)
    addr, url = address(server), url_of(server)
    idle: list[Client] = []
    try:
        for i in range(300):
            idle.append(_idle_client(addr, i % 4))
        assert_fresh_calls_answered(url, 1.0, "300 idle connections")
        assert health(addr)["connections"] >= 300, "the idle connections were dropped instead"
    finally:
        for client in idle:
            client.close()


def test_connections_past_max_connections_get_503_with_retry_after(make_gateway):
    server = make_gateway(server__max_connections=16)
    addr = address(server)
    held = [Client(addr) for _ in range(16)]
    try:
        reply = exchange(addr, HEALTH)
        assert reply.status == 503, reply
        assert reply.headers.get("retry-after", "").isdigit(), reply.headers
    finally:
        for client in held:
            client.close()
    assert wait_until(lambda: exchange(addr, HEALTH).status == 200, timeout=3)
    assert_still_serving(url_of(server))


def _write_config(path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_overload_gets_503_with_retry_after_and_threads_stay_bounded(daemon, tmp_path):
    threads, queue = 2, 2
    config = _write_config(tmp_path / "overload.toml", f"""
[server]
xmlrpc_threads = {threads}
jsonrpc_threads = {threads}
queue_size = {queue}
[service]
services = {json.dumps(SLOW)}
[logging]
access_log = false
""")
    process = daemon("--config", config)
    pid, addr = process.process.pid, address_of(process.url)
    assert_still_serving(process.url)
    baseline = proc_status(pid, "Threads")
    calls = {"xml": xml_call("slow.sleep", 2), "json": json_call("slow.sleep", [2])}
    clients = [(kind, Client(addr, timeout=15)) for kind in calls for _ in range(20)]
    samples = []
    try:
        for kind, client in clients:  # all sent within milliseconds from one thread
            client.send(calls[kind])
        for _ in range(4):
            time.sleep(0.25)
            samples.append(proc_status(pid, "Threads"))
        replies = [(kind, client.reply(timeout=15)) for kind, client in clients]
    finally:
        for _, client in clients:
            client.close()
    capacity = threads + queue
    print(f"threads: {baseline} before, {samples} during 40 slow calls")
    for kind in calls:
        statuses = [reply.status for k, reply in replies if k == kind]
        assert statuses.count(200) == capacity, (kind, statuses)
        assert statuses.count(503) == len(statuses) - capacity, (kind, statuses)
    assert all(r.headers.get("retry-after", "").isdigit() for _, r in replies if r.status == 503)
    assert max(samples) <= baseline + 2 * threads, \
        f"threads grew with the load: {baseline} before, {samples} during"
    assert_still_serving(process.url)


# -- abrupt disconnects ------------------------------------------------------------------

def _vanish_mid_head(addr):
    with Client(addr) as client:
        client.send(b"POST /RPC2 HTTP/1.1\r\nContent-Ty")


def _vanish_mid_body(addr):
    with Client(addr) as client:
        client.send(request(length=False, headers=[("Content-Length", "1000")]) + b"<?xml ve")


def _reset_mid_body(addr):
    client = Client(addr)
    client.send(request(length=False, headers=[("Content-Length", "1000")]) + b"<?xml ve")
    client.reset()


def _reset_mid_chunked_body(addr):
    client = Client(addr)
    client.send(request(length=False, headers=[("Transfer-Encoding", "chunked")]) + b"5\r\n<?x")
    client.reset()


def _vanish_during_a_slow_call(addr):
    with Client(addr) as client:
        client.send(json_call("slow.sleep", [0.5]))


def _reset_mid_response(addr):
    client = Client(addr, receive_buffer=4096)
    client.send(json_call("slow.echo", ["y" * (3 * MiB)]))
    client.sock.recv(1024)
    client.reset()


@pytest.mark.parametrize("vanish", [_vanish_mid_head, _vanish_mid_body, _reset_mid_body,
                                    _reset_mid_chunked_body, _vanish_during_a_slow_call,
                                    _reset_mid_response], ids=lambda f: f.__name__[1:])
def test_abrupt_disconnect_leaves_nothing_behind(make_gateway, vanish):
    server = make_gateway(service__services=SLOW)
    addr = address(server)
    vanish(addr)
    backends = (server.router.xml, server.router.json)
    assert wait_until(lambda: all(b.in_flight == 0 for b in backends), timeout=5), \
        "a worker is still held for a client that left"
    assert wait_until(lambda: health(addr)["connections"] == 1, timeout=5), \
        "the vanished client's connection is still open"
    assert_still_serving(url_of(server))


# -- memory ------------------------------------------------------------------------------

def test_memory_stays_bounded_across_bursts_of_oversized_requests(daemon, tmp_path):
    # Default limits. glibc keeps freed big blocks when its mmap threshold adapts, and keeps
    # one arena per thread: a fixed threshold and one worker thread per protocol make RSS
    # follow live memory, so what grows from burst to burst is what a burst leaks.
    config = _write_config(tmp_path / "defaults.toml", "[server]\nxmlrpc_threads = 1\n"
                           "jsonrpc_threads = 1\n[logging]\naccess_log = false\n")
    limits = load_config(config, use_default_path=False, environ={}).limits
    process = daemon("--config", config, env={"MALLOC_MMAP_THRESHOLD_": str(256 * 1024)})
    pid, addr = process.process.pid, address_of(process.url)
    target = Target(limits, "http://127.0.0.1:9/unused", str(tmp_path / "unused"))
    oversized = [case for case in CATALOGUE if case.oversized]
    assert len(oversized) >= 10

    def burst() -> int:
        for case in oversized:
            reply = exchange(addr, case.build(target), timeout=10)
            assert reply.status != 500, (case.name, reply)
        return proc_status(pid, "VmRSS")

    started = proc_status(pid, "VmRSS")
    after = [burst() for _ in range(3)]
    peak = proc_status(pid, "VmHWM")
    print(f"RSS KiB: started {started}, after each burst {after}, peak {peak}")
    assert (max(after) - started) / 1024 < 16, f"RSS grew: {started} -> {after} KiB"
    assert (after[2] - after[1]) / 1024 < 4, f"RSS keeps growing per burst: {after} KiB"
    assert (peak - started) * 1024 < 4 * limits.max_decompressed_bytes, \
        f"peak RSS {peak} KiB is far past what one request's limits allow"
    assert_still_serving(process.url)


# -- loop work stays linear ----------------------------------------------------------------

def test_trickled_chunked_uploads_do_not_stall_other_callers(make_gateway):
    """A byte arriving on a big buffered chunked body must not re-parse the whole buffer.

    40 uploads each hold 192 KiB of one-byte chunks (inside every limit); then
    each gets one more byte per round. With incremental decoding a round costs
    microseconds; re-parsing every buffer costs the loop seconds per round, and
    every other caller waits that long.
    """
    server = make_gateway()
    addr = address(server)
    tiny_chunk = b"1\r\n<\r\n"
    uploads = [Client(addr, timeout=10) for _ in range(40)]
    worst = 0.0
    try:
        for upload in uploads:
            upload.send(request(length=False, headers=[("Transfer-Encoding", "chunked")]))
            upload.send(tiny_chunk * (192 * 1024 // len(tiny_chunk)))
        assert wait_until(lambda: exchange(addr, HEALTH, timeout=30).seconds < 0.2, timeout=30)
        for i in range(10):
            for upload in uploads:
                upload.send(tiny_chunk[i % len(tiny_chunk):][:1])
            worst = max(worst, exchange(addr, HEALTH, timeout=30).seconds)
            if worst > 0.5:
                break
            time.sleep(0.05)
    finally:
        for upload in uploads:
            upload.reset()
    print(f"worst /healthz latency while bytes trickled: {worst * 1000:.0f} ms")
    assert worst < 0.5, f"a caller waited {worst:.1f}s while the loop re-parsed chunk framing"
    assert_still_serving(url_of(server))
