"""The servers the gateway is compared with: what a user would run instead of it.

Four references, each serving one ``handlers.calculator.Calculator`` instance:

- ``stdlib-shipped``: ``ThreadingMixIn`` + ``SimpleXMLRPCServer`` exactly as the
  standard library ships it (HTTP/1.0 handler: one call per connection;
  listen backlog 5; Nagle on).
- ``stdlib-tuned``: the same with what a fair tuned server needs
  (the project's performance notes): an HTTP/1.1 handler so clients keep
  the connection, ``disable_nagle_algorithm`` (else 40 ms per call on a kept
  connection) and ``request_queue_size = 128`` (else bursts see 1 s stalls).
- ``jsonrpclib-shipped`` / ``jsonrpclib-tuned``: jsonrpclib's
  ``PooledJSONRPCServer``, as shipped and with the same three changes. Its
  pool keeps jsonrpclib's default of 30 threads and its default config
  (``use_jsonclass`` on): only the HTTP behaviour is tuned.

Request logging is off everywhere (the gateway runs with ``access_log =
false``), so no server pays for writing log lines.

Run one as a process: ``python -m bench.references KIND [HOST:PORT]``. It
binds (port 0 by default), prints ``READY host:port`` on stdout and serves
until SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socketserver
import sys
import threading
import xmlrpc.server

from jsonrpclib.SimpleJSONRPCServer import PooledJSONRPCServer, SimpleJSONRPCRequestHandler

from handlers.calculator import Calculator

KINDS = ("stdlib-shipped", "stdlib-tuned", "jsonrpclib-shipped", "jsonrpclib-tuned")


class ThreadedXMLRPCServer(socketserver.ThreadingMixIn, xmlrpc.server.SimpleXMLRPCServer):
    """The stdlib's threaded XML-RPC server, as every tutorial composes it."""

    daemon_threads = True


class TunedThreadedXMLRPCServer(ThreadedXMLRPCServer):
    request_queue_size = 128


class TunedXMLRPCHandler(xmlrpc.server.SimpleXMLRPCRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True


class TunedPooledJSONRPCServer(PooledJSONRPCServer):
    request_queue_size = 128


class TunedJSONRPCHandler(SimpleJSONRPCRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True


def build(kind: str, address: tuple[str, int], service: object | None = None):
    """A bound, listening reference server of ``kind`` serving ``service``."""
    service = Calculator() if service is None else service
    if kind == "stdlib-shipped":
        server = ThreadedXMLRPCServer(address, logRequests=False, allow_none=True)
    elif kind == "stdlib-tuned":
        server = TunedThreadedXMLRPCServer(address, requestHandler=TunedXMLRPCHandler,
                                           logRequests=False, allow_none=True)
    elif kind == "jsonrpclib-shipped":
        server = PooledJSONRPCServer(address, logRequests=False)
    elif kind == "jsonrpclib-tuned":
        server = TunedPooledJSONRPCServer(address, requestHandler=TunedJSONRPCHandler,
                                          logRequests=False)
    else:
        raise ValueError(f"unknown reference {kind!r}; known: {', '.join(KINDS)}")
    server.register_instance(service)
    return server


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in KINDS:
        print(f"usage: python -m bench.references {{{','.join(KINDS)}}} [HOST:PORT]",
              file=sys.stderr)
        return 2
    host, _, port = (argv[1] if len(argv) > 1 else "127.0.0.1:0").rpartition(":")
    server = build(argv[0], (host, int(port)))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name=argv[0], daemon=True)
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    print(f"READY {bound_host}:{bound_port}", flush=True)
    stop.wait()
    # No server_close(): PooledJSONRPCServer's waits for a shutdown that is not needed
    # here, and pool threads would keep the process alive. The kernel closes the sockets.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
