"""Services for tests, loaded into real gateways with ``--service tests.support.services:X``."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Iterator

from handlers.streams import stream


class Slow:
    """A method that takes a while, to have calls in flight during a stop or reload."""

    def sleep(self, seconds: float) -> float:
        """Sleep ``seconds`` (at most 30), then return them."""
        time.sleep(min(float(seconds), 30.0))
        return seconds

    def echo(self, value: object) -> object:
        """Return ``value``."""
        return value


class Counting:
    """Counts executions per call id in a file, so a test can prove nothing ran twice.

    The file is named by ``RPC_GATEWAY_TEST_COUNT_FILE``; each execution appends
    one line ``<call id> <pid>``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def record(self, call_id: str, seconds: float = 0.0) -> int:
        """Append ``call_id`` to the count file and return this process's pid."""
        if seconds:
            time.sleep(min(float(seconds), 10.0))
        with self._lock, open(os.environ["RPC_GATEWAY_TEST_COUNT_FILE"], "a") as handle:
            handle.write(f"{call_id} {os.getpid()}\n")
        return os.getpid()

    def whoami(self) -> int:
        """Return the pid of the process that answered."""
        return os.getpid()


class Broken:
    """A method with a bug, to check that internals never reach the caller."""

    def crash(self) -> None:
        """Raise an exception whose text holds a path and a secret."""
        raise RuntimeError("/etc/secret/path password=hunter2")


class Exiting:
    """A method that calls sys.exit(): on whichever thread runs it, the gateway must live on."""

    def leave(self) -> None:
        """Call sys.exit(3)."""
        sys.exit(3)


class Tally:
    """Every method but ``count`` has a side effect: it adds one to a counter the test reads.

    ``add`` is here so the notes' ``GET /?a=1&b=2`` also counts when it runs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[str] = []

    def record(self, tag: str) -> int:
        """Count one call tagged ``tag``; return the count."""
        with self._lock:
            self.calls.append(str(tag))
            return len(self.calls)

    def add(self, a: int, b: int) -> int:
        """Count one call, then return a + b."""
        self.record("add")
        return a + b

    def count(self) -> int:
        """Return the count (and do not change it)."""
        return len(self.calls)


class Hinting:
    """Results that hold JSON-RPC class hints, built from harmless parameters."""

    def made(self, name: str) -> dict:
        """Return a class hint naming ``name``, nested inside a list."""
        return {"items": [1, {"__jsonclass__": [str(name), []]}]}

    def echo(self, value: object) -> object:
        """Return ``value``."""
        return value


class Streams:
    """A generator stream that says when it is closed, to prove an abandoned one is freed."""

    closed = threading.Event()

    @stream
    def forever(self) -> Iterator[int]:
        """Yield 0, 1, 2, ... until the caller goes away."""
        try:
            count = 0
            while True:
                yield count
                count += 1
        finally:
            Streams.closed.set()


class Hostile:
    """<script>alert("docstring")</script> & a method whose help is markup, for escaping tests."""

    def shout(self, text: "str") -> "str":
        """Return <b>text</b> & "quotes" <img src=x onerror=alert(1)>."""
        return f"<b>{text}</b>"


class Threads:
    """Which thread answers a call: the connection loop's (run inline) or a pool's."""

    def name(self) -> str:
        """Return the answering thread's name."""
        return threading.current_thread().name

    def spin(self, seconds: float) -> int:
        """Compute without sleeping for ``seconds`` (at most 5): the GIL held throughout."""
        end, rounds = time.monotonic() + min(float(seconds), 5.0), 0
        while time.monotonic() < end:
            rounds += 1
        return rounds
