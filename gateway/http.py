"""HTTP/1.1 request framing without I/O: bytes in, requests (or an ``HTTPError``) out.

The connection loop feeds what it receives to a ``RequestReader`` and takes
complete requests from it; nothing here touches a socket, so every rule below
is tested in memory (``tests/test_reader.py``). Rules:
- a line is judged as soon as it ends: a request line without an HTTP version
  (HTTP/0.9 style) is refused at once, not after waiting for headers;
- lines end with CRLF or a bare LF (RFC 9112 section 2.2 lets a server accept
  LF); a CR anywhere else, NUL, ESC, DEL or any other control byte in the
  request target or a header is a 400, refused at parse time;
- every size limit is checked before the bytes it guards are waited for, so an
  oversized head or body is refused without being buffered;
- the reader resumes where it stopped: no byte of a head is scanned twice.
"""

from __future__ import annotations

import re
import zlib
from typing import Any
from urllib.parse import unquote

_DIGITS = re.compile(r"[0-9]{1,18}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # every control byte but HTAB
_FIELD = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+):([^\x00-\x08\x0a-\x1f\x7f]*)")
_MAX_TRAILER = 16384
_METHODS = frozenset({"GET", "HEAD", "POST", "OPTIONS", "PUT", "DELETE", "PATCH",
                      "TRACE", "CONNECT"})
CONTINUE = "100-continue"  # the event: the client waits for "100 Continue" before its body


class HTTPError(Exception):
    """A request the gateway answers with an HTTP status and closes."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class Request:
    """One parsed request head, plus its body once the reader has it all."""

    __slots__ = ("method", "path", "query", "version", "headers", "keep_alive",
                 "content_length", "chunked", "body", "client", "cors", "memo")

    def __init__(self, method: str, target: str, version: str, headers: dict[str, str]):
        self.method = method
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
        # What is worked out from the head alone, once per distinct head: every twin
        # made by ``again`` shares this dict (the access log keeps its line parts here).
        self.memo: dict[str, Any] = {}

    def again(self) -> "Request":
        """A fresh request with this one's head (the reader's repeated-head shortcut)."""
        twin = Request.__new__(Request)
        twin.method, twin.path, twin.query, twin.version = (
            self.method, self.path, self.query, self.version)
        twin.headers = self.headers.copy()  # routing may change its copy
        twin.keep_alive, twin.content_length, twin.chunked = (
            self.keep_alive, self.content_length, self.chunked)
        twin.body, twin.client, twin.cors, twin.memo = b"", "", {}, self.memo
        return twin

    @property
    def expects_continue(self) -> bool:
        return self.headers.get("expect", "").lower() == "100-continue"


class RequestReader:
    """The framing state of one connection: feed bytes, take events.

    ``next_event()`` returns a complete ``Request``, ``CONTINUE`` (answer
    "100 Continue" now), or None (more bytes needed), and raises ``HTTPError``
    for a request that must be refused. ``limits`` needs ``max_line``,
    ``max_header_bytes``, ``max_headers`` and ``max_body``.
    """

    def __init__(self, limits: Any) -> None:
        self.limits = limits
        self._buffer = bytearray()
        self._line_start = 0  # where the head line being read starts
        self._scan = 0  # where the search for its end resumes
        self._lines: list[str] = []  # the head's lines so far, request line first
        self._block_tried = False  # the header block was looked for in one piece
        self.head: Request | None = None  # a head parsed, its body not complete yet
        self._chunks: ChunkedDecoder | None = None
        # The last head read in one piece, as bytes, and what it parsed to: a client on a
        # kept-alive connection usually sends the same head again, byte for byte.
        self._last_head: tuple[str, bytes] | None = None
        self._last_whole = b""  # that head's bytes from its first byte to the blank line
        self._last_request: Request | None = None

    @property
    def pending(self) -> bool:
        """True while part of a request is buffered: the connection is not idle."""
        return bool(self._buffer) or self.head is not None

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_event(self) -> Request | str | None:
        if self.head is None:
            head = self._read_head()
            if head is None:
                return None
            if head.content_length > self.limits.max_body:
                raise HTTPError(413, f"request body larger than {self.limits.max_body} bytes")
            self.head = head
            if head.expects_continue and not self._buffer and (
                    head.content_length or head.chunked):
                return CONTINUE
        return self._read_body()

    def _read_head(self) -> Request | None:
        buffer, limits = self._buffer, self.limits
        if not self._lines and not self._scan and self._last_whole and \
                buffer.startswith(self._last_whole):  # the last accepted head, whole
            self._take_head(len(self._last_whole))
            return self._last_request.again()
        while True:
            if len(self._lines) == 1 and not self._block_tried:
                self._block_tried = True
                request = self._header_block()
                if request is not None:
                    return request
            end = buffer.find(b"\n", self._scan)
            if end < 0:
                # A CR followed by anything but LF: a line end this reader will never see.
                if buffer.find(b"\r", max(self._line_start, self._scan - 1), len(buffer) - 1) >= 0:
                    raise HTTPError(400, "a CR not followed by LF in the request head")
                self._scan = len(buffer)
                self._check_partial_line()
                return None
            line = buffer[self._line_start:end]
            self._line_start = self._scan = end + 1
            if line.endswith(b"\r"):
                del line[-1:]
            if self._line_start > limits.max_header_bytes + 4 and self._lines:
                raise HTTPError(431, "request head too large")
            if not self._lines:
                if line:  # blank lines before a request line are tolerated
                    self._lines.append(_request_line(line, limits.max_line))
                continue
            if line:
                if len(self._lines) > limits.max_headers:
                    raise HTTPError(431, f"more than {limits.max_headers} header lines")
                self._lines.append(line.decode("latin-1"))
                continue
            return self._head_done(self._line_start)

    def _header_block(self) -> Request | None:
        """The common case at C speed: every header already here, each line ending in CRLF.

        Looked for once per head, right after its request line; anything else (a
        block not complete yet, a bare LF, a lone CR) is left to the line-by-line path,
        which resumes from the same place.
        """
        buffer, start = self._buffer, self._line_start
        if buffer[start:start + 2] == b"\r\n":
            return None
        end = buffer.find(b"\r\n\r\n", start, self.limits.max_header_bytes + 1)
        if end < 0:
            return None
        key = (self._lines[0], bytes(buffer[start:end]))
        if key == self._last_head:  # the same bytes were parsed and accepted before
            self._take_head(end + 4)
            return self._last_request.again()
        text = key[1].decode("latin-1")
        crlf = text.count("\r\n")
        if text.count("\n") != crlf or text.count("\r") != crlf:
            return None
        self._lines.extend(text.split("\r\n"))
        if len(self._lines) - 1 > self.limits.max_headers:
            raise HTTPError(431, f"more than {self.limits.max_headers} header lines")
        whole = bytes(buffer[:end + 4])
        request = self._head_done(end + 4)  # raises for a refused head: never a template
        self._last_head, self._last_whole, self._last_request = key, whole, request.again()
        return request

    def _head_done(self, end: int) -> Request:
        return _request(self._take_head(end))

    def _take_head(self, end: int) -> list[str]:
        """The head's lines, its bytes (``end`` of them) gone from the buffer."""
        del self._buffer[:end]
        self._line_start = self._scan = 0
        lines, self._lines, self._block_tried = self._lines, [], False
        return lines

    def _check_partial_line(self) -> None:
        partial = len(self._buffer) - self._line_start
        if not self._lines and partial > self.limits.max_line + 1:
            raise HTTPError(414, "request line too long")
        if len(self._buffer) > self.limits.max_header_bytes + 4:
            raise HTTPError(431, "request head too large")

    def _read_body(self) -> Request | None:
        request, buffer, limit = self.head, self._buffer, self.limits.max_body
        if request.chunked:
            if self._chunks is None:
                self._chunks = ChunkedDecoder(limit)
            decoded = self._chunks.feed(buffer)
            if decoded is None:
                if len(buffer) > 2 * limit + 65536:
                    raise HTTPError(413, "chunked body too large")
                return None
            self._chunks = None
            request.body, end = decoded
            del buffer[:end]
        else:
            if len(buffer) < request.content_length:
                return None
            # One copy: slicing the bytearray first would copy the body twice.
            with memoryview(buffer) as view:
                request.body = bytes(view[:request.content_length])
            del buffer[:request.content_length]
        self.head = None
        return request


def _request_line(line: bytearray, max_line: int) -> str:
    """Check a request line the moment it ends: method, target and a version."""
    if len(line) > max_line:
        raise HTTPError(414, "request line too long")
    text = line.decode("latin-1")
    parts = text.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise HTTPError(400, "malformed request line (HTTP/1.0 or HTTP/1.1 requests only)")
    method, target, version = parts
    if _CONTROL.search(text) or "\t" in target or not target:
        raise HTTPError(400, "control character in the request target")
    if method not in _METHODS:
        raise HTTPError(501, "method not implemented")
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HTTPError(505, "only HTTP/1.0 and HTTP/1.1 are served")
    return text


def _request(lines: list[str]) -> Request:
    """Build the request from its head lines and decide how its body is delimited."""
    method, target, version = lines[0].split(" ")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        field = _FIELD.fullmatch(line)
        if field is None:
            name, sep, _ = line.partition(":")
            if sep and _TOKEN.fullmatch(name):
                raise HTTPError(400, "control character in a header value")
            raise HTTPError(400, "malformed header line")
        name = field.group(1).lower()
        value = field.group(2).strip(" \t")
        if name in headers:
            if name in ("content-length", "host", "content-type"):
                if headers[name] != value:
                    raise HTTPError(400, f"conflicting {name} headers")
                continue
            value = f"{headers[name]}, {value}"
        headers[name] = value
    request = Request(method, target, version, headers)
    _delimit_body(request)
    return request


def _delimit_body(request: Request) -> None:
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
    a proxy in front may read differently); chunk lines end with CRLF, and a
    bare LF there is refused at once (a proxy may frame it otherwise); the
    decoded size is checked against ``limit`` before a chunk's data is waited for.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pos = 0  # where the next chunk-size line starts in the buffer
        self.size = 0  # decoded bytes so far
        self.pieces: list[bytes] = []

    def feed(self, data: bytes | bytearray) -> tuple[bytes, int] | None:
        """Return (body, end offset) once the body is complete, else None."""
        while True:
            line_end = _crlf(data, self.pos, 1026)
            if line_end < 0:
                if len(data) - self.pos > 1024:
                    raise HTTPError(400, "malformed chunk size line")
                return None
            size = _chunk_size(bytes(data[self.pos:line_end]))
            if self.size + size > self.limit:
                raise HTTPError(413, f"request body larger than {self.limit} bytes")
            start = line_end + 2
            if size == 0:
                return self._trailer(data, start)
            if len(data) < start + size + 2:
                return None
            if data[start + size:start + size + 2] != b"\r\n":
                raise HTTPError(400, "malformed chunk")
            self.pieces.append(bytes(data[start:start + size]))
            self.size += size
            self.pos = start + size + 2

    def _trailer(self, data: bytes | bytearray, start: int) -> tuple[bytes, int] | None:
        """Skip trailer fields up to the blank line that ends the body."""
        pos = start
        while True:
            end = _crlf(data, pos, _MAX_TRAILER)
            if end < 0:
                if len(data) - start > _MAX_TRAILER:
                    raise HTTPError(431, "chunked trailer too large")
                return None
            if end == pos:
                return b"".join(self.pieces), end + 2
            if end - start > _MAX_TRAILER:
                raise HTTPError(431, "chunked trailer too large")
            pos = end + 2


def _crlf(data: bytes | bytearray, start: int, within: int) -> int:
    """Offset of the CRLF ending the line at ``start``, -1 if not here yet; a bare LF is a 400."""
    end = data.find(b"\n", start, start + within)
    if end < 0:
        return -1
    if end == start or data[end - 1] != 0x0D:
        raise HTTPError(400, "chunked framing lines must end with CRLF")
    return end - 1


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


def media_type(headers: dict[str, Any]) -> str:
    """The Content-Type's media type, lower-case, without parameters."""
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()
