"""The connection loop: one thread owns every socket, epoll and connection buffer.

Thread-ownership rule: only the loop thread touches epoll, a connection's
socket or its buffers. A worker that has computed an answer hands it over with
one call, ``conn.reply(data, keep_alive)``; the loop wakes (an eventfd) and
writes it without blocking. So:
1. The loop never blocks on a peer. A client that sends nothing, trickles
   bytes or never reads its answer costs its buffers, never a thread.
2. A worker thread is taken only by a complete request (head and body read,
   framed by ``gateway.http.RequestReader``) and is free as soon as the answer
   is computed. Idle keep-alive connections hold no thread, whatever their number.
3. Output is bounded per connection: it is not read again until its answer is
   written, so it holds at most one answer; a reader slower than
   ``write_timeout`` is dropped.
4. Every phase has a deadline: headers, body, idle keep-alive, write, close.
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
from typing import Any, Protocol

from gateway.accepting import Acceptor, send_and_close
from gateway.http import CONTINUE, HTTPError, Request, RequestReader
from gateway.reply import plain_error

log = logging.getLogger(__name__)

_READ = select.EPOLLIN | select.EPOLLONESHOT | select.EPOLLRDHUP
_WRITE = select.EPOLLOUT | select.EPOLLONESHOT
_READ_WRITE = _READ | select.EPOLLOUT  # a TLS handshake waiting to write
_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
_READ_SIZE = 256 * 1024
_SWEEP_INTERVAL = 0.25
_CLOSE_LINGER = 2.0  # seconds a refused client may take to stop sending before we close
_CONTINUE_BYTES = b"HTTP/1.1 100 Continue\r\n\r\n"
HANDSHAKE, READING, BUSY, WRITING, CLOSING, CLOSED = (
    "handshake", "reading", "busy", "writing", "closing", "closed")


class Limits:
    """The framing limits and deadlines the loop enforces (a view of the config)."""

    def __init__(self, max_body: int = 4 << 20, max_header_bytes: int = 16384,
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


class LoopStatus:
    """What the loop publishes (health, STATUS=): written by the loop, read anywhere."""

    def __init__(self) -> None:
        self.stopping = False
        self.connections = 0


class Handler(Protocol):
    """What the loop calls, on its own thread; each must end in ``conn.reply``."""

    def on_request(self, conn: "Connection", request: Request) -> None: ...

    def on_error(self, conn: "Connection", error: HTTPError, head: Request | None) -> None: ...


class Connection:
    """One accepted socket, its framing state and its pending answer; owned by the loop."""

    __slots__ = ("_loop", "sock", "fd", "client", "reader", "state", "deadline", "out", "keep")

    def __init__(self, loop: "ConnectionLoop", sock: socket.socket, client: str,
                 reader: RequestReader, state: str, deadline: float) -> None:
        self._loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.client = client
        self.reader = reader
        self.state = state
        self.deadline = deadline
        self.out: memoryview | None = None  # the answer being written
        self.keep = False  # keep the connection open once ``out`` is written

    def reply(self, data: bytes, keep_alive: bool) -> None:
        """Hand the answer to the loop, from any thread; the loop writes it."""
        self._loop.post(self, data, keep_alive, 0.0)

    def reply_later(self, data: bytes, delay: float) -> None:
        """Answer after ``delay`` seconds, then close; the pause holds no thread."""
        self._loop.post(self, data, False, delay)


class ConnectionLoop:
    """Accepts on every listener, frames requests, and writes the answers handed back."""

    def __init__(self, listeners: list[socket.socket], limits: Limits, handler: Handler,
                 status: LoopStatus, tls: ssl.SSLContext | None = None,
                 accept_batch: int = 64) -> None:
        self.limits = limits  # replaced whole on reload, read at each use
        self.tls = tls  # idem, read at each accept
        self.status = status
        self._handler = handler
        self._epoll = select.epoll()
        self._acceptor = Acceptor(self._epoll, listeners, accept_batch)
        self._conns: dict[int, Connection] = {}
        self._inbox: collections.deque[tuple[Connection, bytes, bool, float]] = \
            collections.deque()
        self._later: list[tuple[float, int, Connection, bytes]] = []  # delayed answers
        self._wakefd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._wake_pending = False
        self._epoll.register(self._wakefd, select.EPOLLIN)
        self._thread: int | None = None
        self.heartbeat = time.monotonic()  # the watchdog pings only while this moves
        self._drain_deadline = 0.0
        self._stopped = threading.Event()
        self._stopped.set()

    # -- running --------------------------------------------------------------

    def serve_forever(self) -> None:
        self._thread = threading.get_ident()
        self._stopped.clear()
        next_sweep = time.monotonic() + _SWEEP_INTERVAL
        try:
            while not (self.status.stopping and self._drained()):
                for fd, events in self._epoll.poll(self._poll_timeout()):
                    self._on_event(fd, events)
                now = self.heartbeat = time.monotonic()
                self._send_due(now)
                self._acceptor.tick(now)
                if now >= next_sweep:
                    self._sweep(now)
                    next_sweep = now + _SWEEP_INTERVAL
                self._take_replies()
        finally:
            for conn in list(self._conns.values()):
                self.close(conn)
            self._acceptor.close()
            self._epoll.close()
            os.close(self._wakefd)
            self._stopped.set()

    def stop(self, drain_timeout: float) -> None:
        """Stop accepting and drain; returns at once (``wait`` for the end)."""
        self._drain_deadline = time.monotonic() + drain_timeout
        self.status.stopping = True
        self._wake()

    def wait(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    @property
    def connection_count(self) -> int:
        return len(self._conns)

    def _on_event(self, fd: int, events: int) -> None:
        if self._acceptor.owns(fd):
            for sock, address in self._acceptor.accept(fd, time.monotonic()):
                self._add(sock, address)
        elif fd == self._wakefd:
            self._on_wake()
        else:
            conn = self._conns.get(fd)
            if conn is None:
                return
            if conn.state is READING:
                self._read(conn)
            elif conn.state is WRITING:
                self._flush(conn)
            elif conn.state is HANDSHAKE:
                self._handshake(conn)
            elif conn.state is CLOSING:
                self._discard(conn)

    def _drained(self) -> bool:
        self._acceptor.close()
        if time.monotonic() > self._drain_deadline:
            if self._conns:
                log.warning("drain timeout: closing %d connections", len(self._conns))
            return True
        for conn in list(self._conns.values()):
            if conn.state is CLOSING or conn.state in (READING, HANDSHAKE) and \
                    not conn.reader.pending and not _has_pending_bytes(conn.sock):
                self.close(conn)
        return not self._conns

    def _poll_timeout(self) -> float:
        timeout, now = _SWEEP_INTERVAL, time.monotonic()
        if self._later:
            timeout = min(timeout, max(0.0, self._later[0][0] - now))
        resting = self._acceptor.timeout(now)
        return timeout if resting is None else min(timeout, resting)

    # -- accepting and reading --------------------------------------------------

    def _add(self, sock: socket.socket, address: Any) -> None:
        sock.setblocking(False)
        if sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client = address[0]
        else:
            client = "unix"
        if len(self._conns) >= self.limits.max_connections:
            log.info("%s refused: %d connections open", client, len(self._conns))
            send_and_close(sock, plain_error(503, "too many connections", {"Retry-After": "1"}))
            return
        state = READING
        if self.tls is not None:
            try:
                sock = self.tls.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False)
            except (OSError, ValueError):
                sock.close()
                return
            state = HANDSHAKE
        conn = Connection(self, sock, client, RequestReader(self.limits), state,
                          time.monotonic() + self.limits.header_timeout)
        self._conns[conn.fd] = conn
        self.status.connections = len(self._conns)
        self._epoll.register(conn.fd, _READ)

    def _handshake(self, conn: Connection) -> None:
        """Advance a TLS handshake; read once it is done."""
        try:
            conn.sock.do_handshake()
        except ssl.SSLWantReadError:
            self._arm(conn, _READ)
            return
        except ssl.SSLWantWriteError:
            self._arm(conn, _READ_WRITE)
            return
        except ssl.SSLError as error:
            if error.reason == "HTTP_REQUEST":  # plain HTTP sent to the TLS port
                self._refuse_plaintext(conn)
                return
            log.info("%s TLS handshake failed: %s", conn.client, error)
            self.close(conn)
            return
        except (OSError, ValueError) as error:
            log.info("%s TLS handshake failed: %s", conn.client, error)
            self.close(conn)
            return
        conn.state = READING
        self._read(conn)

    def _refuse_plaintext(self, conn: Connection) -> None:
        """Answer in plain HTTP, as nginx does, then close once the client has stopped."""
        log.info("%s sent plain HTTP to a TLS port", conn.client)
        try:
            socket.socket.send(conn.sock, plain_error(
                400, "this port speaks TLS: use https:// (plain HTTP was sent)"))
        except OSError:
            pass
        self._linger(conn)

    def _read(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(_READ_SIZE)
            if isinstance(conn.sock, ssl.SSLSocket):
                while conn.sock.pending():  # decrypted bytes epoll cannot see
                    data += conn.sock.recv(conn.sock.pending())
        except _WOULD_BLOCK:
            self._arm(conn, _READ)
            return
        except OSError:
            self.close(conn)
            return
        if not data:
            self.close(conn)
            return
        if not conn.reader.pending:
            conn.deadline = time.monotonic() + self.limits.header_timeout
        conn.reader.feed(data)
        self._advance(conn)

    def _advance(self, conn: Connection) -> None:
        """Take the next complete request from the reader and hand it to the handler."""
        reader = conn.reader
        had_head = reader.head is not None
        try:
            event = reader.next_event()
            if event is CONTINUE:
                _send_interim(conn.sock, _CONTINUE_BYTES)
                event = reader.next_event()
        except HTTPError as error:
            conn.state = BUSY
            self._handler.on_error(conn, error, reader.head)
            return
        if event is None:
            if reader.head is not None and not had_head:
                conn.deadline = time.monotonic() + self.limits.body_timeout
            self._arm(conn, _READ)
            return
        conn.state = BUSY
        event.client = conn.client
        self._handler.on_request(conn, event)

    def _arm(self, conn: Connection, events: int) -> None:
        try:
            self._epoll.modify(conn.fd, events)
        except (OSError, ValueError):  # closed meanwhile
            self.close(conn)

    def _sweep(self, now: float) -> None:
        for conn in list(self._conns.values()):
            if conn.state is BUSY or now <= conn.deadline:
                continue
            if conn.state is READING and conn.reader.pending:
                conn.state = BUSY
                self._handler.on_error(conn, HTTPError(408, "request not received in time"),
                                       conn.reader.head)
            else:
                self.close(conn)

    # -- answers handed back ------------------------------------------------------

    def post(self, conn: Connection, data: bytes, keep_alive: bool, delay: float) -> None:
        """Queue an answer for the loop to write (any thread); see ``Connection.reply``."""
        self._inbox.append((conn, data, keep_alive, delay))
        if threading.get_ident() != self._thread and not self._wake_pending:
            self._wake_pending = True
            self._wake()

    def _on_wake(self) -> None:
        try:
            os.eventfd_read(self._wakefd)
        except BlockingIOError:
            pass
        self._wake_pending = False

    def _wake(self) -> None:
        try:
            os.eventfd_write(self._wakefd, 1)
        except (BlockingIOError, OSError):
            pass

    def _take_replies(self) -> None:
        inbox = self._inbox
        while inbox:
            conn, data, keep, delay = inbox.popleft()
            if conn.state is not BUSY:  # closed meanwhile (drain timeout, loop ending)
                continue
            if delay:
                heapq.heappush(self._later, (time.monotonic() + delay, id(conn), conn, data))
                continue
            conn.out, conn.keep = memoryview(data), keep
            self._flush(conn)

    def _send_due(self, now: float) -> None:
        while self._later and self._later[0][0] <= now:
            _, _, conn, data = heapq.heappop(self._later)
            if conn.state is BUSY:
                conn.out, conn.keep = memoryview(data), False
                self._flush(conn)

    # -- writing and closing ------------------------------------------------------

    def _flush(self, conn: Connection) -> None:
        """Write what the socket takes now; wait for EPOLLOUT for the rest."""
        try:
            while conn.out:
                sent = conn.sock.send(conn.out)
                conn.out = conn.out[sent:]
        except _WOULD_BLOCK:
            if conn.state is not WRITING:
                conn.state = WRITING
                conn.deadline = time.monotonic() + self.limits.write_timeout
            self._arm(conn, _WRITE)
            return
        except OSError:
            self.close(conn)
            return
        conn.out = None
        self._written(conn)

    def _written(self, conn: Connection) -> None:
        """The answer is out: read the next request, or close."""
        reader = conn.reader
        if not conn.keep or self.status.stopping and not reader.pending:
            if reader.pending or _has_pending_bytes(conn.sock):
                self._linger(conn)
            else:
                self.close(conn)
            return
        conn.state = READING
        if reader.pending:  # a pipelined request is already here
            conn.deadline = time.monotonic() + self.limits.header_timeout
            self._advance(conn)
        else:
            conn.deadline = time.monotonic() + self.limits.idle_timeout
            self._arm(conn, _READ)

    def _linger(self, conn: Connection) -> None:
        """Half-close and read what the client still sends, so that closing sends no
        reset that could destroy the answer before the client has read it."""
        try:
            socket.socket.shutdown(conn.sock, socket.SHUT_WR)
        except OSError:
            self.close(conn)
            return
        conn.state = CLOSING
        conn.deadline = time.monotonic() + min(_CLOSE_LINGER, self.limits.write_timeout)
        self._arm(conn, _READ)

    def _discard(self, conn: Connection) -> None:
        try:
            for _ in range(16):  # a fast sender cannot keep the loop here
                if not socket.socket.recv(conn.sock, _READ_SIZE):
                    break
            else:
                self._arm(conn, _READ)
                return
        except (BlockingIOError, InterruptedError):
            self._arm(conn, _READ)
            return
        except OSError:
            pass
        self.close(conn)

    def close(self, conn: Connection) -> None:
        if self._conns.get(conn.fd) is not conn:
            return
        del self._conns[conn.fd]
        self.status.connections = len(self._conns)
        conn.state, conn.out = CLOSED, None
        try:
            conn.sock.close()
        except OSError:
            pass


def _send_interim(sock: socket.socket, data: bytes) -> None:
    """A 1xx answer is tiny and goes first: if the socket will not take it now, the
    client's own wait (curl: 1 s) sends the body anyway."""
    try:
        sock.send(data)
    except OSError:
        pass


def _has_pending_bytes(sock: socket.socket) -> bool:
    """True when a request has arrived but is not read yet: it is not idle, so keep it."""
    try:
        # the plain socket's recv: for TLS, any raw record means the peer is not idle
        return bool(socket.socket.recv(sock, 1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except OSError:
        return False
