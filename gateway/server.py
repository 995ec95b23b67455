"""GatewayServer: one set of listeners, one method table, two protocol servers.

Shape: a threaded ``SimpleXMLRPCServer`` subclass and a jsonrpclib
``PooledJSONRPCServer`` subclass are built around the SAME registered
instance (the method table holding the service objects); the connection loop
owns the listening sockets and the dispatcher routes each request to one of
the two by Content-Type.
"""

from __future__ import annotations

import logging
import socket
import threading
from gateway import openrpc
from gateway.access import AccessPolicy
from gateway.auth import Authenticator
from gateway.config import Config
from gateway.jsonrpc import JSONRPCServer
from gateway.listeners import describe, open_listener
from gateway.loop import ConnectionLoop, Limits
from gateway.methods import MethodTable
from gateway.metrics import Metrics
from gateway.routing import JSON_CONTENT_TYPE, XML_CONTENT_TYPE, Backend, Dispatcher
from gateway.services import apply_max_int_bits, load_services
from gateway.tls import server_context
from gateway.xmlrpc import XMLRPCServer

log = logging.getLogger(__name__)


def limits_from(config: Config) -> Limits:
    c = config.limits
    return Limits(max_body=c.max_body_bytes, max_header_bytes=c.max_header_bytes,
                  max_headers=c.max_headers, max_line=c.max_request_line,
                  header_timeout=c.header_timeout, body_timeout=c.body_timeout,
                  idle_timeout=c.idle_timeout, write_timeout=c.write_timeout,
                  max_connections=config.server.max_connections)


def access_from(config: Config) -> tuple[AccessPolicy, Authenticator]:
    a = config.access
    return (AccessPolicy(a.allow_networks, a.allowed_origins, a.rate, a.burst,
                         config.http.get_calls),
            Authenticator(config.auth.users, config.auth.tokens, config.auth.realm))


def backend_capacity(config: Config, name: str) -> int:
    """Requests a backend may hold: its threads plus ``server.queue_size`` waiting."""
    threads = getattr(config.server, f"{name}_threads")
    return threads + config.server.queue_size


class Settings:
    """The values the dispatcher reads per request; replaced whole on reload."""

    def __init__(self, config: Config) -> None:
        self.max_decompressed_bytes = config.limits.max_decompressed_bytes
        self.gzip_min_bytes = config.http.gzip_min_bytes or 1 << 62


class GatewayServer:
    """Serve XML-RPC and JSON-RPC on the given (or configured) listeners.

    Caller API: ``serve_forever()`` in a thread, then ``shutdown()`` from
    another, then ``server_close()``. ``server_address`` is the first
    listener's address, read back from the socket (port 0 resolved).
    """

    def __init__(self, config: Config, listeners: list[socket.socket] | None = None,
                 services: list[tuple[str, object]] | None = None) -> None:
        self.config = config
        if listeners is None:
            listeners = [open_listener(a, config.server.unix_socket_mode)
                         for a in config.server.listen]
        self.listeners = listeners
        self.server_address = listeners[0].getsockname()
        if services is None:
            services = load_services(config.service.services, config.limits.max_int_bits)
        self.table = MethodTable(services, config.limits.max_calls, openrpc.base_urls(
            [describe(sock) for sock in listeners], bool(config.tls.certfile)))
        server = config.server
        self.xml_server = XMLRPCServer(self.table, server.xmlrpc_threads, config.limits.max_depth)
        self.json_server = JSONRPCServer(self.table, server.jsonrpc_threads,
                                         config.limits.max_depth, config.limits.max_calls)
        self.metrics = Metrics(self.table.names(), self._live, config.metrics.enabled,
                               config.metrics.allow_networks)
        self.dispatcher = Dispatcher(
            None, Backend("xmlrpc", self.xml_server, XML_CONTENT_TYPE,
                          server.xmlrpc_threads, server.queue_size),
            Backend("jsonrpc", self.json_server, JSON_CONTENT_TYPE,
                    server.jsonrpc_threads, server.queue_size),
            self.table, Settings(config), *access_from(config), metrics=self.metrics)
        self.loop = ConnectionLoop(listeners, limits_from(config), self.dispatcher.dispatch,
                                   self.dispatcher.reject)
        self.loop.tls = server_context(config.tls.certfile, config.tls.keyfile)
        self.loop.accept_batch = 1 if config.server.workers > 1 else 64
        self.dispatcher.loop = self.loop
        self._closed = False

    def _live(self) -> tuple[int, int]:
        """(calls in flight, open connections) for the metrics' gauges."""
        d = self.dispatcher
        return d.xml.in_flight + d.json.in_flight, self.loop.connection_count

    @property
    def addresses(self) -> list[str]:
        return [describe(sock) for sock in self.listeners]

    def serve_forever(self) -> None:
        self.loop.serve_forever()

    def shutdown(self, drain_timeout: float | None = None) -> bool:
        """Stop accepting, let calls in flight finish; True if all finished in time."""
        timeout = self.config.server.drain_timeout if drain_timeout is None else drain_timeout
        self.loop.stop(timeout)
        return self.loop.wait(timeout + 5)

    def apply(self, config: Config) -> None:
        """Take a reloaded config whole: every RELOAD key of the schema takes effect here.

        RESTART keys (listeners, workers, threads, services) arrive unchanged: the
        caller built ``config`` with ``config.for_reload``, which keeps their running
        values and names each changed one in a warning.
        """
        self.loop.limits = limits_from(config)
        for backend in (self.dispatcher.xml, self.dispatcher.json):
            backend.capacity = backend_capacity(config, backend.name)
        apply_max_int_bits(self.table.services, config.limits.max_int_bits)
        self.dispatcher.settings = Settings(config)
        self.dispatcher.policy, self.dispatcher.auth = access_from(config)
        self.metrics.configure(config.metrics.allow_networks)
        self.loop.tls = server_context(config.tls.certfile, config.tls.keyfile)
        self.xml_server.max_depth = self.json_server.max_depth = config.limits.max_depth
        self.json_server.max_calls = self.table.max_calls = config.limits.max_calls
        self.config = config

    def server_close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.xml_server.server_close()
        self.json_server.server_close()


def serve_in_thread(server: GatewayServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="gateway-loop")
    thread.start()
    return thread

