"""Routing: which endpoint or protocol server answers a request, decided without I/O.

Routing rule (the README's table): the media type decides (``text/xml``,
``application/xml`` go to XML-RPC; ``application/json``, ``application/json-rpc``,
``application/jsonrequest`` to JSON-RPC, any case, parameters ignored); any
other or no Content-Type is decided by the body's first non-blank byte after
an optional UTF-8 BOM (``<`` XML-RPC, ``{`` or ``[`` JSON-RPC), else 415.
Each request on a keep-alive connection is routed on its own.

``route`` is a pure function of the request (tested without sockets);
``Router`` runs on the connection loop: admission, then ``route``, then an
answer at once (``/healthz``, preflight, refusals) or a job queued to a pool.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qsl

from gateway import endpoints
from gateway.access import AccessPolicy
from gateway.answering import Answerer, call, finish, record
from gateway.auth import Authenticator
from gateway.http import HTTPError, Request, decode_body, media_type
from gateway.connection import Connection
from gateway.loop import LoopStatus
from gateway.metrics import Metrics
from gateway.page import FrontDoor
from gateway.pools import Backend
from gateway.reply import JSON_TYPES, XML_TYPES, Reply, error_reply
from gateway.upstream.table import upstream_health

log = logging.getLogger(__name__)

RPC_PATHS = frozenset({"/", "/RPC2", "/jsonrpc", "/xmlrpc"})
# Answers computed but not yet read by their clients may hold this many times
# limits.max_decompressed_bytes (the size of the largest request, so of about the
# largest answer) before new calls are refused 503: a client that never reads
# holds no thread, and its answers cannot grow memory without end either.
UNSENT_BUDGET = 4
HEALTH, METRICS, PREFLIGHT, INDEX, GET_ADD, GET_CALL, XMLRPC, JSONRPC = (
    "health", "metrics", "preflight", "index", "get-add", "get-call", "xmlrpc", "jsonrpc")


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request goes; ``query`` holds a GET call's parameters."""

    endpoint: str
    query: dict[str, str] | None = None


def route(request: Request, max_decompressed_bytes: int) -> Route:
    """The route of ``request``, or HTTPError (404, 405, 415); a sniffed body is decoded."""
    path = request.path.rstrip("/") or "/"
    if path == "/healthz" and request.method in ("GET", "HEAD"):
        return Route(HEALTH)
    if path == "/metrics" and request.method in ("GET", "HEAD"):
        return Route(METRICS)
    if path not in RPC_PATHS:
        raise HTTPError(404, "no RPC endpoint here; use /, /RPC2, /jsonrpc or /xmlrpc")
    if request.method == "POST":
        return Route(_protocol_of(request, max_decompressed_bytes))
    if request.method in ("GET", "HEAD"):
        query = dict(parse_qsl(request.query, keep_blank_values=True))
        if "method" in query:
            return Route(GET_CALL, query)
        return Route(GET_ADD, query) if query else Route(INDEX)
    if request.method == "OPTIONS":
        return Route(PREFLIGHT)
    raise HTTPError(405, f"{request.method} is not served; RPC calls are POSTed")


def _protocol_of(request: Request, max_decompressed_bytes: int) -> str:
    kind = media_type(request.headers)
    if kind in XML_TYPES:
        return XMLRPC
    if kind in JSON_TYPES:
        return JSONRPC
    encoding = request.headers.get("content-encoding", "")
    if encoding:  # the first byte is judged on the decoded body
        request.body = decode_body(request.body, encoding, max_decompressed_bytes)
        del request.headers["content-encoding"]
    start = request.body[:64]
    if start.startswith(b"\xef\xbb\xbf"):
        start = start[3:]
    first = start.lstrip(b" \t\r\n")[:1]
    if first == b"<":
        return XMLRPC
    if first in (b"{", b"["):
        return JSONRPC
    raise HTTPError(415, "send XML-RPC as text/xml or JSON-RPC as application/json "
                         "(the body starts with neither '<' nor '{' or '[')")


class Router:
    """The loop's handler: admits and routes each complete request, then answers or queues it."""

    def __init__(self, xml: Backend, json_: Backend, table: Any, settings: Any,
                 policy: AccessPolicy, auth: Authenticator, status: LoopStatus,
                 metrics: Metrics) -> None:
        self.xml = xml
        self.json = json_
        self.table = table
        self.status = status
        self.metrics = metrics
        self.started = time.monotonic()
        self.front_door = FrontDoor(table, metrics)
        self.others: list[Any] = []  # other fronts (zerorpc), with .served and .in_flight
        self.answerer = Answerer(settings, auth, status, metrics)
        # How a queued call runs: the connection loop's ``offer`` once wired (inline on
        # the loop's thread when that is safe), else straight to the pool.
        self.run: Callable[[Callable[[], None], Callable], None] = lambda job, submit: submit(job)
        self.reconfigure(settings, policy, auth)

    def reconfigure(self, settings: Any, policy: AccessPolicy, auth: Authenticator) -> None:
        """Take reloaded settings; requests already routed finish with the old ones."""
        self.settings, self.policy, self.auth = settings, policy, auth
        self.answerer.settings, self.answerer.auth = settings, auth

    @property
    def calls(self) -> int:
        """Requests answered by the two servers and other fronts (for /healthz and STATUS=)."""
        return self.xml.served + self.json.served + sum(o.served for o in self.others)

    def on_request(self, conn: Connection, request: Request) -> None:
        try:
            self._admit(request)
            where = route(request, self.settings.max_decompressed_bytes)
        except HTTPError as error:
            self._refuse(conn, error, request)
            return
        if where.endpoint == HEALTH:
            self._answer_now(conn, request, endpoints.health(self._health_facts()))
        elif where.endpoint == METRICS:
            self._answer_scrape(conn, request)
        elif where.endpoint == PREFLIGHT:
            self._answer_now(conn, request, endpoints.preflight(request))
        else:
            self._queue(conn, request, *self._job(where, request))

    def on_error(self, conn: Connection, error: HTTPError, head: Request | None) -> None:
        """A request the reader refused (framing, size, deadline): answer and close."""
        if head is None:
            log.info("%s rejected: %d %s", conn.client, error.status, error)
            conn.reply(error_reply(error).encode(), False)
            self.metrics.record("-", "http", "-", "-", error.status, 0.0)
            return
        head.client = conn.client
        self._refuse(conn, error, head)

    def _admit(self, request: Request) -> None:
        """Network, origin and rate checks: cheap, on the loop thread, before any work.

        A client outside the allowed networks still gets its request read, so that
        it receives a clean 403 rather than a reset.
        """
        if not self.policy.client_allowed(request.client):
            log.warning("%s refused: not in access.allow_networks", request.client)
            raise HTTPError(403, "this address may not use the gateway")
        refusal = self.policy.browser_refusal(request.method, request.query, request.headers)
        if refusal is not None:
            raise refusal
        request.cors = self.policy.cors_headers(request.headers.get("origin"))
        wait = self.policy.take_token(request.client)
        if wait:
            raise HTTPError(429, "too many calls from this address",
                            {"Retry-After": str(max(1, round(wait + 0.5)))})

    def _job(self, where: Route, request: Request) -> tuple[Backend, Callable[[], Reply]]:
        if where.endpoint == XMLRPC or where.endpoint == JSONRPC:
            backend = self.xml if where.endpoint == XMLRPC else self.json
            limit = self.settings.max_decompressed_bytes
            return backend, lambda: call(request, backend, limit)
        if where.endpoint == GET_CALL:
            return self.json, lambda: endpoints.call_from_query(self.json.server, where.query)
        if where.endpoint == GET_ADD:
            return self.xml, lambda: endpoints.add_from_query(self.table, where.query)
        host = request.headers.get("host")
        return self.xml, lambda: endpoints.index(self.front_door.render(host))

    def _queue(self, conn: Connection, request: Request, backend: Backend,
               job: Callable[[], Reply]) -> None:
        if self.status.unsent > UNSENT_BUDGET * self.settings.max_decompressed_bytes:
            self._refuse(conn, HTTPError(503, "too many answers wait for clients to read them",
                                         {"Retry-After": "1"}), request)
            return
        if not backend.try_acquire():
            self._refuse(conn, HTTPError(503, f"all {backend.name} workers are busy",
                                         {"Retry-After": "1"}), request)
            return
        self.run(lambda: self.answerer.answer(conn, request, backend, job), backend.server.submit)

    def _answer_scrape(self, conn: Connection, request: Request) -> None:
        """GET /metrics on the loop thread, like /healthz: 404 when metrics are off."""
        try:
            if not self.metrics.serves(request):
                raise HTTPError(404, "metrics are off (metrics.enabled = false)")
        except HTTPError as error:
            self._refuse(conn, error, request)
            return
        self._answer_now(conn, request, self.metrics.answer(request))

    def _answer_now(self, conn: Connection, request: Request, reply: Reply) -> None:
        data = finish(request, reply, self.status, self.settings.gzip_min_bytes)
        conn.reply(data, reply.keep_alive)
        record(request, reply, 0.0, self.metrics)

    def _refuse(self, conn: Connection, error: HTTPError, request: Request) -> None:
        reply = error_reply(error, request)
        reply.head_only = request.method == "HEAD"
        conn.reply(reply.encode(), False)
        record(request, reply, 0.0, self.metrics)

    def _health_facts(self) -> dict[str, Any]:
        return {
            "status": "draining" if self.status.stopping else "ok",
            "uptime": round(time.monotonic() - self.started, 1),
            "calls": self.calls,
            "in_flight": self.xml.in_flight + self.json.in_flight + sum(
                o.in_flight for o in self.others),
            "connections": self.status.connections,
            "auth_failures": self.auth.failures,
            **upstream_health(self.table.services),
        }
