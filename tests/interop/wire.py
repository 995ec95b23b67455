"""A loopback relay that records every byte between a client and the gateway.

The interop tests use it to prove what went over the wire (headers, encodings,
Content-Type and Content-Length of every reply) and whether a client's calls
shared one connection, without touching either side: bytes are forwarded as
they arrive, and recorded before they are forwarded, so once a client has its
answer the recording holds both the request and the reply.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field

RELAY_TIMEOUT = 30  # seconds a relayed socket may stay silent


@dataclass
class Message:
    """One HTTP/1.x message as recorded: start line, headers (names lower-case), body."""

    start: str
    headers: dict[str, str]
    body: bytes

    @property
    def status(self) -> int:
        return int(self.start.split(" ", 2)[1])

    @property
    def content(self) -> bytes:
        """The body with any gzip content coding undone."""
        if self.headers.get("content-encoding", "").lower() == "gzip":
            return gzip.decompress(self.body)
        return self.body


def http_messages(stream: bytes, responses: bool) -> list[Message]:
    """Split a recorded byte stream into messages (Content-Length framing only)."""
    messages, pos = [], 0
    while pos < len(stream):
        end = stream.find(b"\r\n\r\n", pos)
        assert end >= 0, f"a truncated HTTP head in the recording: {stream[pos:pos + 200]!r}"
        lines = stream[pos:end].decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        pos = end + 4
        assert "chunked" not in headers.get("transfer-encoding", ""), "chunked in a recording"
        message = Message(lines[0], headers, b"")
        bodiless = responses and (message.status < 200 or message.status == 204)
        length = 0 if bodiless else int(headers.get("content-length", "0"))
        message.body = stream[pos:pos + length]
        pos += length
        messages.append(message)
    return messages


@dataclass
class Exchange:
    """One request and the final response to it."""

    request: Message
    response: Message

    @property
    def method(self) -> str:
        """The called method's name, from an XML-RPC or a JSON-RPC body."""
        match = re.search(rb"<methodName>\s*([^<\s]+)\s*</methodName>", self.request.body)
        if match:
            return match.group(1).decode()
        try:
            return json.loads(self.request.body).get("method", "?")
        except (ValueError, AttributeError):
            return "?"


@dataclass
class RecordedConnection:
    """The bytes of one relayed connection, client to gateway and back."""

    sent: bytearray = field(default_factory=bytearray)
    received: bytearray = field(default_factory=bytearray)

    def exchanges(self) -> list[Exchange]:
        requests = http_messages(bytes(self.sent), responses=False)
        responses = [m for m in http_messages(bytes(self.received), responses=True)
                     if m.status >= 200]
        assert len(responses) == len(requests), (
            f"{len(requests)} requests but {len(responses)} responses on one connection")
        return [Exchange(q, r) for q, r in zip(requests, responses)]


class WireRecorder:
    """A loopback relay in front of the gateway that records both directions."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.connections: list[RecordedConnection] = []
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._closed = threading.Event()
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._spawn(self._accept_loop)

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:  # the gateway is gone: the client sees a closed connection
                client.close()
                continue
            client.settimeout(RELAY_TIMEOUT)
            upstream.settimeout(RELAY_TIMEOUT)
            record = RecordedConnection()
            self.connections.append(record)
            self._sockets += [client, upstream]
            self._spawn(self._pump, client, upstream, record.sent)
            self._spawn(self._pump, upstream, client, record.received)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, record: bytearray) -> None:
        """Forward until EOF; record before forwarding, so the record is never behind."""
        try:
            while data := source.recv(65536):
                record += data
                sink.sendall(data)
        except OSError:
            pass
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def exchanges(self) -> list[Exchange]:
        """Every request with its response, in the order the connections were opened."""
        deadline = time.monotonic() + 5
        while any(t.is_alive() for t in self._threads[1:]) and time.monotonic() < deadline:
            time.sleep(0.01)  # let pumps of connections the client just closed finish
        return [x for connection in self.connections for x in connection.exchanges()]

    def calls(self, method: str) -> list[Exchange]:
        return [x for x in self.exchanges() if x.method == method]

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=5)


def check_replies(wire: WireRecorder, content_type: str) -> list[Exchange]:
    """Every reply: HTTP 200 (an empty one for a notification), the protocol's media type,
    and a Content-Length equal to the body (Ruby's client refuses anything else)."""
    exchanges = wire.exchanges()
    assert exchanges, "no request reached the gateway"
    for exchange in exchanges:
        reply = exchange.response
        assert reply.status == 200, f"{exchange.method}: {reply.start}"
        assert reply.headers.get("content-type") == content_type, (exchange.method, reply.headers)
        assert int(reply.headers["content-length"]) == len(reply.body), exchange.method
    return exchanges


def check_keep_alive(wire: WireRecorder, exchanges: list[Exchange], kept: bool) -> None:
    """kept: all calls on one connection. Otherwise the client asked for close, one
    connection per call, and every reply said Connection: close."""
    if kept:
        assert len(wire.connections) == 1, (
            f"{len(exchanges)} calls used {len(wire.connections)} connections")
        assert all("close" not in x.response.headers.get("connection", "") for x in exchanges)
    else:
        assert len(wire.connections) == len(exchanges)
        assert all(x.response.headers.get("connection") == "close" for x in exchanges)


def gzip_was_used(exchanges: list[Exchange]) -> bool:
    return any(x.response.headers.get("content-encoding") == "gzip" for x in exchanges)
