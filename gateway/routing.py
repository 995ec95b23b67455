"""The thin dispatcher: which server answers a request, and how the answer is framed.

Routing rule (the README's table): the media type decides (``text/xml``,
``application/xml`` go to XML-RPC; ``application/json``, ``application/json-rpc``,
``application/jsonrequest`` to JSON-RPC, any case, parameters ignored); any
other or no Content-Type is decided by the body's first non-blank byte after
an optional UTF-8 BOM (``<`` XML-RPC, ``{`` or ``[`` JSON-RPC), else 415.
Each request on a keep-alive connection is routed on its own.
"""

from __future__ import annotations

import gzip
import html
import json
import logging
import threading
import time
from typing import Any, Callable
from urllib.parse import parse_qsl

from gateway import accesslog, faults
from gateway.access import AccessPolicy
from gateway.auth import Authenticator
from gateway.http import HTTPError, Request, decode_body, media_type, response
from gateway.loop import Connection, ConnectionLoop
from gateway.xmlrpc import dump_fault
from handlers.errors import ServiceError

log = logging.getLogger(__name__)

XML_TYPES = frozenset({"text/xml", "application/xml"})
JSON_TYPES = frozenset({"application/json", "application/json-rpc", "application/jsonrequest"})
RPC_PATHS = frozenset({"/", "/RPC2", "/jsonrpc", "/xmlrpc"})
XML_CONTENT_TYPE = "text/xml"
JSON_CONTENT_TYPE = "application/json"
ALLOW = "GET, HEAD, POST, OPTIONS"
FAILED_AUTH_DELAY = 0.5  # seconds before a 401: slows guessing, holds no thread
LINGER = 0.002  # seconds a spare worker waits for a connection's next call


class Backend:
    """One protocol server plus the count of requests it holds (for the 503 bound)."""

    def __init__(self, name: str, server: Any, content_type: str, threads: int,
                 queue_size: int) -> None:
        self.name = name
        self.server = server
        self.content_type = content_type
        self.threads = threads
        self.capacity = threads + queue_size
        self.lingering = 0  # threads waiting for a connection's next call (see Dispatcher._run)
        self.in_flight = 0
        self.served = 0
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            if self.in_flight >= self.capacity:
                return False
            self.in_flight += 1
            return True

    def try_linger(self) -> bool:
        """Only a thread whose pool is otherwise idle waits for a connection's next call:
        it saves that client the loop's hand-off, and can never delay anyone else."""
        with self._lock:
            if self.in_flight + self.lingering:
                return False
            self.lingering += 1
            return True

    def end_linger(self) -> None:
        with self._lock:
            self.lingering -= 1

    def release(self) -> None:
        with self._lock:
            self.in_flight -= 1
            self.served += 1


class Dispatcher:
    """Called by the loop with each complete request; answers it or hands it to a backend."""

    def __init__(self, loop: ConnectionLoop, xml: Backend, json_: Backend, table: Any,
                 settings: Any, policy: AccessPolicy, auth: Authenticator) -> None:
        self.loop = loop
        self.policy = policy
        self.auth = auth
        self.xml = xml
        self.json = json_
        self.table = table
        self.settings = settings
        self.started = time.monotonic()
        self._index_page = _index_page(table)

    @property
    def calls(self) -> int:
        """Requests answered by the two servers (for /healthz and STATUS=)."""
        return self.xml.served + self.json.served

    # -- on the loop thread ------------------------------------------------------

    def dispatch(self, conn: Connection, request: Request,
                 routed: tuple[Backend | None, Callable[[], Any]] | None = None) -> None:
        """Answer now, or hand to a backend; ``routed`` when the caller routed it already."""
        routed = routed or self._admit_and_route(conn, request)
        if routed is None:
            return
        backend, job = routed
        if backend is None:  # answered without a worker
            keep = request.keep_alive and not self.loop.stopping
            data = job()
            sent = self.loop.send_now(conn, data)
            self._log(request, int(data[9:12]), len(data), "http", "-", "-", 0.0)
            self.loop.finish(conn, keep and sent)
            return
        if not backend.try_acquire():
            self.reject(conn, HTTPError(503, f"all {backend.name} workers are busy",
                                        {"Retry-After": "1"}), request)
            self.loop.close(conn)
            return
        self.loop.take(conn)
        backend.server.submit(lambda: self._run(conn, request, backend, job))

    def reject(self, conn: Connection, error: HTTPError, request: Request | None = None) -> None:
        """Answer a transport-level error, shaped like the protocol when it is known."""
        kind = media_type(request.headers) if request else ""
        if kind in XML_TYPES:
            body, ctype = dump_fault(faults.INVALID_REQUEST, str(error)), XML_CONTENT_TYPE
        elif kind in JSON_TYPES:
            body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {
                "code": faults.INVALID_REQUEST, "message": str(error)}}).encode()
            ctype = JSON_CONTENT_TYPE
        else:
            body, ctype = f"{error.status} {error}\n".encode(), "text/plain; charset=utf-8"
        headers = dict(error.headers)
        if error.status == 405:
            headers["Allow"] = ALLOW
        self.loop.send_now(conn, response(error.status, body, ctype, False, headers))
        if request is not None:
            self._log(request, error.status, len(body), "http", "-", "-", 0.0)
        else:
            log.info("%s rejected: %d %s", conn.client, error.status, error)

    def _admit_and_route(self, conn: Connection,
                         request: Request) -> tuple[Backend | None, Callable[[], Any]] | None:
        """(backend, job) for ``request``, or None once it has been refused and closed."""
        try:
            self._admit(request)
            return self._route(request)
        except HTTPError as error:
            self.reject(conn, error, request)
            self.loop.close(conn)
            return None

    def _admit(self, request: Request) -> None:
        """Network, origin and rate checks: cheap, on the loop thread, before any work.

        A client outside the allowed networks still gets its request read, so that
        it receives a clean 403 rather than a reset.
        """
        if not self.policy.client_allowed(request.client):
            log.warning("%s refused: not in access.allow_networks", request.client)
            raise HTTPError(403, "this address may not use the gateway")
        origin = request.headers.get("origin")
        if not self.policy.origin_allowed(origin):
            raise HTTPError(403, "requests from this Origin are not allowed "
                                 "(see access.allowed_origins)")
        if origin is not None:
            request.cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        wait = self.policy.take_token(request.client)
        if wait:
            raise HTTPError(429, "too many calls from this address",
                            {"Retry-After": str(max(1, round(wait + 0.5)))})

    def _route(self, request: Request) -> tuple[Backend | None, Callable[[], Any]]:
        path = request.path.rstrip("/") or "/"
        if path == "/healthz" and request.method in ("GET", "HEAD"):
            return None, lambda: self._health(request)
        if path not in RPC_PATHS:
            raise HTTPError(404, "no RPC endpoint here; use /, /RPC2, /jsonrpc or /xmlrpc")
        if request.method == "POST":
            return self._route_post(request)
        if request.method in ("GET", "HEAD"):
            return self._route_get(request, path)
        if request.method == "OPTIONS":
            return None, lambda: self._preflight(request)
        raise HTTPError(405, f"{request.method} is not served; RPC calls are POSTed")

    def _preflight(self, request: Request) -> bytes:
        headers = {"Allow": ALLOW, **request.cors}
        if request.cors:
            headers.update({"Access-Control-Allow-Methods": "POST, GET, OPTIONS",
                            "Access-Control-Allow-Headers": "Content-Type, Authorization",
                            "Access-Control-Max-Age": "600"})
        return response(204, b"", None, request.keep_alive, headers)

    def _route_post(self, request: Request) -> tuple[Backend, Callable[[], Any]]:
        kind = media_type(request.headers)
        if kind in XML_TYPES:
            backend = self.xml
        elif kind in JSON_TYPES:
            backend = self.json
        else:
            backend = self._sniff(request)
        return backend, lambda: self._call(request, backend)

    def _sniff(self, request: Request) -> Backend:
        encoding = request.headers.get("content-encoding", "")
        if encoding:
            request.body = decode_body(request.body, encoding,
                                       self.settings.max_decompressed_bytes)
            del request.headers["content-encoding"]
        start = request.body[:64]
        if start.startswith(b"\xef\xbb\xbf"):
            start = start[3:]
        first = start.lstrip(b" \t\r\n")[:1]
        if first == b"<":
            return self.xml
        if first in (b"{", b"["):
            return self.json
        raise HTTPError(415, "send XML-RPC as text/xml or JSON-RPC as application/json "
                             "(the body starts with neither '<' nor '{' or '[')")

    def _route_get(self, request: Request, path: str) -> tuple[Backend | None, Callable]:
        query = dict(parse_qsl(request.query, keep_blank_values=True))
        if "method" in query:
            return self.json, lambda: self._call_from_query(request, query)
        if query:
            return self.xml, lambda: self._add_from_query(request, query)
        return self.xml, lambda: (200, self._index_page, "text/html; charset=utf-8", "-", "ok")

    # -- on a worker thread --------------------------------------------------------

    def _run(self, conn: Connection, request: Request, backend: Backend,
             job: Callable[[], tuple[int, bytes, str, str, str]]) -> None:
        """Answer ``request``; then, if the pool is otherwise idle, wait briefly for the
        connection's next call and answer it here too (a client calling back to back)."""
        while self._answer(conn, request, backend, job):
            if not backend.try_linger():
                self.loop.finish(conn, True)
                return
            try:
                request = self.loop.next_request(conn, LINGER)
            finally:
                backend.end_linger()
            if request is None:
                return
            routed = self._admit_and_route(conn, request)
            if routed is None:
                return
            if routed[0] is not backend or not backend.try_acquire():
                self.dispatch(conn, request, routed)  # another pool, or no room: the usual way
                return
            job = routed[1]

    def _answer(self, conn: Connection, request: Request, backend: Backend,
                job: Callable[[], tuple[int, bytes, str, str, str]]) -> bool:
        """Run one job and write its response; True when the connection stays open."""
        start = time.perf_counter()
        if self.auth.enabled and not self.auth.allows(request.headers.get("authorization", "")):
            self._refuse_credentials(conn, request, backend)
            return False
        try:
            status, body, ctype, method, outcome = job()
        except HTTPError as error:
            status, body, ctype, method, outcome = (
                error.status, f"{error.status} {error}\n".encode(), "text/plain", "-", "-")
        except Exception as error:  # a bug: logged with a reference, never sent
            code, message = faults.describe(error, "request")
            status, body, ctype, method, outcome = (
                500, f"500 {message}\n".encode(), "text/plain", "-", f"error {code}")
        keep = request.keep_alive and not self.loop.stopping
        extra = None
        if len(body) >= self.settings.gzip_min_bytes and "gzip" in request.headers.get(
                "accept-encoding", ""):
            body = gzip.compress(body, compresslevel=1, mtime=0)
            extra = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        if request.version == "HTTP/1.0" and keep:
            extra = {**(extra or {}), "Connection": "keep-alive"}
        if request.cors:
            extra = {**(extra or {}), **request.cors}
        data = response(status, body, ctype, keep, extra, request.method == "HEAD")
        sent = self.loop.send_now(conn, data)
        backend.release()
        self._log(request, status, len(body), backend.name, method, outcome,
                  time.perf_counter() - start)
        if not (keep and sent):
            self.loop.finish(conn, False)
            return False
        return True

    def _refuse_credentials(self, conn: Connection, request: Request, backend: Backend) -> None:
        """401 after a pause, answered by the loop so the pause holds no thread."""
        log.warning("%s authentication failed (%d failures so far)", request.client,
                    self.auth.failures)
        body = b"401 credentials required or not accepted\n"
        data = response(401, body, "text/plain", False,
                        {"WWW-Authenticate": self.auth.challenge, **request.cors})
        backend.release()
        self._log(request, 401, len(body), backend.name, "-", "unauthorized", 0.0)
        self.loop.send_later(conn, data, FAILED_AUTH_DELAY)

    def _call(self, request: Request, backend: Backend) -> tuple[int, bytes, str, str, str]:
        body = decode_body(request.body, request.headers.get("content-encoding", ""),
                           self.settings.max_decompressed_bytes)
        payload, method, outcome = backend.server.dispatch(body)
        if payload is None:
            # Nothing to answer: 204, except to jsonrpclib, whose transport raises on
            # any status but 200 and takes an empty 200 as "no result".
            if request.headers.get("user-agent", "").startswith("jsonrpclib"):
                return 200, b"", JSON_CONTENT_TYPE, method, outcome
            return 204, b"", None, method, outcome
        return 200, payload, backend.content_type, method, outcome

    def _call_from_query(self, request: Request, query: dict[str, str]) -> tuple:
        params = _json_or_text(query.get("params", "[]"))
        rpcid = _json_or_text(query["id"]) if "id" in query else None
        payload = self.json.server.call_from_query(query["method"], params, rpcid)
        return 200, payload, JSON_CONTENT_TYPE, query["method"][:64], "ok"

    def _add_from_query(self, request: Request, query: dict[str, str]) -> tuple:
        """The reference notes' http.server example: ``GET /?a=1&b=2`` gives {"result": 3}."""
        try:
            a, b = int(query.get("a", 0)), int(query.get("b", 0))
        except ValueError:
            raise HTTPError(400, "a and b must be integers") from None
        try:
            answer, status, outcome = {"result": self.table.call("add", [a, b])}, 200, "ok"
        except (faults.RPCError, ServiceError) as error:  # e.g. a service without add
            code, message = faults.describe(error, "add")
            answer = {"error": {"code": code, "message": message}}
            status = 404 if code == faults.METHOD_NOT_FOUND else 400
            outcome = f"error {code}"
        return status, json.dumps(answer).encode(), JSON_CONTENT_TYPE, "add", outcome

    # -- shared -------------------------------------------------------------------

    def _health(self, request: Request) -> bytes:
        body = json.dumps({
            "status": "draining" if self.loop.stopping else "ok",
            "uptime": round(time.monotonic() - self.started, 1),
            "calls": self.calls,
            "in_flight": self.xml.in_flight + self.json.in_flight,
            "connections": self.loop.connection_count,
            "auth_failures": self.auth.failures,
        }).encode()
        return response(200 if not self.loop.stopping else 503, body, JSON_CONTENT_TYPE,
                        request.keep_alive and not self.loop.stopping,
                        head_only=request.method == "HEAD")

    def _log(self, request: Request, status: int, size: int, protocol: str, method: str,
             outcome: str, seconds: float) -> None:
        accesslog.write(request, status, size, protocol, method, outcome, seconds)


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _index_page(table: Any) -> bytes:
    """A readable page for a browser pointed at the gateway: methods, signatures, help."""
    rows = []
    for name in table.names():
        method = table.lookup(name)
        signature = html.escape(str(method.signature or "(...)"))
        rows.append(f"<dt><code>{html.escape(name)}{signature}</code></dt>"
                    f"<dd><pre>{html.escape(method.help)}</pre></dd>")
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>rpc-gateway</title></head>
<body><h1>rpc-gateway</h1>
<p>XML-RPC (POST <code>text/xml</code>) and JSON-RPC 1.0/1.1/2.0 (POST
<code>application/json</code>) on <code>/</code>, <code>/RPC2</code>, <code>/jsonrpc</code>
and <code>/xmlrpc</code>.</p>
<h2>Methods</h2><dl>{''.join(rows)}</dl></body></html>
"""
    return page.encode("utf-8")
