"""Worker pools: a fixed pool of threads as a socketserver-style mixin, and its bound.

``ThreadingMixIn`` starts a thread per request and has no bound; the
gateway's servers instead run each complete request on one of a fixed number
of threads that live as long as the server. Thread start-up cost is paid once,
and the thread count can never grow with the load. ``Backend`` counts what a
pool holds, so that the loop refuses (503) rather than queues without end.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable

from gateway import memory

log = logging.getLogger(__name__)

_STOP = object()


class WorkerPoolMixIn:
    """Adds ``submit(job)`` running jobs on ``threads`` long-lived threads."""

    def start_workers(self, threads: int, name: str) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._workers = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(threads)]
        for worker in self._workers:
            worker.start()

    def submit(self, job: Callable[[], Any]) -> None:
        self._jobs.put(memory.Once(job))  # an idle thread must not pin its last request

    def stop_workers(self, timeout: float | None = None) -> None:
        """Let queued jobs finish, then end every thread."""
        for _ in self._workers:
            self._jobs.put(_STOP)
        for worker in self._workers:
            worker.join(timeout)

    def _work(self) -> None:
        get = self._jobs.get
        while (job := get()) is not _STOP:
            try:
                job()
            except Exception:  # a job handles its own errors; this is a last resort
                log.exception("worker job failed")


class Backend:
    """One protocol server and the count of requests it holds, for the 503 bound.

    ``capacity`` is its threads plus the requests that may wait for one
    (``server.queue_size``); past it a request is answered 503 at once.
    """

    def __init__(self, name: str, server: Any, content_type: str, threads: int,
                 queue_size: int) -> None:
        self.name = name
        self.server = server
        self.content_type = content_type
        self.capacity = threads + queue_size
        self.in_flight = 0
        self.served = 0
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            if self.in_flight >= self.capacity:
                return False
            self.in_flight += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.in_flight -= 1
            self.served += 1
