"""The XML-RPC side: a threaded SimpleXMLRPCServer whose dispatch is hardened.

The server never binds a socket of its own: the gateway's connection loop
hands it complete request bodies. What changes from the stdlib:
- parsing goes through defusedxml's expat parser with DTDs, entities and
  external references refused, and a nesting-depth bound;
- bytes go to expat undecoded, so ``encoding="iso-8859-1"`` declarations work;
- ints beyond 32 bits are sent as ``<i8>`` (a fault beyond 64 bits), never an
  OverflowError; characters XML 1.0 forbids are dropped from strings;
- every fault uses the shared code table and reaches the client with HTTP 200.
"""

from __future__ import annotations

import re
import socketserver
import xmlrpc.client
import xmlrpc.server
from typing import Any
from xml.parsers import expat

from defusedxml.common import DefusedXmlException
from defusedxml.xmlrpc import DefusedExpatParser

from gateway import faults
from gateway.pools import WorkerPoolMixIn

I8_MIN, I8_MAX = -(2**63), 2**63 - 1
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_RESPONSE_HEAD = "<?xml version='1.0'?>\n<methodResponse>\n"
_RESPONSE_TAIL = "</methodResponse>\n"


class BoundedUnmarshaller(xmlrpc.client.Unmarshaller):
    """Unmarshaller with a nesting bound; values become plain builtin types."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(use_datetime=True, use_builtin_types=True)
        self._max_depth = max_depth

    def start(self, tag: str, attrs: dict) -> None:
        super().start(tag, attrs)
        if len(self._marks) > self._max_depth:
            raise faults.InvalidRequest(f"values nested deeper than {self._max_depth} levels")


class GatewayMarshaller(xmlrpc.client.Marshaller):
    """Marshaller that sends big ints as ``<i8>`` and strips XML-forbidden characters."""

    dispatch = dict(xmlrpc.client.Marshaller.dispatch)

    def dump_int(self, value: int, write: Any) -> None:
        if xmlrpc.client.MININT <= value <= xmlrpc.client.MAXINT:
            write("<value><int>%d</int></value>\n" % value)
        elif I8_MIN <= value <= I8_MAX:
            write("<value><i8>%d</i8></value>\n" % value)
        else:
            raise faults.RPCError(
                "the result is an integer beyond 64 bits, which XML-RPC cannot carry; "
                "use JSON-RPC for it", faults.INVALID_PARAMS)

    dispatch[int] = dump_int

    def dump_str(self, value: str, write: Any) -> None:
        if _XML_FORBIDDEN.search(value):
            value = _XML_FORBIDDEN.sub("", value)
        write("<value><string>")
        write(xmlrpc.client.escape(value))
        write("</string></value>\n")

    dispatch[str] = dump_str

    def dump_double(self, value: float, write: Any) -> None:
        if value != value or value in (float("inf"), float("-inf")):
            raise faults.RPCError("the result is not a finite number", faults.INVALID_PARAMS)
        write("<value><double>%r</double></value>\n" % value)

    dispatch[float] = dump_double


_ASCII_DECLARATION = re.compile(
    rb"""\s*<\?xml\s[^>]*?encoding\s*=\s*["'](us-ascii|ascii)["']""", re.IGNORECASE)


def _ascii_declared_as_utf8(body: bytes) -> bytes:
    """Perl's RPC::XML declares encoding="us-ascii" but writes UTF-8 bytes.

    US-ASCII is a subset of UTF-8, so reading the document as UTF-8 changes
    nothing for a valid one, and gives the caller's text instead of a parse
    error for the others.
    """
    if body.isascii():
        return body
    match = _ASCII_DECLARATION.match(body)
    if match is None:
        return body
    return body[:match.start(1)] + b"utf-8" + body[match.end(1):]


def _may_nest_deeper(body: bytes, max_depth: int) -> bool:
    """False when ``body`` cannot nest arrays/structs beyond ``max_depth``.

    Each level needs an <array> or <struct> start tag, so each level puts the
    bytes "array" or "struct" in an ASCII-compatible body (a namespace prefix
    comes before them). Counting is a C-speed scan; the per-element depth
    check it spares costs 15-20% of parsing. UTF-16/32 bodies (NUL bytes) are
    always checked element by element.
    """
    return body.count(b"array") + body.count(b"struct") > max_depth or b"\0" in body


def parse_call(body: bytes, max_depth: int) -> tuple[str, tuple]:
    """Return (method name, params) or raise ParseError / InvalidRequest / InvalidParams."""
    if _may_nest_deeper(body, max_depth):
        target = BoundedUnmarshaller(max_depth)
    else:
        target = xmlrpc.client.Unmarshaller(use_datetime=True, use_builtin_types=True)
    parser = DefusedExpatParser(target, forbid_dtd=True)
    try:
        parser.feed(_ascii_declared_as_utf8(body))
        parser.close()
        params = target.close()
    except faults.RPCError:
        raise
    except DefusedXmlException:
        raise faults.ParseError("DTDs and entity declarations are not accepted") from None
    except expat.ExpatError as error:
        raise faults.ParseError(f"not well-formed XML ({expat.ErrorString(error.code)}, "
                                f"line {error.lineno})") from None
    except ValueError as error:
        if "encoding" in str(error):  # pyexpat: "multi-byte encodings are not supported"
            raise faults.ParseError("the XML declares an encoding that is not supported") \
                from None
        raise faults.InvalidParams("a value does not match its type tag") from None
    except (TypeError, OverflowError):
        raise faults.InvalidParams("a value does not match its type tag") from None
    except (xmlrpc.client.ResponseError, IndexError, KeyError):
        raise faults.InvalidRequest("not an XML-RPC methodCall") from None
    method = target.getmethodname()
    if not isinstance(method, str) or not method:
        raise faults.InvalidRequest("not an XML-RPC methodCall (no methodName)")
    return method, params


def dump_response(result: Any) -> bytes:
    params = GatewayMarshaller("utf-8", allow_none=True).dumps((result,))
    text = "".join((_RESPONSE_HEAD, params, _RESPONSE_TAIL))
    return text.encode("utf-8", "xmlcharrefreplace")


def dump_fault(code: int, message: str) -> bytes:
    fault = xmlrpc.client.Fault(code, _XML_FORBIDDEN.sub("", message))
    return xmlrpc.client.dumps(fault, methodresponse=True).encode("utf-8", "xmlcharrefreplace")


class XMLRPCServer(WorkerPoolMixIn, xmlrpc.server.SimpleXMLRPCServer):
    """The threaded XML-RPC server: a bounded worker pool, no socket of its own."""

    def __init__(self, instance: Any, threads: int, max_depth: int = 64) -> None:
        xmlrpc.server.SimpleXMLRPCServer.__init__(
            self, ("127.0.0.1", 0), allow_none=True, logRequests=False,
            bind_and_activate=False)
        self.socket.close()  # the gateway owns the listening sockets
        self.register_instance(instance)
        self.max_depth = max_depth
        self.start_workers(threads, name="xmlrpc")

    def _marshaled_dispatch(self, data: bytes, dispatch_method: Any = None,
                            path: Any = None) -> bytes:
        """The stdlib's entry point: body in, response body out."""
        return self.dispatch(data)[0]

    def dispatch(self, data: bytes) -> tuple[bytes, str, str]:
        """Return (response body, method name, outcome) for the access log.

        The body is a result or a fault, never an exception.
        """
        method = "-"
        try:
            method, params = parse_call(data, self.max_depth)
            return dump_response(self.instance._dispatch(method, params)), method, "ok"
        except Exception as error:
            code, message = faults.describe(error, method)
            return dump_fault(code, message), method, f"fault {code}"

    def server_close(self) -> None:
        self.stop_workers()
        socketserver.TCPServer.server_close(self)
