"""The XML-RPC side: a threaded SimpleXMLRPCServer whose dispatch is hardened.

The server never binds a socket of its own: the gateway's connection loop
hands it complete request bodies. What changes from the stdlib:
- parsing (:mod:`gateway.xmldecode`) goes through defusedxml's expat parser
  with DTDs, entities and external references refused, and a nesting-depth
  bound; bytes go to expat undecoded, so ``encoding="iso-8859-1"``
  declarations work; the dialects real clients send are read;
- writing (:mod:`gateway.xmlencode`) sends ints beyond 32 bits as ``<i8>``
  (a fault beyond 64 bits), never an OverflowError, drops characters XML 1.0
  forbids, and answers a request in Apache's extensions dialect in kind;
- every fault uses the shared code table and reaches the client with HTTP 200.
"""

from __future__ import annotations

import socketserver
import xmlrpc.server
from typing import Any

from gateway import faults
from gateway.outcomes import Answer, multicall_outcomes
from gateway.pools import WorkerPoolMixIn
from gateway.xmldecode import parse_call
from gateway.xmlencode import dump_fault, dump_response

__all__ = ["XMLRPCServer", "dump_fault", "dump_response", "parse_call"]


class XMLRPCServer(WorkerPoolMixIn, xmlrpc.server.SimpleXMLRPCServer):
    """The threaded XML-RPC server: a bounded worker pool, no socket of its own.

    The stdlib's request handlers never run here, so neither does its
    ``_marshaled_dispatch``: the gateway's worker job calls ``answer_body``.
    """

    def __init__(self, instance: Any, threads: int, max_depth: int = 64) -> None:
        xmlrpc.server.SimpleXMLRPCServer.__init__(
            self, ("127.0.0.1", 0), allow_none=True, logRequests=False,
            bind_and_activate=False)
        self.socket.close()  # the gateway owns the listening sockets
        self.register_instance(instance)
        self.max_depth = max_depth
        self.start_workers(threads, name="xmlrpc")

    def answer_body(self, data: bytes) -> Answer:
        """Return (response body, method name, outcome) for the access log, and for a
        system.multicall the (method, outcome) of each call in it, for the metrics.

        The body is a result or a fault, never an exception.
        """
        method = "-"
        try:
            call = parse_call(data, self.max_depth)
            method = call.method
            result = self.instance._dispatch(method, call.params)
            if method == "system.multicall":
                return (dump_response(result, call.apache), method, "ok",
                        multicall_outcomes(call.params, result))
            return dump_response(result, call.apache), method, "ok"
        except Exception as error:
            code, message = faults.describe(error, method)
            return dump_fault(code, message), method, f"fault {code}"

    def server_close(self) -> None:
        self.stop_workers()
        socketserver.TCPServer.server_close(self)
