"""POSTing calls to an HTTP upstream (TCP, TLS or a Unix socket) on kept-alive connections.

Connections are pooled per upstream (last used first, so idle ones age out on
the upstream's side, not ours). Every failure is classified by whether the
call can have run: a connection that could not be made is ``NotSent`` (safe to
retry); once the request was written, a timeout or a drop is reported, never
retried. An idle connection the upstream has closed is seen (readable at EOF)
and dropped before it is reused, so a stale connection does not turn into a
failed call. Answers are bounded in size and in total time.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import time

from gateway.upstream.errors import BadAnswer, NotSent, UpstreamTimeout, UpstreamUnavailable
from gateway.upstream.urls import UpstreamURL

USER_AGENT = "rpc-gateway-bridge"


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix stream socket (supervisor's ``unix_http_server``)."""

    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def tls_context(url: UpstreamURL) -> ssl.SSLContext:
    """Verifying client context: the system's CAs or ``ca_file``, optionally a client cert."""
    context = ssl.create_default_context(cafile=url.option("ca_file") or None)
    if url.option("cert_file"):
        context.load_cert_chain(url.option("cert_file"), url.option("key_file") or None)
    return context


class HTTPTransport:
    """One upstream's connection pool; ``post`` is safe to call from many threads."""

    def __init__(self, url: UpstreamURL, content_type: str, authorization: str = "",
                 answers_in_errors: frozenset[int] = frozenset()) -> None:
        self.url = url
        self.name = url.display
        self.timeout = url.option("timeout")
        self.connect_timeout = url.option("connect_timeout")
        self.max_bytes = url.option("max_bytes")
        self.pool_size = url.option("max_in_flight")
        self.headers = {"Content-Type": content_type, "Accept": content_type,
                        "User-Agent": USER_AGENT}
        if authorization:
            self.headers["Authorization"] = authorization
        self.answers_in_errors = answers_in_errors  # statuses whose body is still an answer
        self._context = tls_context(url) if url.transport == "https" else None
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def post(self, body: bytes) -> bytes:
        """The answer's body (b"" for 204), or an error from gateway.upstream.errors."""
        conn = self._take()
        deadline = time.monotonic() + self.timeout
        try:
            sock = conn.sock  # getresponse() drops conn.sock when the upstream will close
            sock.settimeout(self.timeout)
            conn.request("POST", self.url.path, body, self.headers)
            response = conn.getresponse()
            data = self._read(response, sock, deadline)
        except (TimeoutError, socket.timeout):
            conn.close()
            raise UpstreamTimeout(self.name, self.timeout) from None
        except (http.client.HTTPException, OSError) as error:
            conn.close()
            raise UpstreamUnavailable(self.name, f"the connection failed during the call "
                                                 f"({_reason(error)}); it may have run") from None
        except BaseException:
            conn.close()
            raise
        self._give_back(conn, response)
        return data

    def _take(self) -> http.client.HTTPConnection:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not _closed_by_peer(conn):
                    return conn
                conn.close()
        conn = self._new()
        try:
            conn.connect()
        except (TimeoutError, socket.timeout):
            conn.close()
            raise NotSent(self.name, f"no connection within {self.connect_timeout:g} s") \
                from None
        except ssl.SSLError as error:
            conn.close()
            raise UpstreamUnavailable(self.name, f"TLS failed: {error.reason}") from None
        except OSError as error:
            conn.close()
            raise NotSent(self.name, f"cannot connect ({_reason(error)})") from None
        return conn

    def _new(self) -> http.client.HTTPConnection:
        if self.url.transport == "unix":
            return UnixHTTPConnection(self.url.socket_path, self.connect_timeout)
        if self._context is not None:
            return http.client.HTTPSConnection(self.url.host, self.url.port,
                                               timeout=self.connect_timeout,
                                               context=self._context)
        return http.client.HTTPConnection(self.url.host, self.url.port,
                                          timeout=self.connect_timeout)

    def _read(self, response: http.client.HTTPResponse, sock: socket.socket,
              deadline: float) -> bytes:
        if response.status == 204:
            return b""
        if response.status != 200 and response.status not in self.answers_in_errors:
            raise self._status_error(response)
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            raise BadAnswer(self.name, f"an answer of {length} bytes, more than max_bytes "
                                       f"({self.max_bytes})")
        chunks, size = [], 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)  # a trickling answer cannot outlast the call timeout
            chunk = response.read1(65536)
            if not chunk and response.length:  # read1 does not raise IncompleteRead
                raise BadAnswer(self.name, f"the answer was cut off after {size} bytes "
                                           f"({response.length} missing)")
            if not chunk or response.length == 0:
                chunks.append(chunk)
                response.close()  # fully read: the connection is ready for the next call
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_bytes:
                raise BadAnswer(self.name, f"an answer longer than max_bytes ({self.max_bytes})")
            chunks.append(chunk)

    def _status_error(self, response: http.client.HTTPResponse) -> Exception:
        status = response.status
        if status in (401, 403):
            return UpstreamUnavailable(self.name, f"HTTP {status}: the upstream refused the "
                                                  "gateway's credentials")
        if status in (502, 503, 504):
            return UpstreamUnavailable(self.name, f"HTTP {status} {response.reason[:60]}")
        return BadAnswer(self.name, f"HTTP {status} {response.reason[:60]} instead of 200")

    def _give_back(self, conn: http.client.HTTPConnection,
                   response: http.client.HTTPResponse) -> None:
        if response.will_close or conn.sock is None:
            conn.close()
            return
        with self._lock:
            if len(self._idle) < self.pool_size:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _closed_by_peer(conn: http.client.HTTPConnection) -> bool:
    """An idle keep-alive connection is readable only if the upstream closed it (or babbles)."""
    if conn.sock is None:
        return True
    try:
        readable, _, _ = select.select([conn.sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return type(error).__name__
