"""Many idle keep-alive connections at once, and a fresh client calling beside them.

Each idle connection makes one call (so it is an idle *kept* connection, not
a half-open one) and then stays open, silent. All are opened and their calls
sent before any answer is awaited, so a server that ties a thread to each
connection and has fewer threads than connections shows it: the calls beyond
its pool are never answered, and the fresh client waits. While the fresh
client calls, the server's thread count is sampled from /proc.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time

from bench import payloads
from bench.pyload import make_proxy, percentile
from bench.servers import ServerProcess

# ``timeout`` (per fresh call; one timeout ends the fresh client's run) also bounds the
# idle connections' first calls: all of them together get twice as long.


def _request(server: ServerProcess, protocol: str) -> bytes:
    body = payloads.call("small").body(protocol)
    host = server.address
    return (f"POST {server.paths[protocol]} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: {payloads.CONTENT_TYPES[protocol]}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _status(buffer: bytes) -> int:
    try:
        return int(buffer[9:12])
    except ValueError:
        return 0


def _complete(buffer: bytes) -> bool:
    """True when ``buffer`` holds a whole response with a Content-Length body."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return False
    for line in buffer[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(buffer) >= end + 4 + int(value)
    return True


def open_idle(server: ServerProcess, count: int,
              deadline_s: float) -> tuple[list[socket.socket], dict[int, int]]:
    """Open ``count`` connections, one call each; return them and {HTTP status: answers}.

    A burst of ``count`` calls at once may exceed a server's queue: the gateway
    answers those 503 and closes, so statuses other than 200 are counted apart.
    """
    host, port = server.address.rsplit(":", 1)
    selector = selectors.DefaultSelector()
    sockets, buffers = [], {}
    for index in range(count):
        protocol = server.protocols[index % len(server.protocols)]
        sock = socket.create_connection((host, int(port)), timeout=5)
        sock.sendall(_request(server, protocol))
        sock.setblocking(False)
        sockets.append(sock)
        buffers[sock] = b""
        selector.register(sock, selectors.EVENT_READ)
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + deadline_s
    while sum(statuses.values()) < count and time.monotonic() < deadline:
        for key, _ in selector.select(0.2):
            try:
                data = key.fileobj.recv(65536)
            except OSError:
                data = b""
            buffers[key.fileobj] += data
            if not data or _complete(buffers[key.fileobj]):
                selector.unregister(key.fileobj)
                status = _status(buffers[key.fileobj]) if data else 0  # 0: closed unanswered
                statuses[status] = statuses.get(status, 0) + 1
    selector.close()
    return sockets, statuses


def fresh_client(server: ServerProcess, protocol: str, calls: int, timeout: float) -> dict:
    """A new proxy makes ``calls`` calls; stops at the first failure (e.g. a timeout)."""
    proxy = make_proxy(server.url(protocol), protocol)
    latencies, failure = [], ""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        for _ in range(calls):
            began = time.perf_counter()
            try:
                if proxy.add(2, 3) != 5:
                    failure = "wrong answer"
                    break
            except Exception as error:
                failure = f"{type(error).__name__}: {error}"[:120]
                break
            latencies.append(time.perf_counter() - began)
    finally:
        socket.setdefaulttimeout(old)
    latencies.sort()
    return {"protocol": protocol, "calls": len(latencies), "failure": failure,
            "p50_ms": percentile(latencies, 0.5) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000}


def run(server: ServerProcess, connections: int, calls: int, timeout: float = 5.0) -> dict:
    threads_before = server.threads()
    sockets, statuses = open_idle(server, connections, 2 * timeout)
    samples = [server.threads()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            samples.append(server.threads())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fresh = [fresh_client(server, protocol, calls, timeout) for protocol in server.protocols]
    finally:
        stop.set()
        sampler.join(5)
        open_now = server_connections_alive(sockets)
        for sock in sockets:
            sock.close()
    return {"server": server.name, "idle_connections": connections,
            "answered": statuses.get(200, 0),
            "other_answers": {str(k): v for k, v in statuses.items() if k != 200},
            "still_open": open_now, "fresh": fresh, "threads_before": threads_before,
            "threads_max": max(samples)}


def server_connections_alive(sockets: list[socket.socket]) -> int:
    """How many idle connections the server has not closed (no EOF waiting)."""
    alive = 0
    for sock in sockets:
        try:
            alive += sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    return alive
