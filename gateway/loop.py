"""The connection loop: one thread at a time owns every socket, epoll and connection buffer.

Thread-ownership rule: only the loop's thread (the *leader*, see
``gateway.leadership``) touches epoll, the connection table or a connection in
``READING``, ``WRITING`` or ``CLOSING``. A connection in ``BUSY`` belongs to
the thread answering its request, which hands the answer back with one call,
``conn.reply(data, keep_alive)``: the loop writes it (woken by an eventfd), or
the answering thread writes it itself with one non-blocking send when that
takes it whole (``Connection.write_own_answer``). Lone calls run on the
leader's own thread, at the end of a loop iteration; a standby thread takes
the loop over if one runs long. So:
1. The loop never blocks on a peer. A client that sends nothing, trickles
   bytes or never reads its answer costs its buffers, never a thread.
2. A worker thread is taken only by a complete request (head and body read,
   framed by ``gateway.http.RequestReader``) and is free as soon as the answer
   is computed. Idle keep-alive connections hold no thread, whatever their number.
3. Output is bounded: a connection is not read again until its answer is
   written, so it holds at most one answer; a reader slower than
   ``write_timeout`` is dropped; and while the answers waiting for slow readers
   pass a budget (``LoopStatus.unsent``, see ``routing.UNSENT_BUDGET``), new
   calls are refused 503 instead of computed.
4. Every phase has a deadline: headers, body, idle keep-alive, write, close.
5. On stop: listeners close, idle connections close, requests in flight and
   requests already being received finish (answered with Connection: close)
   until the drain deadline.
"""

from __future__ import annotations

import logging
import math
import select
import socket
import ssl
import threading
import time
from typing import Callable, Protocol

from gateway.accepting import Acceptor, send_and_close
from gateway.connection import (BUSY, CLOSING, DONE, HANDSHAKE, PLAINTEXT, READING,
                                WANT_READ, WANT_WRITE, WRITING, Connection)
from gateway.handoff import Handoff
from gateway.http import CONTINUE, HTTPError, Request, RequestReader
from gateway.leadership import Leadership
from gateway.polling import SpinningPoll
from gateway.reply import plain_error

log = logging.getLogger(__name__)

_READ = select.EPOLLIN | select.EPOLLONESHOT | select.EPOLLRDHUP
_WRITE = select.EPOLLOUT | select.EPOLLONESHOT
_READ_WRITE = _READ | select.EPOLLOUT  # a TLS handshake waiting to write
_SWEEP_INTERVAL = 0.25
_CLOSE_LINGER = 2.0  # seconds a refused client may take to stop sending before we close
_CONTINUE_BYTES = b"HTTP/1.1 100 Continue\r\n\r\n"
_TLS_REQUIRED = plain_error(400, "this port speaks TLS: use https:// (plain HTTP was sent)")


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
        self.unsent = 0  # bytes of answers handed to the loop and not yet written out


class Handler(Protocol):
    """What the loop calls, on its own thread; each must end in ``conn.reply``."""

    def on_request(self, conn: "Connection", request: Request) -> None: ...

    def on_error(self, conn: "Connection", error: HTTPError, head: Request | None) -> None: ...


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
        self._poller = SpinningPoll(self._epoll)
        self._acceptor = Acceptor(self._epoll, listeners, accept_batch)
        self._conns: dict[int, Connection] = {}
        self._handoff = Handoff(self._epoll)
        self.heartbeat = time.monotonic()  # the watchdog pings only while this moves
        self._drain_deadline = 0.0
        self._next_sweep = 0.0
        self._lead = Leadership(self._on_lead)  # replaced by serve_forever's thread
        self._stopped = threading.Event()
        self._stopped.set()

    # -- running --------------------------------------------------------------

    def serve_forever(self) -> None:
        """Lead the loop from this thread, with a standby beside it, until it has ended."""
        self._stopped.clear()
        self._lead = Leadership(self._on_lead)
        self._lead.serve(self._iterate_while_leading, self._end)

    def _on_lead(self, me: int) -> None:
        self._handoff.owner = me  # the leader's own posts need no wake-up

    def _iterate_while_leading(self, me: int) -> bool:
        """Run the loop while this thread leads; True once it has ended (stopped, drained)."""
        lead = self._lead
        try:
            while not (self.status.stopping and self._drained()):
                for fd, events in self._poller.poll(self._poll_timeout()):
                    self._on_event(fd, events)
                now = self.heartbeat = time.monotonic()
                self._acceptor.tick(now)
                if now >= self._next_sweep:
                    self._sweep(now)
                    self._next_sweep = now + _SWEEP_INTERVAL
                if self.status.stopping:
                    lead.submit_all()
                elif not lead.run_ready(me):
                    return False  # the standby leads now; this thread stands by
                self._write_answers(time.monotonic())
        except Exception:  # a bug: the loop ends cleanly rather than leaving sockets open
            log.exception("connection loop failed")
        return True

    def _end(self) -> None:
        for conn in list(self._conns.values()):
            self.close(conn)
        self._acceptor.close()
        self._epoll.close()
        self._handoff.close()
        self._stopped.set()

    def offer(self, job: Callable[[], None], submit: Callable[[Callable[[], None]], None]) -> None:
        """Run a call's job: on the loop's thread when a standby is free, else ``submit``."""
        self._lead.offer(job, submit)

    def stop(self, drain_timeout: float) -> None:
        """Stop accepting and drain; returns at once (``wait`` for the end)."""
        self._drain_deadline = time.monotonic() + drain_timeout
        self.status.stopping = True
        self._handoff.wake()

    def wait(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    def _on_event(self, fd: int, events: int) -> None:
        if self._acceptor.owns(fd):
            for sock, client in self._acceptor.accept(fd, time.monotonic()):
                self._add(sock, client)
        elif fd == self._handoff.fd:
            self._handoff.on_wake()
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
                    not conn.reader.pending and not conn.has_unread_bytes():
                self.close(conn)
        return not self._conns

    def _poll_timeout(self) -> float:
        if self._lead.has_ready or self._handoff.has_posts:
            return 0.0
        first = min(self._handoff.next_due(), self._acceptor.resume_at)
        if first == math.inf:
            return _SWEEP_INTERVAL
        return max(0.0, min(_SWEEP_INTERVAL, first - time.monotonic()))

    # -- accepting and reading --------------------------------------------------

    def _add(self, sock: socket.socket, client: str) -> None:
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
        conn = Connection(self._post, sock, client, RequestReader(self.limits), state,
                          time.monotonic() + self.limits.header_timeout)
        self._conns[conn.fd] = conn
        self.status.connections = len(self._conns)
        self._epoll.register(conn.fd, _READ)

    def _handshake(self, conn: Connection) -> None:
        """Advance a TLS handshake; read once it is done."""
        result = conn.handshake()
        if result is DONE:
            conn.state = READING
            self._read(conn)
        elif result is WANT_READ or result is WANT_WRITE:
            self._arm(conn, _READ if result is WANT_READ else _READ_WRITE)
        elif result is PLAINTEXT:  # answered in plain HTTP, as nginx does
            log.info("%s sent plain HTTP to a TLS port", conn.client)
            conn.send_raw(_TLS_REQUIRED)
            self._linger(conn)
        else:
            log.info("%s TLS handshake failed", conn.client)
            self.close(conn)

    def _read(self, conn: Connection) -> None:
        data = conn.receive()
        if data is None:
            self._arm(conn, _READ)
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
                conn.send_interim(_CONTINUE_BYTES)
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

    def _post(self, conn: Connection, data: bytes, keep: bool, delay: float,
              write_here: bool) -> None:
        """``Connection.reply``: a worker writes a kept-alive answer itself when asked to."""
        if write_here and keep and not self.status.stopping:
            rest = conn.write_own_answer(data, time.monotonic() + self.limits.idle_timeout,
                                         self._epoll, _READ)
            if rest is None:
                return
            data = rest
        self._handoff.post(conn, data, keep, delay)

    def _write_answers(self, now: float) -> None:
        if not self._handoff.waiting:
            return
        for conn, data, keep in self._handoff.take(now):
            if conn.state is BUSY:  # else closed meanwhile (drain timeout, loop ending)
                conn.out, conn.keep, conn.held = memoryview(data), keep, len(data)
                self.status.unsent += conn.held
                self._flush(conn)

    # -- writing and closing ------------------------------------------------------

    def _flush(self, conn: Connection) -> None:
        """Write what the socket takes now; wait for EPOLLOUT for the rest."""
        done = conn.write_out()
        if done:
            self._written(conn)
        elif done is None:
            self.close(conn)
        else:
            if conn.state is not WRITING:
                conn.state = WRITING
                conn.deadline = time.monotonic() + self.limits.write_timeout
            self._arm(conn, _WRITE)

    def _written(self, conn: Connection) -> None:
        """The answer is out: read the next request, or close."""
        self.status.unsent -= conn.held
        conn.held = 0
        reader = conn.reader
        if not conn.keep or self.status.stopping and not reader.pending:
            if reader.pending or conn.has_unread_bytes():
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
        if not conn.half_close():
            self.close(conn)
            return
        conn.state = CLOSING
        conn.deadline = time.monotonic() + min(_CLOSE_LINGER, self.limits.write_timeout)
        self._arm(conn, _READ)

    def _discard(self, conn: Connection) -> None:
        if conn.discard_input():
            self.close(conn)
        else:
            self._arm(conn, _READ)

    def close(self, conn: Connection) -> None:
        if self._conns.get(conn.fd) is not conn:
            return
        del self._conns[conn.fd]
        self.status.connections = len(self._conns)
        self.status.unsent -= conn.held
        conn.close_socket()
