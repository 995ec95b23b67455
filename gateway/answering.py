"""The job that answers a call on a worker thread, and the one place a finished call is recorded.

A worker runs ``Answerer.answer``: authentication, the protocol call, the
response headers, then one hand-off of the bytes to the connection loop
(``conn.reply``); it never touches the socket, so a client that does not read
its answer cannot hold a worker. ``record`` is the single place a finished
request is logged, whichever thread answered it.
"""

from __future__ import annotations

import gzip
import logging
import time
from typing import Any, Callable

from gateway import accesslog, faults
from gateway.http import HTTPError, Request, decode_body
from gateway.connection import Connection
from gateway.loop import LoopStatus
from gateway.pools import Backend
from gateway.reply import JSON_CONTENT_TYPE, TEXT_CONTENT_TYPE, Reply, error_reply

log = logging.getLogger(__name__)

FAILED_AUTH_DELAY = 0.5  # seconds before a 401: slows guessing, holds no thread


def record(request: Request, reply: Reply, seconds: float, metrics: Any) -> None:
    """The access log line and the metrics of one answered request (one clock, one name)."""
    metrics.record(request.method, reply.protocol, reply.method, reply.outcome, reply.status,
                   seconds, reply.calls)
    accesslog.write(request, reply.status, len(reply.body), reply.protocol, reply.method,
                    reply.outcome, seconds)


def finish(request: Request, reply: Reply, status: LoopStatus, gzip_min_bytes: int) -> bytes:
    """The reply's bytes for this request: keep-alive, compression, CORS, HEAD."""
    reply.keep_alive = reply.keep_alive and request.keep_alive and not status.stopping
    if len(reply.body) >= gzip_min_bytes and "gzip" in request.headers.get(
            "accept-encoding", ""):
        reply.body = gzip.compress(reply.body, compresslevel=1, mtime=0)
        reply.headers.update({"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
    if request.version == "HTTP/1.0" and reply.keep_alive:
        reply.headers["Connection"] = "keep-alive"
    reply.headers.update(request.cors)
    reply.head_only = request.method == "HEAD"
    return reply.encode()


def call(request: Request, backend: Backend, max_decompressed_bytes: int) -> Reply:
    """POST of an XML-RPC or JSON-RPC body to the backend's protocol server."""
    body = decode_body(request.body, request.headers.get("content-encoding", ""),
                       max_decompressed_bytes)
    payload, method, outcome, *calls = backend.server.answer_body(body)  # calls: batches
    if payload is None:
        # Nothing to answer (notifications only): an empty 200, the one answer every
        # tested client takes. jsonrpclib and libjson-rpc-cpp raise on any other
        # status, 204 included; jayson, JSON::RPC::Legacy and curl take either.
        return Reply(200, b"", JSON_CONTENT_TYPE, method=method, outcome=outcome,
                     calls=calls[0] if calls else None)
    return Reply(200, payload, backend.content_type, method=method, outcome=outcome,
                 calls=calls[0] if calls else None)


class Answerer:
    """Runs routed jobs on worker threads and hands their answers back to the loop."""

    def __init__(self, settings: Any, auth: Any, status: LoopStatus, metrics: Any) -> None:
        self.settings = settings  # replaced whole on reload
        self.auth = auth
        self.status = status
        self.metrics = metrics

    def answer(self, conn: Connection, request: Request, backend: Backend,
               job: Callable[[], Reply]) -> None:
        start = time.perf_counter()
        try:
            if self.auth.enabled and not self.auth.allows(
                    request.headers.get("authorization", "")):
                self._refuse_credentials(conn, request, backend)
                return
            reply = _run(job, request)
        finally:
            backend.release()
        reply.protocol = backend.name
        data = finish(request, reply, self.status, self.settings.gzip_min_bytes)
        seconds = time.perf_counter() - start
        # A lone call is written out by this thread: the loop need not wake for it. Under
        # load the loop writes, each wake-up of it taking many answers at once.
        conn.reply(data, reply.keep_alive, write_here=backend.in_flight == 0)
        record(request, reply, seconds, self.metrics)

    def _refuse_credentials(self, conn: Connection, request: Request, backend: Backend) -> None:
        """401 after a pause, written by the loop so that the pause holds no thread."""
        log.warning("%s authentication failed (%d failures so far)", request.client,
                    self.auth.failures)
        reply = Reply(401, b"401 credentials required or not accepted\n", TEXT_CONTENT_TYPE,
                      {"WWW-Authenticate": self.auth.challenge, **request.cors},
                      keep_alive=False, protocol=backend.name, outcome="unauthorized")
        conn.reply_later(reply.encode(), FAILED_AUTH_DELAY)
        record(request, reply, 0.0, self.metrics)


def _run(job: Callable[[], Reply], request: Request) -> Reply:
    """The job's reply; a refusal or a bug becomes an error reply, never a traceback."""
    try:
        return job()
    except HTTPError as error:  # the request was read whole: the connection may stay
        reply = error_reply(error, request)
        reply.keep_alive = True
        return reply
    except Exception as error:  # a bug: logged with a reference, never sent
        code, message = faults.describe(error, "request")
        return Reply(500, f"500 {message}\n".encode(), TEXT_CONTENT_TYPE,
                     outcome=f"error {code}")
