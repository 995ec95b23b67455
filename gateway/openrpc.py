"""What each method takes and returns, read once from its type hints: the one model
that ``rpc.discover`` (an OpenRPC 1.x document), ``system.methodSignature`` (XML-RPC
type names) and the front page (a readable signature) all show.

A hint becomes a JSON Schema (``int`` -> integer, ``int | float`` -> number,
``X | None`` -> X or null, no hint -> any) and an XML-RPC type name from the
same table, so the three views cannot disagree.
"""

from __future__ import annotations

import datetime
import inspect
import json
import socket
import types
import typing
from typing import Any, Callable

from gateway import __version__, faults

OPENRPC_VERSION = "1.3.2"
# hint -> (JSON Schema, XML-RPC type name)
_TYPES: dict[Any, tuple[dict[str, Any], str]] = {
    int: ({"type": "integer"}, "int"),
    float: ({"type": "number"}, "double"),
    bool: ({"type": "boolean"}, "boolean"),
    str: ({"type": "string"}, "string"),
    bytes: ({"type": "string", "contentEncoding": "base64"}, "base64"),
    datetime.datetime: ({"type": "string", "format": "date-time"}, "dateTime.iso8601"),
    dict: ({"type": "object"}, "struct"),
    list: ({"type": "array"}, "array"),
    tuple: ({"type": "array"}, "array"),
    type(None): ({"type": "null"}, "nil"),
}
_ANY: tuple[dict[str, Any], str] = ({}, "any")
SERVICE_ERRORS = (faults.INVALID_PARAMS, faults.SERVICE_ERROR, faults.INTERNAL_ERROR)
BUILTIN_ERRORS = (faults.INVALID_PARAMS, faults.INTERNAL_ERROR)


class Param:
    __slots__ = ("name", "schema", "xml_type", "required", "default")

    def __init__(self, name: str, hint: Any, default: Any) -> None:
        self.name = name
        self.schema, self.xml_type = type_of(hint)
        self.required = default is inspect.Parameter.empty
        self.default = default


class MethodModel:
    """One method as every introspection view describes it."""

    def __init__(self, name: str, func: Callable[..., Any],
                 signature: inspect.Signature | None, help_text: str) -> None:
        self.name = name
        self.help = help_text
        self.known = signature is not None  # False: a builtin without a signature
        hints = _hints(func)
        parameters = signature.parameters.values() if signature else ()
        self.params = [Param(p.name, hints.get(p.name, Any), p.default) for p in parameters
                       if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        self.by_position = any(p.kind == p.POSITIONAL_ONLY for p in parameters)
        self.result_schema, self.result_xml = type_of(hints.get("return", Any))
        self.errors = BUILTIN_ERRORS if name.startswith(("system.", "rpc.")) else SERVICE_ERRORS

    @property
    def summary(self) -> str:
        return self.help.split("\n\n", 1)[0].replace("\n", " ").strip()

    def xml_signatures(self) -> Any:
        """``system.methodSignature``: one [result, params...] list per accepted arity."""
        if not self.known:
            return "undef"
        required = sum(p.required for p in self.params)
        names = [p.xml_type for p in self.params]
        return [[self.result_xml, *names[:arity]] for arity in range(required, len(names) + 1)]

    def signature_text(self) -> str:
        """``pow(x: number, y: number, z: integer | null = null) -> number``, for people."""
        if not self.known:
            return f"{self.name}(...)"
        params = []
        for p in self.params:
            text = f"{p.name}: {schema_text(p.schema)}"
            params.append(text if p.required else f"{text} = {_literal(p.default)}")
        return f"{self.name}({', '.join(params)}) -> {schema_text(self.result_schema)}"

    def openrpc(self) -> dict[str, Any]:
        method: dict[str, Any] = {
            "name": self.name,
            "params": [_descriptor(p.name, p.schema, p.required) for p in self.params],
            "result": _descriptor("result", self.result_schema, False),
            "errors": [{"code": code, "message": faults.CODE_TABLE[code]}
                       for code in self.errors],
            "paramStructure": "by-position" if self.by_position else "either",
        }
        if self.summary:
            method["summary"] = self.summary
        if self.help != self.summary:
            method["description"] = self.help
        return method


def type_of(hint: Any) -> tuple[dict[str, Any], str]:
    """(JSON Schema, XML-RPC type name) of a type hint."""
    origin = typing.get_origin(hint) or hint
    if origin in (typing.Union, types.UnionType):
        members = [type_of(a) for a in typing.get_args(hint)]
        real = [m for m in members if m[1] != "nil"]
        names = {m[1] for m in real}
        if names == {"int", "double"}:
            real = [type_of(float)]
        xml = real[0][1] if len(real) == 1 else "any"
        if any(m[1] == "nil" for m in members):
            real.append(type_of(type(None)))
        return (real[0][0] if len(real) == 1 else _either([m[0] for m in real])), xml
    schema, xml = _TYPES.get(origin, _ANY)
    args = typing.get_args(hint)
    if origin is list and args:
        schema = {**schema, "items": type_of(args[0])[0]}
    return dict(schema), xml


def _either(schemas: list[dict[str, Any]]) -> dict[str, Any]:
    if all(list(s) == ["type"] for s in schemas):
        return {"type": [s["type"] for s in schemas]}
    return {"anyOf": schemas}


def schema_text(schema: dict[str, Any]) -> str:
    """A schema the way a person reads a type: ``integer | null``, ``array of string``."""
    if "anyOf" in schema:
        return " | ".join(schema_text(s) for s in schema["anyOf"])
    kind = schema.get("type")
    if kind is None:
        return "any"
    if isinstance(kind, list):
        return " | ".join(kind)
    if kind == "array" and "items" in schema:
        return f"array of {schema_text(schema['items'])}"
    return {"date-time": "date-time"}.get(schema.get("format", ""), kind)


def document(models: list[MethodModel], servers: list[str]) -> dict[str, Any]:
    """The OpenRPC document ``rpc.discover`` answers; ``servers`` are base URLs."""
    return {
        "openrpc": OPENRPC_VERSION,
        "info": {"title": "rpc-gateway", "version": __version__,
                 "description": "The same methods over JSON-RPC (1.0, 1.1, 2.0) and XML-RPC, "
                                "on one port."},
        "servers": [server for base in servers for server in (
            {"name": "JSON-RPC", "url": f"{base}/jsonrpc",
             "summary": "POST application/json (also / and /RPC2)"},
            {"name": "XML-RPC", "url": f"{base}/RPC2",
             "summary": "POST text/xml, the same methods (also / and /xmlrpc)"})],
        "methods": [m.openrpc() for m in models if m.name != "rpc.discover"],
    }


def base_urls(addresses: list[str], tls: bool) -> list[str]:
    """``http://host:port`` for each TCP listener; a wildcard address names this host."""
    scheme = "https" if tls else "http"
    urls = []
    for address in addresses:
        if address.startswith("unix:"):
            continue
        host, _, port = address.rpartition(":")
        if host in ("0.0.0.0", "[::]", ""):
            host = socket.gethostname()
        urls.append(f"{scheme}://{host}:{port}")
    return urls


def _descriptor(name: str, schema: dict[str, Any], required: bool) -> dict[str, Any]:
    return {"name": name, "schema": schema, "required": required}


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception:  # an unresolvable annotation: treat every type as "any"
        return {}


def _literal(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
