"""HTTP/1.1 message framing, without I/O: parse a request head, build a response.

The connection loop feeds bytes in and writes the bytes built here out. Every
framing error is an ``HTTPError`` with the status it is answered with, raised
before a byte of the body is read (so an oversized body is never buffered).
"""

from __future__ import annotations

import re
import zlib
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

_REASONS = {status.value: status.phrase for status in HTTPStatus}
_DIGITS = re.compile(r"[0-9]{1,18}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_MAX_TRAILER = 16384
_TOKEN_METHODS = frozenset({"GET", "HEAD", "POST", "OPTIONS", "PUT", "DELETE", "PATCH",
                            "TRACE", "CONNECT"})


class HTTPError(Exception):
    """A request the gateway answers with an HTTP status and closes."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class Request:
    """One parsed request head, plus its body once the loop has read it."""

    __slots__ = ("method", "target", "path", "query", "version", "headers",
                 "keep_alive", "content_length", "chunked", "body", "client", "cors")

    def __init__(self, method: str, target: str, version: str, headers: dict[str, str]):
        self.method = method
        self.target = target
        path, _, self.query = target.partition("?")
        self.path = unquote(path)
        self.version = version
        self.headers = headers
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.1":
            self.keep_alive = "close" not in connection
        else:
            self.keep_alive = "keep-alive" in connection
        self.content_length = 0
        self.chunked = False
        self.body = b""
        self.client = ""
        self.cors: dict[str, str] = {}  # CORS headers for an allowed Origin

    @property
    def expects_continue(self) -> bool:
        return self.headers.get("expect", "").lower() == "100-continue"


def parse_head(head: bytes, max_headers: int, max_line: int) -> Request:
    """Parse the bytes before the blank line; raise HTTPError for anything malformed."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
        raise HTTPError(400, "undecodable request head") from None
    lines = text.split("\n")
    request_line = lines[0].rstrip("\r")
    if len(request_line) > max_line:
        raise HTTPError(414, "request line too long")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise HTTPError(400, "malformed request line")
    method, target, version = parts
    if method not in _TOKEN_METHODS:
        raise HTTPError(501, "method not implemented")
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HTTPError(505, "only HTTP/1.0 and HTTP/1.1 are served")
    if len(lines) - 1 > max_headers:
        raise HTTPError(431, f"more than {max_headers} header lines")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        line = line.rstrip("\r")
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or line[0] in " \t":
            raise HTTPError(400, "malformed header line")
        name = name.lower()
        value = value.strip()
        if name in headers:
            if name in ("content-length", "host", "content-type"):
                if headers[name] != value:
                    raise HTTPError(400, f"conflicting {name} headers")
                continue
            value = f"{headers[name]}, {value}"
        headers[name] = value
    request = Request(method, target, version, headers)
    _frame(request)
    return request


def _frame(request: Request) -> None:
    """Decide how the body is delimited (RFC 9112 section 6)."""
    encoding = request.headers.get("transfer-encoding")
    length = request.headers.get("content-length")
    if encoding is not None:
        if length is not None:
            raise HTTPError(400, "both Transfer-Encoding and Content-Length")
        if encoding.lower() != "chunked":
            raise HTTPError(501, "only the chunked transfer coding is understood")
        request.chunked = True
        return
    if length is None:
        if request.method in ("POST", "PUT", "PATCH"):
            raise HTTPError(411, "a request body needs Content-Length")
        return
    # ASCII digits only: str.isdigit() also accepts "\xb2" ("²"), which int() refuses.
    if not _DIGITS.fullmatch(length):
        raise HTTPError(400, "invalid Content-Length")
    request.content_length = int(length)


class ChunkedDecoder:
    """Decodes one chunked body incrementally, as its bytes arrive in a growing buffer.

    Rules: each ``feed`` resumes after the last complete chunk, so a body that
    arrives a byte at a time costs linear work, not a re-parse per byte; chunk
    sizes are 1 to 16 hex digits and nothing else (no sign, "0x" or "_", which
    a proxy in front may read differently); the decoded size is checked
    against ``limit`` before a chunk's data is waited for.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pos = 0  # where the next chunk-size line starts in the buffer
        self.size = 0  # decoded bytes so far
        self.pieces: list[bytes] = []

    def feed(self, data: bytes | bytearray) -> tuple[bytes, int] | None:
        """Return (body, end offset) once the body is complete, else None."""
        while True:
            line_end = data.find(b"\r\n", self.pos, self.pos + 1026)
            if line_end < 0:
                if len(data) - self.pos > 1024:
                    raise HTTPError(400, "malformed chunk size line")
                return None
            size = _chunk_size(bytes(data[self.pos:line_end]))
            if self.size + size > self.limit:
                raise HTTPError(413, f"request body larger than {self.limit} bytes")
            start = line_end + 2
            if size == 0:
                trailer_end = data.find(b"\r\n\r\n", start - 2, start + _MAX_TRAILER)
                if trailer_end < 0 and len(data) - start > _MAX_TRAILER:
                    raise HTTPError(431, "chunked trailer too large")
                return None if trailer_end < 0 else (b"".join(self.pieces), trailer_end + 4)
            if len(data) < start + size + 2:
                return None
            if data[start + size:start + size + 2] != b"\r\n":
                raise HTTPError(400, "malformed chunk")
            self.pieces.append(bytes(data[start:start + size]))
            self.size += size
            self.pos = start + size + 2


def _chunk_size(line: bytes) -> int:
    size_text = line.split(b";", 1)[0].strip(b" \t")
    if not _HEX.fullmatch(size_text):
        raise HTTPError(400, "malformed chunk size")
    return int(size_text, 16)


def decode_body(body: bytes, content_encoding: str, limit: int) -> bytes:
    """Undo gzip/deflate request compression, refusing more than ``limit`` bytes out."""
    coding = content_encoding.strip().lower()
    if coding in ("", "identity"):
        return body
    if coding in ("gzip", "x-gzip"):
        if not body.startswith(b"\x1f\x8b"):
            return body  # labelled gzip but sent plain, as a Java transport option does
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif coding == "deflate":
        # RFC says zlib-wrapped; some clients send raw deflate. Try both.
        wbits = zlib.MAX_WBITS if body[:1] == b"\x78" else -zlib.MAX_WBITS
        decoder = zlib.decompressobj(wbits)
    else:
        raise HTTPError(415, "unsupported Content-Encoding")
    try:
        out = decoder.decompress(body, limit + 1)
    except zlib.error:
        raise HTTPError(400, "corrupt compressed body") from None
    if len(out) > limit or decoder.unconsumed_tail:
        raise HTTPError(413, f"decompressed body larger than {limit} bytes")
    if not decoder.eof:  # the stream stopped early: never act on a prefix of a body
        raise HTTPError(400, "truncated compressed body")
    return out


def response(status: int, body: bytes, content_type: str | None, keep_alive: bool,
             extra: dict[str, str] | None = None, head_only: bool = False) -> bytes:
    """One complete response, head and body, as one bytes object (one send)."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}",
             "Server: rpc-gateway"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    if status != 204 and status >= 200:
        lines.append(f"Content-Length: {len(body)}")
    if not keep_alive:
        lines.append("Connection: close")
    if extra:
        lines.extend(f"{name}: {value}" for name, value in extra.items())
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only or status == 204 else head + body


def media_type(headers: dict[str, Any]) -> str:
    """The Content-Type's media type, lower-case, without parameters."""
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()
