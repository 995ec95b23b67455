"""GatewayServer: one set of listeners, one method table, two protocol servers.

Shape: a threaded ``SimpleXMLRPCServer`` subclass and a jsonrpclib
``PooledJSONRPCServer`` subclass are built around the SAME registered
instance (the method table holding the service objects); the connection loop
owns the listening sockets and the router routes each request to one of
the two by Content-Type. With ``[zerorpc] listen`` set, a zerorpc front (gateway.zerorpc_front)
serves the same method table on its own ZeroMQ endpoints and threads.
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
from gateway.loop import ConnectionLoop, Limits, LoopStatus
from gateway.methods import MethodTable
from gateway.metrics import Metrics
from gateway.pools import Backend
from gateway.reply import JSON_CONTENT_TYPE, XML_CONTENT_TYPE
from gateway.routing import Router
from gateway.services import apply_max_int_bits, load_services
from gateway.upstream.table import close_upstreams, refresh_upstreams, upstream_guards
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
                         config.http.get_calls, a.allowed_hosts),
            Authenticator(config.auth.users, config.auth.tokens, config.auth.realm))


def backend_capacity(config: Config, name: str) -> int:
    """Requests a backend may hold: its threads plus ``server.queue_size`` waiting."""
    threads = getattr(config.server, f"{name}_threads")
    return threads + config.server.queue_size


class Settings:
    """The values the router reads per request; replaced whole on reload."""

    def __init__(self, config: Config) -> None:
        self.max_decompressed_bytes = config.limits.max_decompressed_bytes
        self.gzip_min_bytes = config.http.gzip_min_bytes or 1 << 62


def build_router(config: Config, services: list[tuple[str, object]] | None = None,
                 servers: list[str] = ()) -> Router:
    """The method table, both protocol servers, the metrics and the router: all but sockets.

    ``servers`` are the base URLs rpc.discover names.
    """
    if services is None:
        services = load_services(config.service.services, config.limits.max_int_bits)
    table = MethodTable(services, config.limits.max_calls, config.zerorpc.max_list_items,
                        servers)
    server, limits = config.server, config.limits
    xml_server = XMLRPCServer(table, server.xmlrpc_threads, limits.max_depth)
    json_server = JSONRPCServer(table, server.jsonrpc_threads, limits.max_depth, limits.max_calls)
    metrics = Metrics(table.names(), lambda: _live(router), config.metrics.enabled,
                      config.metrics.allow_networks, lambda: upstream_guards(table.services))
    router = Router(
        Backend("xmlrpc", xml_server, XML_CONTENT_TYPE, server.xmlrpc_threads, server.queue_size),
        Backend("jsonrpc", json_server, JSON_CONTENT_TYPE, server.jsonrpc_threads,
                server.queue_size),
        table, Settings(config), *access_from(config), LoopStatus(), metrics)
    return router


def _live(router: Router) -> tuple[int, int]:
    """(calls in flight, open connections) for the metrics' gauges."""
    in_flight = router.xml.in_flight + router.json.in_flight
    return in_flight + sum(o.in_flight for o in router.others), router.status.connections


class GatewayServer:
    """Serve XML-RPC and JSON-RPC on the given (or configured) listeners.

    Caller API: ``serve_forever()`` in a thread, then ``shutdown()`` from
    another, then ``server_close()``. ``server_address`` is the first
    listener's address, read back from the socket (port 0 resolved).
    """

    def __init__(self, config: Config, listeners: list[socket.socket] | None = None,
                 services: list[tuple[str, object]] | None = None,
                 serve_zerorpc: bool = True) -> None:
        self.config = config
        if listeners is None:
            listeners = [open_listener(a, config.server.unix_socket_mode)
                         for a in config.server.listen]
        self.listeners = listeners
        self.server_address = listeners[0].getsockname()
        self.router = build_router(config, services, openrpc.base_urls(
            [describe(sock) for sock in listeners], bool(config.tls.certfile)))
        self.table, self.metrics = self.router.table, self.router.metrics
        self.xml_server, self.json_server = self.router.xml.server, self.router.json.server
        self.loop = ConnectionLoop(
            listeners, limits_from(config), self.router, self.router.status,
            tls=server_context(config.tls.certfile, config.tls.keyfile),
            accept_batch=1 if config.server.workers > 1 else 64)
        self.router.run = self.loop.offer
        self.zerorpc = _zerorpc_front(config, self.table, self.metrics) if serve_zerorpc else None
        if self.zerorpc is not None:
            self.router.others.append(self.zerorpc)  # counted in /healthz
            self.router.front_door.zerorpc = self.zerorpc.endpoints  # the page's examples
        self._closed = False

    @property
    def addresses(self) -> list[str]:
        return [describe(sock) for sock in self.listeners]

    @property
    def zerorpc_endpoints(self) -> list[str]:
        return self.zerorpc.endpoints if self.zerorpc is not None else []

    def serve_forever(self) -> None:
        if self.zerorpc is not None:
            self.zerorpc.start()
        self.loop.serve_forever()

    def shutdown(self, drain_timeout: float | None = None) -> bool:
        """Stop accepting, let calls in flight finish; True if all finished in time."""
        timeout = self.config.server.drain_timeout if drain_timeout is None else drain_timeout
        if self.zerorpc is not None:
            self.zerorpc.stop(timeout)
        self.loop.stop(timeout)
        finished = self.loop.wait(timeout + 5)
        return (self.zerorpc is None or self.zerorpc.wait(timeout + 5)) and finished

    def apply(self, config: Config) -> None:
        """Take a reloaded config whole: every RELOAD key of the schema takes effect here.

        RESTART keys (listeners, workers, threads, services) arrive unchanged: the
        caller built ``config`` with ``config.for_reload``, which keeps their running
        values and names each changed one in a warning.
        """
        self.loop.limits = limits_from(config)
        for backend in (self.router.xml, self.router.json):
            backend.capacity = backend_capacity(config, backend.name)
        apply_max_int_bits(self.table.services, config.limits.max_int_bits)
        refresh_upstreams(self.table)  # upstreams' method lists are re-read on SIGHUP
        self.metrics.methods = frozenset(self.table.names())  # their new methods get labels
        self.router.reconfigure(Settings(config), *access_from(config))
        self.metrics.configure(config.metrics.allow_networks)
        self.loop.tls = server_context(config.tls.certfile, config.tls.keyfile)
        self.xml_server.max_depth = self.json_server.max_depth = config.limits.max_depth
        self.json_server.max_calls = self.table.max_calls = config.limits.max_calls
        self.table.max_list_items = config.zerorpc.max_list_items
        if self.zerorpc is not None:
            policy = self.router.policy
            self.zerorpc.apply(config.zerorpc, policy if policy.allow_networks else None)
        self.config = config

    def server_close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.metrics.close()  # a worker's last figures reach the shared directory
        self.xml_server.server_close()
        self.json_server.server_close()
        if self.zerorpc is not None:
            self.zerorpc.close()
        close_upstreams(self.table.services)


def _zerorpc_front(config: Config, table: MethodTable, metrics: Metrics):
    """The zerorpc front when endpoints are configured (pyzmq is imported only then)."""
    if not config.zerorpc.listen:
        return None
    from gateway.zerorpc_front import ZerorpcFront
    if config.auth.users or config.auth.tokens:
        log.warning("zerorpc has no credentials: [auth] does not apply to its endpoints; "
                    "bind them to loopback or a private network")
    policy = AccessPolicy(config.access.allow_networks, (), 0.0, 1)
    return ZerorpcFront(config.zerorpc, table, policy if policy.allow_networks else None,
                        metrics)


def serve_in_thread(server: GatewayServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="gateway-loop")
    thread.start()
    return thread

