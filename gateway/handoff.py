"""Answers handed from worker threads to the connection loop, which alone writes them.

A worker appends (connection, bytes, keep-alive, delay) and wakes the loop
through an eventfd; the loop thread takes what is there after each poll. One
wake-up is written however many answers arrive before the loop looks, and
none when the loop thread posts to itself. Delayed answers (the pause before
a 401) wait in a heap here, holding no thread.
"""

from __future__ import annotations

import collections
import heapq
import math
import os
import select
import threading
from typing import Any, Iterator

Answer = tuple[Any, bytes, bool]  # connection, bytes, keep the connection open


class Handoff:
    def __init__(self, epoll: select.epoll) -> None:
        self._inbox: collections.deque[tuple[Any, bytes, bool, float]] = collections.deque()
        self._later: list[tuple[float, int, Answer]] = []
        self.fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._wake_pending = False
        self._fd_lock = threading.Lock()  # a late worker must not write to a reused fd
        self._epoll = epoll
        epoll.register(self.fd, select.EPOLLIN)
        self.owner: int | None = None  # the loop thread's ident, once it runs

    def post(self, conn: Any, data: bytes, keep_alive: bool, delay: float) -> None:
        """Any thread: queue an answer for the loop (see ``Connection.reply``)."""
        self._inbox.append((conn, data, keep_alive, delay))
        if threading.get_ident() != self.owner and not self._wake_pending:
            self._wake_pending = True
            self.wake()

    def wake(self) -> None:
        with self._fd_lock:
            if self.fd >= 0:
                os.eventfd_write(self.fd, 1)

    def on_wake(self) -> None:
        """The loop saw the eventfd: clear it before taking, so no post is missed."""
        try:
            os.eventfd_read(self.fd)
        except BlockingIOError:
            pass
        self._wake_pending = False

    def take(self, now: float) -> Iterator[Answer]:
        """The answers to write now; ones posted while this runs are taken too."""
        inbox = self._inbox
        while inbox:
            conn, data, keep, delay = inbox.popleft()
            if delay:
                heapq.heappush(self._later, (now + delay, id(conn), (conn, data, keep)))
            else:
                yield conn, data, keep
        while self._later and self._later[0][0] <= now:
            yield heapq.heappop(self._later)[2]

    @property
    def waiting(self) -> bool:
        """Answers are queued or delayed: ``take`` has something to look at."""
        return bool(self._inbox or self._later)

    @property
    def has_posts(self) -> bool:
        """Answers posted and not yet taken (the loop's own posts wake nobody)."""
        return bool(self._inbox)

    def next_due(self) -> float:
        """When the next delayed answer is due (monotonic clock); inf if none is."""
        return self._later[0][0] if self._later else math.inf

    def close(self) -> None:
        with self._fd_lock:
            fd, self.fd = self.fd, -1
        os.close(fd)
