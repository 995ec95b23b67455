"""One error-code table for both protocols, and the one place exceptions become codes.

XML-RPC faults and JSON-RPC errors carry the same numbers (the JSON-RPC 2.0
ones, which XML-RPC clients such as xmlrpc-c and supervisor also use).
Anything that is not a known error is logged with a short reference and the
caller gets only that reference: never a traceback, a repr or a file path.
"""

import logging
import uuid
import xmlrpc.client

from handlers.errors import ServiceError

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVICE_ERROR = -32000

CODE_TABLE = {
    PARSE_ERROR: "parse error: the body is not well-formed XML or JSON",
    INVALID_REQUEST: "invalid request: well-formed, but not a valid call",
    METHOD_NOT_FOUND: "method not found",
    INVALID_PARAMS: "invalid params: wrong number, type or size of parameters",
    INTERNAL_ERROR: "internal error: a bug, logged on the server with the reference given",
    SERVICE_ERROR: "service error: the method refused the call (e.g. division by zero)",
}


class RPCError(Exception):
    """An error the gateway itself reports, with its code from the table."""

    code = INTERNAL_ERROR

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class ParseError(RPCError):
    code = PARSE_ERROR


class InvalidRequest(RPCError):
    code = INVALID_REQUEST


class MethodNotFound(RPCError):
    code = METHOD_NOT_FOUND


class InvalidParams(RPCError):
    code = INVALID_PARAMS


def describe(error: Exception, method: str = "?") -> tuple[int, str]:
    """Return the (code, message) a caller may see for ``error``."""
    if isinstance(error, (RPCError, ServiceError)):
        return error.code, str(error) or CODE_TABLE.get(error.code, "error")
    if isinstance(error, xmlrpc.client.Fault) and isinstance(error.faultCode, int):
        return error.faultCode, str(error.faultString)
    ref = uuid.uuid4().hex[:8]
    log.error("internal error in %s [ref %s]", method, ref, exc_info=error)
    return INTERNAL_ERROR, f"internal error (ref {ref})"


# -- zerorpc: ERR events carry a name instead of a code -------------------------------
# The same table, by name: what ``describe`` returns for a code, zerorpc clients see
# under that code's name (a service's own error class keeps its class name, e.g.
# DivisionByZero). The rest are refusals of the zerorpc front itself.
ZERORPC_NAMES = {
    PARSE_ERROR: "ParseError",
    INVALID_REQUEST: "InvalidRequest",
    METHOD_NOT_FOUND: "MethodNotFound",
    INVALID_PARAMS: "InvalidParams",
    INTERNAL_ERROR: "InternalError",
    SERVICE_ERROR: "ServiceError",
}
ZERORPC_REFUSALS = {
    "Busy": "every zerorpc worker thread is busy and the queue is full; retry later",
    "TooManyChannels": "this peer has too many calls open at once",
    "UnsupportedVersion": "only zerorpc protocol version 3 is spoken",
    "ResultNotEncodable": "the result cannot be sent as msgpack (e.g. an integer beyond "
                          "64 bits, or a map with non-string keys)",
    "GatewayStopping": "the gateway is stopping",
}


def zerorpc_error(error: Exception, method: str = "?") -> tuple[str, str]:
    """(name, message) for a zerorpc ERR: the code's name, or the service error's class."""
    code, message = describe(error, method)
    if isinstance(error, ServiceError):
        return type(error).__name__, message
    return ZERORPC_NAMES.get(code, "ServiceError"), message
