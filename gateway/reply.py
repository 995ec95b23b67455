"""What the gateway answers: a ``Reply`` (status, headers, body) and its bytes on the wire.

A reply also carries what the access log says about the call that made it
(``protocol``, ``method``, ``outcome``), so the status is never read back out
of bytes already built. Error bodies are built by the protocol modules: an
XML-RPC client gets a fault document, a JSON-RPC client a JSON-RPC error, any
other client one line of text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus

from gateway import faults, jsonrpc
from gateway.http import HTTPError, Request, media_type
from gateway.xmlrpc import dump_fault

_REASONS = {status.value: status.phrase for status in HTTPStatus}
XML_TYPES = frozenset({"text/xml", "application/xml"})
JSON_TYPES = frozenset({"application/json", "application/json-rpc", "application/jsonrequest"})
XML_CONTENT_TYPE = "text/xml; charset=utf-8"  # aXMLRPC in strict mode wants exactly this
JSON_CONTENT_TYPE = "application/json"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
ALLOW = "GET, HEAD, POST, OPTIONS"


@dataclass(slots=True)
class Reply:
    """One HTTP response, plus what the access log records about the call behind it."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    keep_alive: bool = True
    head_only: bool = False  # the request was HEAD: the head says the length, no body follows
    protocol: str = "http"
    method: str = "-"
    outcome: str = "-"
    calls: tuple[tuple[str, str], ...] | None = None  # a batch's or multicall's, for metrics

    def encode(self) -> bytes:
        """Head and body as one bytes object (one send)."""
        lines = [f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Unknown')}",
                 "Server: rpc-gateway"]
        if self.content_type:
            lines.append(f"Content-Type: {self.content_type}")
        if self.status != 204 and self.status >= 200:
            lines.append(f"Content-Length: {len(self.body)}")
        if not self.keep_alive:
            lines.append("Connection: close")
        lines.extend(f"{name}: {value}" for name, value in self.headers.items())
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if self.head_only or self.status == 204 else head + self.body


def error_reply(error: HTTPError, request: Request | None = None) -> Reply:
    """A transport-level refusal, shaped like the protocol the request's Content-Type names."""
    kind = media_type(request.headers) if request is not None else ""
    if kind in XML_TYPES:
        body, ctype = dump_fault(faults.INVALID_REQUEST, str(error)), XML_CONTENT_TYPE
    elif kind in JSON_TYPES:
        body = jsonrpc.encode(jsonrpc.reply(jsonrpc.V20, None,
                                            error=(faults.INVALID_REQUEST, str(error))))
        ctype = JSON_CONTENT_TYPE
    else:
        body, ctype = f"{error.status} {error}\n".encode(), TEXT_CONTENT_TYPE
    headers = dict(error.headers)
    if error.status == 405:
        headers["Allow"] = ALLOW
    if request is not None:
        headers.update(request.cors)
    return Reply(error.status, body, ctype, headers, keep_alive=False)


def plain_error(status: int, message: str, headers: dict[str, str] | None = None) -> bytes:
    """The bytes of a refusal sent before any request was read (503 at accept, TLS required)."""
    return Reply(status, f"{status} {message}\n".encode(), TEXT_CONTENT_TYPE, headers or {},
                 keep_alive=False).encode()
