"""Raw HTTP/1.1 on a socket: put exactly the test's bytes on the wire, read one reply strictly.

http.client will not send a negative Content-Length, two conflicting ones or a
half-written chunk, and it forgives a malformed response. These helpers send
whatever a test builds and parse the gateway's answer strictly, so that a
malformed response, a hang or a dropped connection is itself a test failure.
Rules: every read has a deadline; a test never waits on a socket without one.
"""

from __future__ import annotations

import re
import select
import socket
import struct
import time
from typing import Iterable
from urllib.parse import urlsplit

_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) ([^\r\n]*)")
_HEADER_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*")


class Reply:
    """One parsed HTTP response and how long it took to arrive."""

    def __init__(self, status: int, reason: str, headers: dict[str, str], body: bytes,
                 seconds: float) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.seconds = seconds

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.media_type} {self.body[:200]!r} {self.seconds:.2f}s>"


def address_of(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


class Client:
    """One TCP connection to the gateway with a read buffer (replies may be pipelined)."""

    def __init__(self, address: tuple[str, int], timeout: float = 5.0,
                 receive_buffer: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        self.timeout = timeout
        self.buffer = b""
        self.started = time.monotonic()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def reset(self) -> None:
        """Close abruptly: RST instead of FIN, dropping anything unsent or unread."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def answered(self, wait: float = 0.0) -> bool:
        """True once the peer has sent something (a reply) or closed."""
        if self.buffer:
            return True
        readable, _, _ = select.select([self.sock], [], [], wait)
        return bool(readable)

    def send(self, data: bytes) -> bool:
        """Send ``data``; False if the peer closed first (it may have answered already)."""
        self.started = time.monotonic()
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def send_pieces(self, pieces: Iterable[bytes], interval: float = 0.0,
                    limit_seconds: float = 10.0) -> int:
        """Send pieces until the peer answers or closes; return how many bytes went out.

        An endless iterable is fine: sending stops at the gateway's first reply,
        or after ``limit_seconds``, whichever comes first.
        """
        self.started = time.monotonic()
        deadline = self.started + limit_seconds
        sent = 0
        for piece in pieces:
            if self.answered(interval) or time.monotonic() > deadline:
                break
            try:
                self.sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            except socket.timeout:  # the gateway stopped reading: it must answer now
                break
            sent += len(piece)
        return sent

    def reply(self, timeout: float | None = None, to_head: bool = False) -> Reply:
        """Read one final response (1xx interim ones are skipped); fail on timeout or junk.

        ``to_head``: the request was HEAD, so the response has no body whatever it says.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            head = self._read_head(deadline)
            status, reason, headers = _parse_head(head)
            if 100 <= status < 200:
                continue
            body = b"" if to_head else self._read_body(status, headers, deadline)
            return Reply(status, reason, headers, body, time.monotonic() - self.started)

    def read_to_close(self, timeout: float) -> tuple[bytes, bool]:
        """Everything until the peer closes: (bytes, closed in time)."""
        deadline = time.monotonic() + timeout
        data, self.buffer = self.buffer, b""
        while True:
            try:
                chunk = self._recv(deadline)
            except ConnectionResetError:
                return data, True
            except TimeoutError:
                return data, False
            if not chunk:
                return data, True
            data += chunk

    def _recv(self, deadline: float) -> bytes:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)
        try:
            return self.sock.recv(262144)
        except socket.timeout:
            raise TimeoutError from None

    def _fill(self, deadline: float, what: str) -> None:
        try:
            chunk = self._recv(deadline)
        except TimeoutError:
            raise AssertionError(f"no complete {what} in time; got {self.buffer[:300]!r}") \
                from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise AssertionError(f"connection closed before a complete {what}; "
                                 f"got {self.buffer[:300]!r}")
        self.buffer += chunk

    def _read_head(self, deadline: float) -> bytes:
        while b"\r\n\r\n" not in self.buffer:
            self._fill(deadline, "response head")
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        return head

    def _read_body(self, status: int, headers: dict[str, str], deadline: float) -> bytes:
        if status in (204, 304):
            assert "content-length" not in headers or headers["content-length"] == "0", headers
            return b""
        length = headers.get("content-length")
        assert "transfer-encoding" not in headers, "the gateway never chunks a response"
        if length is None:  # delimited by close
            data, closed = self.read_to_close(max(deadline - time.monotonic(), 0.01))
            assert closed, "response without Content-Length did not end with a close"
            return data
        assert length.isascii() and length.isdigit(), f"bad Content-Length {length!r}"
        size = int(length)
        while len(self.buffer) < size:
            self._fill(deadline, f"response body of {size} bytes")
        body, self.buffer = self.buffer[:size], self.buffer[size:]
        return body


def _parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    lines = head.split(b"\r\n")
    match = _STATUS_LINE.fullmatch(lines[0])
    assert match, f"malformed status line {lines[0][:200]!r}"
    headers: dict[str, str] = {}
    for line in lines[1:]:
        field = _HEADER_LINE.fullmatch(line)
        assert field, f"malformed response header line {line[:200]!r}"
        name = field.group(1).decode("ascii").lower()
        value = field.group(2).decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return int(match.group(1)), match.group(2).decode("latin-1"), headers


def parse_reply(data: bytes, seconds: float = 0.0) -> Reply:
    """One complete response held in memory, parsed as strictly as ``Client.reply``."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert sep, f"no end of the response head in {data[:300]!r}"
    status, reason, headers = _parse_head(head)
    assert "transfer-encoding" not in headers, "the gateway never chunks a response"
    size = int(headers.get("content-length", "0"))
    assert len(rest) == size, f"Content-Length {size} but {len(rest)} bytes follow"
    return Reply(status, reason, headers, rest, seconds)


def exchange(address: tuple[str, int], payload: bytes | Iterable[bytes],
             timeout: float = 5.0) -> Reply:
    """Connect, send ``payload`` (bytes, or pieces until the gateway answers), read one reply."""
    with Client(address, timeout) as client:
        if isinstance(payload, (bytes, bytearray)):
            client.send(payload)
        else:
            client.send_pieces(payload)
        return client.reply(timeout)


# -- building requests -------------------------------------------------------------------

def request(method: str = "POST", path: str = "/RPC2", body: bytes = b"",
            headers: Iterable[tuple[str, str]] = (), content_type: str | None = "text/xml",
            length: bool = True) -> bytes:
    """A request with exactly these headers (plus Host, Content-Type, Content-Length)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    if length:
        lines.append(f"Content-Length: {len(body)}")
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(*pieces: bytes, trailer: bytes = b"") -> bytes:
    """The chunked encoding of ``pieces`` with a final zero-size chunk."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces if piece)
    return out + b"0\r\n" + trailer + b"\r\n"
