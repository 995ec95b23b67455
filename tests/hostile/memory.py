"""The gateway without sockets: a RequestReader and the Router, fed bytes in memory.

This is the in-memory twin of ``tests.support.gateways.InProcessGateway``: the same config,
method table, protocol servers and router (``gateway.server.build_router``),
with a ``MemoryConnection`` where the loop would put a socket. It runs the
hostile catalogue in milliseconds and shows which layer answers each case.
"""

from __future__ import annotations

import queue
import time
from typing import Any, Iterable

from gateway.http import CONTINUE, HTTPError, Request, RequestReader
from gateway.server import build_router, limits_from
from tests.hostile.wire import Reply, parse_reply
from tests.support.gateways import config_of

MAX_PIECES = 100_000  # an endless upload must be refused well before this


class MemoryConnection:
    """Where the router's answer goes: the one or two calls a connection offers."""

    client = "127.0.0.1"

    def __init__(self) -> None:
        self.answers: queue.SimpleQueue[tuple[bytes, bool]] = queue.SimpleQueue()

    def reply(self, data: bytes, keep_alive: bool, write_here: bool = False) -> None:
        self.answers.put((data, keep_alive))

    def reply_later(self, data: bytes, delay: float) -> None:
        self.answers.put((data, False))


class MemoryGateway:
    """Router and protocol servers of a configuration (settings as in conftest)."""

    def __init__(self, **settings: Any) -> None:
        self.config = config_of(**settings)
        self.limits = limits_from(self.config)
        self.router = build_router(self.config)

    def frame(self, payload: bytes | Iterable[bytes]) -> Request | HTTPError | None:
        """What the reader makes of ``payload``: a request, a refusal, or None (incomplete)."""
        reader = RequestReader(self.limits)
        pieces = [payload] if isinstance(payload, (bytes, bytearray)) else payload
        for count, piece in enumerate(pieces):
            if count >= MAX_PIECES:
                break
            reader.feed(piece)
            try:
                event = reader.next_event()
                if event is CONTINUE:
                    event = reader.next_event()
            except HTTPError as error:
                return error
            if event is not None:
                return event
        return None

    def exchange(self, payload: bytes | Iterable[bytes], timeout: float = 10.0) -> Reply:
        """Frame ``payload`` and route it; the reply as the client would read it."""
        started, conn = time.monotonic(), MemoryConnection()
        framed = self.frame(payload)
        assert framed is not None, "the reader is still waiting for more bytes"
        if isinstance(framed, HTTPError):
            self.router.on_error(conn, framed, None)
        else:
            framed.client = conn.client
            self.router.on_request(conn, framed)
        data, _ = conn.answers.get(timeout=timeout)
        return parse_reply(data, time.monotonic() - started)

    def close(self) -> None:
        self.router.xml.server.server_close()
        self.router.json.server.server_close()
