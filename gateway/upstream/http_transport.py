"""POSTing calls to an HTTP upstream (TCP, TLS or a Unix socket) on kept-alive connections.

Connections are pooled per upstream (last used first, so idle ones age out on
the upstream's side, not ours). Every failure is classified by whether the
call can have run: a connection that could not be made is ``NotSent`` (safe to
retry); once the request was written, a timeout or a drop is reported, never
retried. An idle connection the upstream has closed is seen (readable at EOF)
and dropped before it is reused, so a stale connection does not turn into a
failed call. Answers are read by gateway.upstream.http_answer, bounded in size
and in total time; http.client makes the connections (TCP, TLS with host
name checks, and here Unix sockets).
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import time

from gateway.upstream.errors import BadAnswer, NotSent, UpstreamTimeout, UpstreamUnavailable
from gateway.upstream.http_answer import Answer, Malformed, Reader, TooLarge, Truncated
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
    try:
        context = ssl.create_default_context(cafile=url.option("ca_file") or None)
        if url.option("cert_file"):
            context.load_cert_chain(url.option("cert_file"), url.option("key_file") or None)
    except (OSError, ssl.SSLError) as error:
        raise ValueError(f"upstream {url.display}: cannot load its TLS files "
                         f"({getattr(error, 'strerror', None) or error})") from None
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
        self.head = _request_head(url, content_type, authorization)
        self.answers_in_errors = answers_in_errors  # statuses whose body is still an answer
        self._context = tls_context(url) if url.transport == "https" else None
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def post(self, body: bytes) -> bytes:
        """The answer's body (b"" for 204), or an error from gateway.upstream.errors."""
        conn = self._take()
        try:
            # One write (http.client writes head and body apart: two syscalls, and Nagle).
            conn.sock.sendall(self.head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            answer = Reader(conn.sock, conn.rfile, self.max_bytes,
                            time.monotonic() + self.timeout).answer()
            data = self._body(answer)
        except (TimeoutError, Malformed, TooLarge, Truncated, OSError) as error:
            _close(conn)
            raise self._failure(error) from None
        except BaseException:
            _close(conn)
            raise
        self._give_back(conn, answer.keep_alive)
        return data

    def _failure(self, error: Exception) -> Exception:
        """What the caller is told; the call was written, so it may have run."""
        if isinstance(error, TimeoutError):  # socket.timeout is TimeoutError
            return UpstreamTimeout(self.name, self.timeout)
        if isinstance(error, Malformed):
            return BadAnswer(self.name, f"not an HTTP answer ({error})")
        if isinstance(error, TooLarge):
            return BadAnswer(self.name, f"an answer of {error.size} bytes or more, over "
                                        f"max_bytes ({self.max_bytes})")
        if isinstance(error, Truncated):
            return BadAnswer(self.name, f"the answer was cut off after {error.got} bytes "
                                        f"({error.missing} missing)")
        return UpstreamUnavailable(self.name, f"the connection failed during the call "
                                              f"({_reason(error)}); it may have run")

    def _body(self, answer: Answer) -> bytes:
        if answer.status == 200 or answer.status in self.answers_in_errors:
            return answer.body
        if answer.status == 204:
            return b""
        if answer.status in (401, 403):
            raise UpstreamUnavailable(self.name, f"HTTP {answer.status}: the upstream refused "
                                                 "the gateway's credentials")
        reason = answer.reason[:60]
        if answer.status in (502, 503, 504):
            raise UpstreamUnavailable(self.name, f"HTTP {answer.status} {reason}")
        raise BadAnswer(self.name, f"HTTP {answer.status} {reason} instead of 200")

    def _take(self) -> http.client.HTTPConnection:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not _closed_by_peer(conn):
                    return conn
                _close(conn)
        conn = self._new()
        try:
            conn.connect()
        except (TimeoutError, socket.timeout):
            _close(conn)
            raise NotSent(self.name, f"no connection within {self.connect_timeout:g} s") \
                from None
        except ssl.SSLError as error:  # before OSError, its base
            _close(conn)
            raise UpstreamUnavailable(self.name, f"TLS failed: {error.reason}") from None
        except OSError as error:
            _close(conn)
            raise NotSent(self.name, f"cannot connect ({_reason(error)})") from None
        if self.url.transport != "unix":
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.rfile = conn.sock.makefile("rb")  # type: ignore[attr-defined]  # kept: it buffers
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

    def _give_back(self, conn: http.client.HTTPConnection, keep_alive: bool) -> None:
        if keep_alive:
            with self._lock:
                if len(self._idle) < self.pool_size:
                    self._idle.append(conn)
                    return
        _close(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            _close(conn)


def _close(conn: http.client.HTTPConnection) -> None:
    """Close the reader too: the socket's descriptor stays open while its makefile does."""
    rfile = getattr(conn, "rfile", None)
    if rfile is not None:
        rfile.close()
    conn.close()


def _request_head(url: UpstreamURL, content_type: str, authorization: str) -> bytes:
    """Everything of a call's request but its length and body, built once per upstream."""
    host = "localhost" if url.transport == "unix" else (
        f"[{url.host}]:{url.port}" if ":" in url.host else f"{url.host}:{url.port}")
    lines = [f"POST {url.path} HTTP/1.1", f"Host: {host}", f"Content-Type: {content_type}",
             f"Accept: {content_type}", f"User-Agent: {USER_AGENT}"]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


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
