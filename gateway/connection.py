"""One accepted connection: its socket, framing state and pending answer.

Two calls are for any thread: ``reply`` and ``reply_later`` hand an answer to
the connection loop, which owns everything else here. The socket operations
below never block (the socket is non-blocking) and are called by the thread
that owns the connection: the loop thread, except while a worker holds the
connection's request (``BUSY``), when the worker may write its own answer
(``write_own_answer``). Each returns what happened instead of raising, so the
loop's state machine reads as a list of cases.
"""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Any

from gateway.http import RequestReader

READ_SIZE = 256 * 1024
WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
HANDSHAKE, READING, BUSY, WRITING, CLOSING, CLOSED = (
    "handshake", "reading", "busy", "writing", "closing", "closed")
DONE, WANT_READ, WANT_WRITE, PLAINTEXT, FAILED = (
    "done", "want-read", "want-write", "plaintext", "failed")


class Connection:
    """A connection's state: ``READING`` (the loop reads), ``BUSY`` (a handler owns the
    request), ``WRITING`` (an answer waits for EPOLLOUT), ``CLOSING`` (half-closed,
    draining), plus ``HANDSHAKE`` for TLS and ``CLOSED``."""

    __slots__ = ("_post", "sock", "fd", "client", "reader", "state", "deadline", "out", "keep",
                 "held", "_owned")

    def __init__(self, post: Any, sock: socket.socket, client: str, reader: RequestReader,
                 state: str, deadline: float) -> None:
        self._post = post
        self.sock = sock
        self.fd = sock.fileno()
        self.client = client
        self.reader = reader
        self.state = state
        self.deadline = deadline
        self.out: memoryview | None = None  # the answer being written
        self.keep = False  # keep the connection open once ``out`` is written
        self.held = 0  # bytes of the answer counted in LoopStatus.unsent until it is out
        self._owned = threading.Lock()  # a worker's own write against the loop's close

    # -- any thread ----------------------------------------------------------------

    def reply(self, data: bytes, keep_alive: bool, write_here: bool = False) -> None:
        """Hand the answer to the loop, which writes it; ``write_here``: a worker whose
        pool is otherwise idle may write it itself (``write_own_answer``)."""
        self._post(self, data, keep_alive, 0.0, write_here)

    def reply_later(self, data: bytes, delay: float) -> None:
        """Answer after ``delay`` seconds, then close; the pause holds no thread."""
        self._post(self, data, False, delay, False)

    # -- the worker holding the request ------------------------------------------------

    def write_own_answer(self, data: bytes, idle_deadline: float, epoll: Any,
                         events: int) -> bytes | None:
        """Write the answer from the worker's thread; what the loop must still write.

        The common case, a small answer the socket takes whole with no pipelined
        request behind it, then needs no hand-off at all: the connection goes back to
        ``READING`` and epoll is re-armed here, so the loop wakes only for the next
        request. Anything else (a partial write, pipelined bytes) is handed back. The
        lock makes this and ``close_socket`` exclusive, so the loop can still close a
        busy connection at the drain deadline without the fd being reused under us.
        """
        with self._owned:
            if self.state is not BUSY:
                return None  # closed meanwhile: nobody is waiting for it
            if self.reader.pending:
                return data
            try:
                sent = self.sock.send(data)
            except WOULD_BLOCK:
                return data
            except OSError:
                return data  # the loop sees the failure again and closes
            if sent < len(data):
                return data[sent:]
            self.deadline, self.state = idle_deadline, READING
            try:
                epoll.modify(self.fd, events)
            except (OSError, ValueError):  # the loop has ended
                pass
            return None

    # -- the loop thread only -------------------------------------------------------

    def receive(self) -> bytes | None:
        """The bytes that arrived; b"" once the peer has closed or failed; None: none yet."""
        try:
            data = self.sock.recv(READ_SIZE)
            if isinstance(self.sock, ssl.SSLSocket):
                while self.sock.pending():  # decrypted bytes epoll cannot see
                    data += self.sock.recv(self.sock.pending())
        except WOULD_BLOCK:
            return None
        except OSError:
            return b""
        return data

    def write_out(self) -> bool | None:
        """Write what the socket takes: True when ``out`` is all written, False when the
        rest must wait for EPOLLOUT, None when the peer is gone."""
        try:
            while self.out:
                sent = self.sock.send(self.out)
                self.out = self.out[sent:]
        except WOULD_BLOCK:
            return False
        except OSError:
            return None
        self.out = None
        return True

    def handshake(self) -> str:
        """Advance a TLS handshake: DONE, WANT_READ, WANT_WRITE, PLAINTEXT or FAILED."""
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            return WANT_READ
        except ssl.SSLWantWriteError:
            return WANT_WRITE
        except ssl.SSLError as error:
            return PLAINTEXT if error.reason == "HTTP_REQUEST" else FAILED
        except (OSError, ValueError):
            return FAILED
        return DONE

    def send_raw(self, data: bytes) -> None:
        """Best effort, below TLS: an interim 100 or a plain-HTTP refusal on a TLS port.

        Tiny and first on the wire; if the socket will not take it now, the client's
        own wait (curl: 1 s for a 100) carries on without it."""
        try:
            socket.socket.send(self.sock, data)
        except OSError:
            pass

    def send_interim(self, data: bytes) -> None:
        try:
            self.sock.send(data)
        except OSError:
            pass

    def half_close(self) -> bool:
        try:
            socket.socket.shutdown(self.sock, socket.SHUT_WR)
            return True
        except OSError:
            return False

    def discard_input(self) -> bool:
        """Read and drop what the peer sends; True once it has closed (or failed)."""
        try:
            for _ in range(16):  # a fast sender cannot keep the loop here
                if not socket.socket.recv(self.sock, READ_SIZE):
                    return True
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        return False

    def has_unread_bytes(self) -> bool:
        """True when bytes have arrived that nobody has read: the peer is not idle."""
        try:
            # the plain socket's recv: for TLS, any raw record means the peer is not idle
            return bool(socket.socket.recv(self.sock, 1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except OSError:
            return False

    def close_socket(self) -> None:
        with self._owned:
            self.state, self.out, self.held = CLOSED, None, 0
            try:
                self.sock.close()
            except OSError:
                pass
