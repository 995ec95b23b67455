"""Calling an XML-RPC upstream: calls written with checked values, answers parsed safely.

Answers are hostile input like requests: defusedxml's parser (no DTDs, no
entities), the gateway's nesting bound, and every parse failure reported as
an unusable answer rather than an exception. A fault keeps its code and
message. Python's Marshaller refuses ints beyond 32 bits; here 33-64-bit ints
go as ``<i8>`` (an extension Python, Java and xmlrpc-c servers read) unless
``#i8=0``, and the walk in gateway.upstream.values refuses the rest first.
"""

from __future__ import annotations

import xmlrpc.client
from typing import Any
from xml.parsers import expat

from defusedxml.common import DefusedXmlException
from defusedxml.xmlrpc import DefusedExpatParser

from gateway import faults
from gateway.upstream.errors import BadAnswer, UpstreamFault
from gateway.upstream.http_transport import HTTPTransport
from gateway.upstream.urls import UpstreamURL
from gateway.upstream.values import Rules, check_params

MAX_DEPTH = 64


class _AnswerUnmarshaller(xmlrpc.client.Unmarshaller):
    """The stdlib reader with the gateway's nesting bound; values as builtin types."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(use_datetime=True, use_builtin_types=True)
        self._max_depth = max_depth

    def start(self, tag: str, attrs: dict) -> None:
        super().start(tag, attrs)
        if len(self._marks) > self._max_depth:
            raise faults.InvalidRequest(f"values nested deeper than {self._max_depth} levels")


class _CallMarshaller(xmlrpc.client.Marshaller):
    """Ints up to 64 bits (as <i8> beyond 32); everything else as the stdlib writes it."""

    dispatch = dict(xmlrpc.client.Marshaller.dispatch)

    def dump_long(self, value: int, write: Any) -> None:
        tag = "int" if xmlrpc.client.MININT <= value <= xmlrpc.client.MAXINT else "i8"
        write(f"<value><{tag}>{value:d}</{tag}></value>\n")

    dispatch[int] = dump_long


def dump_call(method: str, params: list) -> bytes:
    body = _CallMarshaller("utf-8", allow_none=True).dumps(tuple(params))
    name = xmlrpc.client.escape(method)
    text = (f"<?xml version='1.0'?>\n<methodCall>\n<methodName>{name}</methodName>\n"
            f"{body}</methodCall>\n")
    return text.encode("utf-8", "xmlcharrefreplace")


def load_answer(body: bytes, name: str) -> Any:
    """The result of a methodResponse, UpstreamFault for a fault, BadAnswer for the rest."""
    target = _AnswerUnmarshaller(MAX_DEPTH)
    parser = DefusedExpatParser(target, forbid_dtd=True)
    try:
        parser.feed(body)
        parser.close()
        values = target.close()
    except xmlrpc.client.Fault as fault:
        raise _fault(fault, name) from None
    except faults.RPCError as error:
        raise BadAnswer(name, str(error)) from None
    except DefusedXmlException:
        raise BadAnswer(name, "the answer has a DTD or entity declarations") from None
    except expat.ExpatError as error:
        raise BadAnswer(name, f"not well-formed XML ({expat.ErrorString(error.code)}, "
                              f"line {error.lineno})") from None
    except (ValueError, TypeError, OverflowError, IndexError, KeyError,
            xmlrpc.client.ResponseError):
        raise BadAnswer(name, "not an XML-RPC methodResponse") from None
    if len(values) != 1:
        raise BadAnswer(name, f"a methodResponse with {len(values)} values instead of one")
    return values[0]


def _fault(fault: xmlrpc.client.Fault, name: str) -> UpstreamFault:
    code, message = fault.faultCode, str(fault.faultString)
    if isinstance(code, int) and not isinstance(code, bool):
        return UpstreamFault(message, code)
    return UpstreamFault(f"{message} (fault code {str(code)[:40]!r})", faults.SERVICE_ERROR)


class XMLRPCUpstream:
    """One XML-RPC upstream: ``call``, ``discover`` and ``close``."""

    protocol = "xmlrpc"

    def __init__(self, url: UpstreamURL, authorization: str = "") -> None:
        self.name = url.display
        self.transport = HTTPTransport(url, "text/xml", authorization)
        self.rules = Rules("xmlrpc", f"the XML-RPC upstream {self.name}",
                           nil=url.option("nil"), i8=url.option("i8"))

    def call(self, method: str, params: list | tuple | dict) -> Any:
        if isinstance(params, dict):
            raise faults.InvalidParams(f"cannot send to the XML-RPC upstream {self.name}: "
                                       "named parameters (XML-RPC has only positional ones)")
        body = dump_call(method, check_params(list(params), self.rules))
        return load_answer(self.transport.post(body), self.name)

    def discover(self) -> dict[str, str]:
        """Method names from ``system.listMethods`` (help is fetched when a caller asks)."""
        names = self.call("system.listMethods", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise BadAnswer(self.name, "system.listMethods did not answer a list of names")
        return {name: "" for name in names}

    def close(self) -> None:
        self.transport.close()
