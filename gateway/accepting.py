"""Taking connections off the listening sockets, and what happens when descriptors run out.

Under fd exhaustion (EMFILE/ENFILE) a listener stays readable, so a loop that
retried at once would spin at 100% of a core and log each failure. Instead:
- the listeners leave epoll for ``BACKOFF`` seconds (nothing spins);
- a reserve descriptor is closed to accept one waiting connection, which is
  answered 503 with Retry-After and closed, then the reserve is reopened, so a
  client is told "later" instead of hanging in the backlog;
- the episode is logged once when it starts and once when accepting has worked
  for ``QUIET`` seconds again, with the count of connections refused meanwhile.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import select
import socket

from gateway.reply import plain_error

log = logging.getLogger(__name__)

BACKOFF = 0.1  # seconds the listeners rest after an EMFILE/ENFILE
QUIET = 5.0  # seconds without one before the episode is over
_EXHAUSTED = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_LISTENING = select.EPOLLIN | select.EPOLLEXCLUSIVE  # with workers > 1 one process wakes


class Acceptor:
    """The listening sockets of one connection loop, registered in its epoll."""

    def __init__(self, epoll: select.epoll, listeners: list[socket.socket], batch: int) -> None:
        self._epoll = epoll
        self._listeners = {sock.fileno(): sock for sock in listeners}
        # Connections taken per wake-up. With workers > 1 it is 1, so that a burst of
        # connections is spread over the processes instead of landing on the first awake.
        self.batch = batch
        self._reserve = _open_reserve()
        self._resume_at = 0.0  # while > 0, the listeners are out of epoll
        self._last_exhausted = 0.0
        self._refused = 0  # connections refused in the current episode
        self._episode = False
        for fd, sock in self._listeners.items():
            sock.setblocking(False)
            self._epoll.register(fd, _LISTENING)

    def owns(self, fd: int) -> bool:
        return fd in self._listeners

    def accept(self, fd: int, now: float) -> list[tuple[socket.socket, str]]:
        """Up to ``batch`` new connections from the listener ``fd``: (non-blocking socket,
        client address, "unix" for a Unix socket)."""
        listener, accepted = self._listeners[fd], []
        for _ in range(self.batch):
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:
                if error.errno not in _EXHAUSTED:
                    log.warning("accept failed: %s", error)
                    break
                self._exhausted(listener, error, now)
                break
            sock.setblocking(False)
            if sock.family == socket.AF_UNIX:
                accepted.append((sock, "unix"))
            else:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                accepted.append((sock, address[0]))
        return accepted

    @property
    def resume_at(self) -> float:
        """When resting listeners come back (monotonic clock); inf if they are not resting."""
        return self._resume_at or math.inf

    def tick(self, now: float) -> None:
        """Put resting listeners back, and end an episode that has gone quiet."""
        if self._resume_at and now >= self._resume_at:
            self._resume_at = 0.0
            for fd in self._listeners:
                self._epoll.register(fd, _LISTENING)
        if self._episode and now - self._last_exhausted > QUIET:
            self._episode = False
            log.warning("file descriptors available again: accepting; %d connections were "
                        "refused with 503 while they ran out", self._refused)

    def close(self) -> None:
        for fd, sock in self._listeners.items():
            if not self._resume_at:
                self._epoll.unregister(fd)
            sock.close()
        self._listeners.clear()
        self._resume_at = 0.0
        if self._reserve is not None:
            os.close(self._reserve)
            self._reserve = None

    def _exhausted(self, listener: socket.socket, error: OSError, now: float) -> None:
        self._last_exhausted = now
        if not self._episode:
            self._episode, self._refused = True, 0
            log.error("out of file descriptors (%s): new connections are answered 503 until "
                      "some close; raise LimitNOFILE or lower server.max_connections",
                      os.strerror(error.errno))
        self._refused += self._refuse_one(listener)
        if not self._resume_at:
            for fd in self._listeners:
                self._epoll.unregister(fd)
        self._resume_at = now + BACKOFF

    def _refuse_one(self, listener: socket.socket) -> int:
        """Spend the reserve descriptor on answering one waiting client; 1 if one was."""
        if self._reserve is None:
            self._reserve = _open_reserve()
            return 0
        os.close(self._reserve)
        try:
            sock, _ = listener.accept()
        except OSError:
            sock = None
        if sock is not None:
            send_and_close(sock, plain_error(503, "the gateway is out of file descriptors",
                                             {"Retry-After": "1"}))
        self._reserve = _open_reserve()
        return 0 if sock is None else 1


def send_and_close(sock: socket.socket, data: bytes) -> None:
    """Best effort, never blocking: a refusal that does not fit the socket buffer is dropped."""
    try:
        sock.setblocking(False)
        sock.send(data)
    except OSError:
        pass
    finally:
        sock.close()


def _open_reserve() -> int | None:
    try:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
