"""The connection loop: one thread that accepts, reads and frames; workers only compute.

Rules this module keeps:
1. The loop thread never blocks on a peer. Sockets are non-blocking; a
   connection that sends nothing, or trickles bytes, costs only its buffer.
2. A worker thread is taken only by a complete request (head and body read).
   Idle keep-alive connections hold no thread, whatever their number; the one
   exception is ``next_request``: a worker whose pool is otherwise idle may
   wait 2 ms for its connection's next call, which no one else can need.
3. Each connection is armed in epoll with EPOLLONESHOT, so exactly one thread
   owns it at a time: the loop while it reads, one worker while it answers.
   The worker re-arms it (epoll is safe to modify from any thread) when the
   response is written, or hands it back to the loop if bytes are buffered.
4. Every phase has a deadline: headers, body, idle keep-alive, write.
5. On stop: listeners close, idle connections close, requests in flight and
   requests already being received finish (answered with Connection: close)
   until the drain deadline.
"""

from __future__ import annotations

import collections
import heapq
import logging
import os
import select
import socket
import ssl
import threading
import time
from typing import Callable

from gateway.http import ChunkedDecoder, HTTPError, Request, parse_head

log = logging.getLogger(__name__)

_ARMED = select.EPOLLIN | select.EPOLLONESHOT | select.EPOLLRDHUP
_ARMED_WRITE = _ARMED | select.EPOLLOUT  # a TLS handshake waiting to write
_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
_READ_SIZE = 256 * 1024
_SWEEP_INTERVAL = 0.25


class Limits:
    """The framing limits and deadlines the loop enforces (a view of the config)."""

    def __init__(self, max_body: int = 1 << 20, max_header_bytes: int = 16384,
                 max_headers: int = 100, max_line: int = 8192, header_timeout: float = 10.0,
                 body_timeout: float = 30.0, idle_timeout: float = 60.0,
                 write_timeout: float = 30.0, max_connections: int = 10000) -> None:
        self.max_body = max_body
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self.max_line = max_line
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.idle_timeout = idle_timeout
        self.write_timeout = write_timeout
        self.max_connections = max_connections


class Connection:
    """One accepted socket and its read buffer; owned by one thread at a time."""

    __slots__ = ("sock", "fd", "client", "buffer", "request", "busy", "deadline", "handshaking",
                 "chunks")

    def __init__(self, sock: socket.socket, client: str, deadline: float) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.client = client
        self.buffer = bytearray()
        self.request: Request | None = None  # a head parsed, body still coming
        self.busy = False  # a worker owns it
        self.deadline = deadline
        self.handshaking = False  # TLS handshake not finished yet
        self.chunks: ChunkedDecoder | None = None  # a chunked body being decoded


class ConnectionLoop:
    """Accepts on every listener and feeds complete requests to ``dispatch``.

    ``dispatch(conn, request)`` runs on the loop thread and must not block:
    it either answers at once with ``send_now`` or hands the connection to a
    worker, which ends with ``finish(conn, keep_alive)``.
    """

    def __init__(self, listeners: list[socket.socket], limits: Limits,
                 dispatch: Callable[[Connection, Request], None],
                 reject: Callable[[Connection, HTTPError], None]) -> None:
        self.limits = limits
        self._dispatch = dispatch
        self._reject = reject
        self._epoll = select.epoll()
        self._listeners = {sock.fileno(): sock for sock in listeners}
        self._conns: dict[int, Connection] = {}
        self._handback: collections.deque[Connection] = collections.deque()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._epoll.register(self._wake_r, select.EPOLLIN)
        for fd, sock in self._listeners.items():
            sock.setblocking(False)
            # EXCLUSIVE: with workers > 1 one process wakes per connection, not all.
            self._epoll.register(fd, select.EPOLLIN | select.EPOLLEXCLUSIVE)
        self.tls: ssl.SSLContext | None = None  # set by the server; read at each accept
        # Connections taken per wake-up. With workers > 1 it is 1, so that a burst of
        # connections is spread over the processes instead of landing on the first awake.
        self.accept_batch = 64
        self._later: list[tuple[float, int, Connection, bytes]] = []  # delayed answers
        self._later_lock = threading.Lock()
        self.stopping = False
        self.heartbeat = time.monotonic()  # the watchdog pings only while this moves
        self._drain_deadline = 0.0
        self._stopped = threading.Event()
        self._stopped.set()

    # -- running --------------------------------------------------------------

    def serve_forever(self) -> None:
        self._stopped.clear()
        next_sweep = time.monotonic() + _SWEEP_INTERVAL
        try:
            while not (self.stopping and self._drained()):
                for fd, events in self._epoll.poll(self._poll_timeout()):
                    self._on_event(fd, events)
                now = self.heartbeat = time.monotonic()
                if self._later:
                    self._send_due(now)
                if now >= next_sweep:
                    self._sweep(now)
                    next_sweep = now + _SWEEP_INTERVAL
        finally:
            for conn in list(self._conns.values()):
                self.close(conn)
            self._epoll.close()
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._stopped.set()

    def stop(self, drain_timeout: float) -> None:
        """Stop accepting and drain; returns at once (``wait`` for the end)."""
        self._drain_deadline = time.monotonic() + drain_timeout
        self.stopping = True
        self._wake()

    def wait(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    @property
    def connection_count(self) -> int:
        return len(self._conns)

    def _on_event(self, fd: int, events: int) -> None:
        if fd in self._listeners:
            self._accept(self._listeners[fd])
        elif fd == self._wake_r:
            self._on_wake()
        else:
            conn = self._conns.get(fd)
            if conn is not None and not conn.busy:
                self._on_readable(conn)

    def _drained(self) -> bool:
        if self._listeners:
            for fd, sock in self._listeners.items():
                self._epoll.unregister(fd)
                sock.close()
            self._listeners.clear()
        if time.monotonic() > self._drain_deadline:
            if self._conns:
                log.warning("drain timeout: closing %d connections", len(self._conns))
            return True
        for conn in list(self._conns.values()):
            if not conn.busy and conn.request is None and not conn.buffer \
                    and not _has_pending_bytes(conn.sock):
                self.close(conn)
        return not self._conns

    # -- accepting and reading --------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(self.accept_batch):
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # EMFILE and friends: log, keep serving
                log.error("accept failed: %s", error)
                return
            sock.setblocking(False)
            if sock.family != socket.AF_UNIX:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                client = address[0]
            else:
                client = "unix"
            conn = Connection(sock, client, time.monotonic() + self.limits.header_timeout)
            if len(self._conns) >= self.limits.max_connections:
                self._reject(conn, HTTPError(503, "too many connections",
                                             {"Retry-After": "1"}))
                sock.close()
                continue
            if self.tls is not None:
                try:
                    conn.sock = self.tls.wrap_socket(sock, server_side=True,
                                                     do_handshake_on_connect=False)
                except (OSError, ValueError):
                    sock.close()
                    continue
                conn.handshaking = True
            self._conns[conn.fd] = conn
            self._epoll.register(conn.fd, _ARMED)

    def _on_readable(self, conn: Connection) -> None:
        if conn.handshaking and not self._handshake(conn):
            return
        try:
            data = conn.sock.recv(_READ_SIZE)
            if conn.handshaking is False and isinstance(conn.sock, ssl.SSLSocket):
                while conn.sock.pending():  # decrypted bytes epoll cannot see
                    data += conn.sock.recv(conn.sock.pending())
        except _WOULD_BLOCK:
            self._arm(conn)
            return
        except OSError:
            self.close(conn)
            return
        if not data:
            self.close(conn)
            return
        if not conn.buffer and conn.request is None:
            conn.deadline = time.monotonic() + self.limits.header_timeout
        conn.buffer += data
        self._advance(conn)

    def _advance(self, conn: Connection) -> None:
        """Frame as many complete requests as the buffer holds; dispatch the first."""
        try:
            request = self._frame(conn)
        except HTTPError as error:
            self._reject(conn, error)
            self.close(conn)
            return
        if request is None:
            self._arm(conn)
            return
        request.client = conn.client
        self._dispatch(conn, request)

    def _frame(self, conn: Connection) -> Request | None:
        limits, buffer = self.limits, conn.buffer
        if conn.request is None:
            while buffer[:2] == b"\r\n":  # tolerated before a request line
                del buffer[:2]
            # The request line is judged first: an overlong one is 414 whatever its length.
            if buffer.find(b"\r\n", 0, limits.max_line + 2) < 0 \
                    and len(buffer) >= limits.max_line + 2:
                raise HTTPError(414, "request line too long")
            end = buffer.find(b"\r\n\r\n")
            if end < 0 or end > limits.max_header_bytes:
                if len(buffer) > limits.max_header_bytes:
                    raise HTTPError(431, "request head too large")
                if end < 0:
                    return None
            request = parse_head(bytes(buffer[:end]), limits.max_headers, limits.max_line)
            del buffer[:end + 4]
            if request.content_length > limits.max_body:
                raise HTTPError(413, f"request body larger than {limits.max_body} bytes")
            conn.request = request
            conn.deadline = time.monotonic() + limits.body_timeout
            if request.expects_continue and not buffer and (
                    request.content_length or request.chunked):
                self.send_now(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
        request = conn.request
        if request.chunked:
            if conn.chunks is None:
                conn.chunks = ChunkedDecoder(limits.max_body)
            decoded = conn.chunks.feed(buffer)
            if decoded is None:
                if len(buffer) > 2 * limits.max_body + 65536:
                    raise HTTPError(413, "chunked body too large")
                return None
            conn.chunks = None
            request.body, end = decoded
            del buffer[:end]
        else:
            if len(buffer) < request.content_length:
                return None
            # One copy: slicing the bytearray first would copy the body twice.
            with memoryview(buffer) as view:
                request.body = bytes(view[:request.content_length])
            del buffer[:request.content_length]
        conn.request = None
        return request

    def _handshake(self, conn: Connection) -> bool:
        """Advance a TLS handshake; True once it is done and data may be read."""
        try:
            conn.sock.do_handshake()
        except ssl.SSLWantReadError:
            self._arm(conn)
            return False
        except ssl.SSLWantWriteError:
            self._arm(conn, _ARMED_WRITE)
            return False
        except (OSError, ValueError) as error:  # bad client hello, plain HTTP on a TLS port
            log.info("%s TLS handshake failed: %s", conn.client, error)
            self.close(conn)
            return False
        conn.handshaking = False
        return True

    def _arm(self, conn: Connection, events: int = _ARMED) -> None:
        try:
            self._epoll.modify(conn.fd, events)
        except (OSError, ValueError):  # closed meanwhile
            self.close(conn)

    def _sweep(self, now: float) -> None:
        for conn in list(self._conns.values()):
            if not conn.busy and now > conn.deadline:
                if conn.request is not None or conn.buffer:
                    self._reject(conn, HTTPError(408, "request not received in time"))
                self.close(conn)

    # -- handing connections between threads ------------------------------------

    def take(self, conn: Connection) -> None:
        """Mark ``conn`` as owned by a worker (called on the loop thread)."""
        conn.busy = True

    def finish(self, conn: Connection, keep_alive: bool) -> None:
        """A worker is done with ``conn``: keep it for the next request, or close it."""
        if not keep_alive or self.stopping and not conn.buffer:
            self.close(conn)
            return
        conn.deadline = time.monotonic() + self.limits.idle_timeout
        conn.busy = False
        if conn.buffer:  # a pipelined request is already here: the loop frames it
            self._handback.append(conn)
            self._wake()
        else:
            self._arm(conn)

    def next_request(self, conn: Connection, wait: float) -> Request | None:
        """A worker that has just answered ``conn`` waits up to ``wait`` s for its next request.

        Returns a complete request, the connection still owned by the worker; or None,
        and the connection is back with the loop (or closed). A client that sends its
        calls back to back then skips the loop's hand-off; the dispatcher lets a worker
        wait only while its pool has threads to spare.
        """
        if self.stopping:
            self.finish(conn, True)
            return None
        if not conn.buffer:
            if not _wait_readable(conn.fd, wait):
                self.finish(conn, True)
                return None
            try:
                data = conn.sock.recv(_READ_SIZE)
                if isinstance(conn.sock, ssl.SSLSocket):
                    while conn.sock.pending():
                        data += conn.sock.recv(conn.sock.pending())
            except _WOULD_BLOCK:
                self.finish(conn, True)
                return None
            except OSError:
                data = b""
            if not data:
                self.close(conn)
                return None
            conn.deadline = time.monotonic() + self.limits.header_timeout
            conn.buffer += data
        try:
            request = self._frame(conn)
        except HTTPError as error:
            self._reject(conn, error)
            self.close(conn)
            return None
        if request is None:  # only part of it: the loop reads the rest
            conn.busy = False
            self._arm(conn)
            return None
        request.client = conn.client
        return request

    def send_later(self, conn: Connection, data: bytes, delay: float) -> None:
        """Answer ``conn`` after ``delay`` seconds and close it, without holding a thread."""
        conn.busy = True
        with self._later_lock:
            heapq.heappush(self._later, (time.monotonic() + delay, id(conn), conn, data))
        self._wake()

    def _send_due(self, now: float) -> None:
        while True:
            with self._later_lock:
                if not self._later or self._later[0][0] > now:
                    return
                _, _, conn, data = heapq.heappop(self._later)
            self.send_now(conn, data)
            self.close(conn)

    def _poll_timeout(self) -> float:
        with self._later_lock:
            if self._later:
                return max(0.0, min(_SWEEP_INTERVAL, self._later[0][0] - time.monotonic()))
        return _SWEEP_INTERVAL

    def _on_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        while self._handback:
            conn = self._handback.popleft()
            if conn.fd in self._conns:
                self._advance(conn)

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    # -- writing and closing ------------------------------------------------------

    def send_now(self, conn: Connection, data: bytes) -> bool:
        """Write all of ``data``, waiting at most the write timeout for a slow reader."""
        view = memoryview(data)
        deadline = None
        while view:
            try:
                sent = conn.sock.send(view)
                view = view[sent:]
            except _WOULD_BLOCK:
                now = time.monotonic()
                deadline = deadline or now + self.limits.write_timeout
                if now >= deadline or not _wait_writable(conn.fd, deadline - now):
                    return False
            except OSError:
                return False
        return True

    def close(self, conn: Connection) -> None:
        if self._conns.pop(conn.fd, None) is None:
            return
        try:
            conn.sock.close()
        except OSError:
            pass


def _wait_readable(fd: int, timeout: float) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLRDHUP)
    try:
        return bool(poller.poll(timeout * 1000))
    except InterruptedError:
        return False


def _wait_writable(fd: int, timeout: float) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    try:
        return bool(poller.poll(timeout * 1000))
    except InterruptedError:
        return True


def _has_pending_bytes(sock: socket.socket) -> bool:
    """True when a request has arrived but is not read yet: it is not idle, so keep it."""
    try:
        # the plain socket's recv: for TLS, any raw record means the peer is not idle
        return bool(socket.socket.recv(sock, 1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except OSError:
        return False
