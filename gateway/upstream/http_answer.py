"""Reading an upstream's HTTP/1.x answer: strict, bounded in size and in time.

http.client's response parser goes through the email package and costs
more CPU than the rest of a bridged call together (bench/bridge_bench.py
measured it); an RPC answer needs four things from its head (status, length,
chunking, keep-alive), so they are read here directly. Every length is
bounded before it is read, and every wait is bounded by the call's deadline,
so a trickling upstream ends in a timeout, not a held thread.
"""

from __future__ import annotations

import socket
import time
from typing import BinaryIO

MAX_LINE = 65536
MAX_HEAD_LINES = 100


class Malformed(Exception):
    """The bytes are not an HTTP/1.x answer; the text says what is wrong."""


class Answer:
    __slots__ = ("status", "reason", "body", "keep_alive")

    def __init__(self, status: int, reason: str, body: bytes, keep_alive: bool) -> None:
        self.status, self.reason, self.body, self.keep_alive = status, reason, body, keep_alive


class Reader:
    """One answer from ``rfile`` (the socket's buffered reader), within ``deadline``."""

    def __init__(self, sock: socket.socket, rfile: BinaryIO, max_bytes: int,
                 deadline: float) -> None:
        self.sock, self.rfile, self.max_bytes, self.deadline = sock, rfile, max_bytes, deadline
        self._timeout = deadline - time.monotonic()
        sock.settimeout(self._timeout)

    def answer(self) -> Answer:
        while True:
            version, status, reason = self._status_line()
            headers = self._headers()
            if status >= 200 or status < 100:
                break  # 1xx (100 Continue) answers precede the real one
        keep = (headers.get("connection", "").lower() != "close") if version == "HTTP/1.1" \
            else headers.get("connection", "").lower() == "keep-alive"
        if status in (204, 304):
            return Answer(status, reason, b"", keep)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return Answer(status, reason, self._chunked(), keep)
        length = headers.get("content-length")
        if length is None:
            return Answer(status, reason, self._until_close(), False)
        if not length.isdigit():
            raise Malformed(f"Content-Length {length[:20]!r} is not a number")
        return Answer(status, reason, self._exactly(int(length)), keep)

    def _line(self) -> bytes:
        self._wait()
        line = self.rfile.readline(MAX_LINE + 1)
        if not line:
            raise ConnectionResetError("the upstream closed the connection")
        if len(line) > MAX_LINE:
            raise Malformed(f"a line longer than {MAX_LINE} bytes")
        return line

    def _status_line(self) -> tuple[str, int, str]:
        parts = self._line().decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or parts[0] not in ("HTTP/1.1", "HTTP/1.0") or \
                not (parts[1].isdigit() and len(parts[1]) == 3):
            raise Malformed("not an HTTP/1.x status line")
        return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else ""

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        readline = self.rfile.readline
        for _ in range(MAX_HEAD_LINES):
            line = readline(MAX_LINE + 1)  # the head's lines mostly come buffered: no _wait
            if not line:
                raise ConnectionResetError("the upstream closed the connection")
            if len(line) > MAX_LINE:
                raise Malformed(f"a line longer than {MAX_LINE} bytes")
            if time.monotonic() > self.deadline:
                raise TimeoutError
            if line in (b"\r\n", b"\n"):
                return headers
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon:
                raise Malformed("a header line without a colon")
            headers[name.strip().lower()] = value.strip()
        raise Malformed(f"more than {MAX_HEAD_LINES} header lines")

    def _exactly(self, length: int) -> bytes:
        if length > self.max_bytes:
            raise TooLarge(length)
        chunks, missing = [], length
        while missing:
            self._wait()
            chunk = self.rfile.read1(min(missing, 65536))
            if not chunk:
                raise Truncated(length - missing, missing)
            chunks.append(chunk)
            missing -= len(chunk)
        return b"".join(chunks)

    def _chunked(self) -> bytes:
        chunks, size = [], 0
        while True:
            text = self._line().split(b";", 1)[0].strip()
            try:
                length = int(text, 16)
            except ValueError:
                raise Malformed("a chunk size that is not hexadecimal") from None
            if length == 0:
                while self._line() not in (b"\r\n", b"\n"):  # trailers
                    pass
                return b"".join(chunks)
            size += length
            if size > self.max_bytes:
                raise TooLarge(size)
            chunks.append(self._exactly(length))
            self._line()  # the CRLF after the chunk

    def _until_close(self) -> bytes:
        chunks, size = [], 0
        while True:
            self._wait()
            chunk = self.rfile.read1(65536)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_bytes:
                raise TooLarge(size)
            chunks.append(chunk)

    def _wait(self) -> None:
        """The next read may take what is left of the call's time (within 0.1 s), no more.

        The socket's timeout is lowered only when it has gone stale by 0.1 s: a
        buffered line costs no system call, and each settimeout costs one.
        """
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if remaining < self._timeout - 0.1:
            self._timeout = remaining
            self.sock.settimeout(remaining)


class TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class Truncated(Exception):
    def __init__(self, got: int, missing: int) -> None:
        super().__init__(got, missing)
        self.got, self.missing = got, missing
