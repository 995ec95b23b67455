"""Client threads calling ``record_then_wait`` through a balancer, each call with a unique id.

Half the threads use ``xmlrpc.client``, half ``jsonrpclib``, each with its own
proxy (and so its own keep-alive connection). Every call is kept as a ``Call``:
its id, when it started and ended, and the pid that answered or the error.
Client timeouts come from the socket default timeout set by tests/conftest.py.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
import xmlrpc.client

import jsonrpclib

PROTOCOLS = ("xmlrpc", "jsonrpc")


@dataclasses.dataclass
class Call:
    call_id: str
    protocol: str
    started: float
    ended: float = 0.0
    pid: int | None = None
    error: str | None = None
    status: int | None = None  # the HTTP status of a failed call, when there was one

    @property
    def ok(self) -> bool:
        return self.error is None


def proxy_for(url: str, protocol: str):
    if protocol == "xmlrpc":
        return xmlrpc.client.ServerProxy(url + "/RPC2")
    return jsonrpclib.ServerProxy(url + "/jsonrpc")


def make_call(proxy, protocol: str, call_id: str, wait: float) -> Call:
    """One ``record_then_wait`` call; any failure is recorded, never raised."""
    call = Call(call_id, protocol, time.monotonic())
    try:
        call.pid = proxy.record_then_wait(call_id, wait)
    except Exception as error:  # the test classifies every failure, whatever its type
        call.error = f"{type(error).__name__}: {error}"
        call.status = getattr(error, "errcode", None)
    call.ended = time.monotonic()
    return call


class Load:
    """``threads`` clients calling until ``stop()``, or until ``budget`` calls were started."""

    def __init__(self, url: str, threads: int = 6, wait: float = 0.0,
                 budget: int | None = None, prefix: str = "call") -> None:
        self.url = url
        self.wait = wait
        self.budget = budget
        self.prefix = prefix
        self.calls: list[Call] = []
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(PROTOCOLS[index % 2],),
                                          name=f"load-{index}", daemon=True)
                         for index in range(threads)]

    def start(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def _next_id(self, protocol: str) -> str | None:
        with self._lock:
            number = next(self._numbers)
        if self._stopping.is_set() or (self.budget is not None and number >= self.budget):
            return None
        return f"{self.prefix}-{protocol}-{number}"

    def _run(self, protocol: str) -> None:
        proxy = proxy_for(self.url, protocol)
        while (call_id := self._next_id(protocol)) is not None:
            call = make_call(proxy, protocol, call_id, self.wait)
            with self._lock:
                self.calls.append(call)

    def finished(self, started_after: float = 0.0) -> int:
        """Calls done so far that started after ``started_after``."""
        with self._lock:
            return sum(call.started > started_after for call in self.calls)

    def stop(self, timeout: float = 30.0) -> list[Call]:
        """Stop starting calls, wait for those in flight, return every call made."""
        self._stopping.set()
        return self.join(timeout)

    def join(self, timeout: float = 30.0) -> list[Call]:
        """Wait for the threads to end (budget spent, or stopped); return every call made."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [thread.name for thread in self._threads if thread.is_alive()]
        assert not stuck, f"client threads still calling after {timeout} s: {stuck}"
        return list(self.calls)
