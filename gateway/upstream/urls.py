"""Upstream addresses: ``PROTOCOL+TRANSPORT://ADDRESS[/PATH][#OPTIONS]``, checked once.

The protocol comes first because one address can speak several (aria2 answers
XML-RPC and JSON-RPC on the same port). The gateway's own settings for the
upstream go in the fragment, which HTTP never sends, so nothing of ours
reaches the upstream's path: ``jsonrpc+http://127.0.0.1:6800/jsonrpc#timeout=5``.

Unix sockets for the HTTP protocols: ``xmlrpc+unix:///run/supervisor.sock:/RPC2``
(socket path, then ``:`` and the HTTP path; ``/`` when left out).
A password is never accepted inside the URL (URLs end up in logs and ps):
``password_file=`` or ``credential=`` (a systemd credential) name where it is.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

TRANSPORTS = {
    "jsonrpc": ("http", "https", "unix"),
    "xmlrpc": ("http", "https", "unix"),
    "zerorpc": ("tcp", "ipc"),
}
_SCHEME = re.compile(r"(?P<protocol>[a-z]+)\+(?P<transport>[a-z]+)://")


def looks_like_url(spec: str) -> bool:
    """True for an upstream spec (``[prefix=]proto+transport://...``), not ``module:attr``."""
    return "://" in spec


def _number(low: float, high: float, kind: Callable[[str], Any] = float) -> Callable:
    def check(text: str) -> Any:
        value = kind(text)
        if not (low <= value <= high) or (kind is float and not math.isfinite(value)):
            raise ValueError(f"must be between {low} and {high}")
        return value
    return check


def _flag(text: str) -> bool:
    if text.lower() in ("1", "yes", "true", "on"):
        return True
    if text.lower() in ("0", "no", "false", "off"):
        return False
    raise ValueError("must be 1 or 0")


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n for n in (part.strip() for part in text.split(",")) if n)
    if not names:
        raise ValueError("must name at least one method")
    return names


def _choice(*allowed: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return text
    return check


# name: (default, parser, meaning) -- the README's table of upstream options.
OPTIONS: dict[str, tuple[Any, Callable[[str], Any], str]] = {
    "timeout": (30.0, _number(0.01, 3600), "seconds a call may take, answer included"),
    "connect_timeout": (3.0, _number(0.01, 600), "seconds to connect"),
    "max_in_flight": (8, _number(1, 10000, int), "calls at once; more wait connect_timeout, "
                                                  "then -32000"),
    "max_bytes": (16 << 20, _number(1024, 1 << 34, int), "largest answer accepted"),
    "max_items": (100000, _number(1, 1 << 30, int), "longest zerorpc stream taken as a list"),
    "failures": (5, _number(1, 1000, int), "failed calls in a row that open the circuit"),
    "reset": (5.0, _number(0.01, 3600), "seconds the circuit stays open before a trial call"),
    "retries": (1, _number(0, 10, int), "retries of a call that cannot have run "
                                        "(connection refused)"),
    "methods": ((), _names, "comma-separated method list, for upstreams without "
                            "introspection"),
    "user": ("", str, "user for HTTP Basic auth (also user@host)"),
    "password_file": ("", str, "file holding the Basic auth password"),
    "token_file": ("", str, "file holding a bearer token"),
    "credential": ("", str, "systemd credential (in $CREDENTIALS_DIRECTORY) holding "
                            "the password"),
    "ca_file": ("", str, "CA bundle for https (default: the system's)"),
    "cert_file": ("", str, "client certificate for https"),
    "key_file": ("", str, "client key for https (default: inside cert_file)"),
    "nil": (True, _flag, "send None as <nil/> to XML-RPC upstreams (0: refuse it)"),
    "i8": (True, _flag, "send 33-64-bit ints as <i8> to XML-RPC upstreams (0: refuse)"),
    "binary": ("refuse", _choice("refuse", "base64"),
               "bytes to a JSON-RPC upstream: refused, or sent as a base64 string"),
    "heartbeat": (5.0, _number(0.1, 600), "zerorpc heartbeat period"),
    "streams": ((), _names, "zerorpc methods that stream: the gateway's zerorpc front "
                            "streams their items too (elsewhere they are lists)"),
}


@dataclass(frozen=True)
class UpstreamURL:
    """A parsed upstream address; ``display`` is safe to log (no options, no secrets)."""

    protocol: str
    transport: str
    host: str = ""
    port: int = 0
    path: str = "/"
    socket_path: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def display(self) -> str:
        if self.transport == "unix":
            return f"{self.protocol}+unix://{self.socket_path}:{self.path}"
        if self.transport == "ipc":
            return f"zerorpc+ipc://{self.socket_path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        tail = "" if self.transport == "tcp" else self.path
        return f"{self.protocol}+{self.transport}://{host}:{self.port}{tail}"

    def option(self, name: str) -> Any:
        return self.options.get(name, OPTIONS[name][0])


def parse_spec(spec: str) -> tuple[str, UpstreamURL]:
    """``[prefix=]URL`` -> (prefix, URL), or ValueError saying what is wrong."""
    prefix, _, url = spec.partition("=") if "=" in spec.split("://")[0] else ("", "", spec)
    if prefix and not re.fullmatch(r"[A-Za-z][\w.]*", prefix):
        raise ValueError(f"the prefix {prefix!r} must be a name (letters, digits, _ and .)")
    return prefix, parse_url(url)


def parse_url(text: str) -> UpstreamURL:
    match = _SCHEME.match(text)
    if not match or match["protocol"] not in TRANSPORTS:
        raise ValueError(f"{_shown(text)}: an upstream URL starts with jsonrpc+http(s)://, "
                         "xmlrpc+http(s)://, jsonrpc+unix://, xmlrpc+unix://, zerorpc+tcp:// "
                         "or zerorpc+ipc://")
    protocol, transport = match["protocol"], match["transport"]
    if transport not in TRANSPORTS[protocol]:
        raise ValueError(f"{_shown(text)}: {protocol} goes over "
                         f"{', '.join(TRANSPORTS[protocol])}, not {transport}")
    address, _, fragment = text[match.end():].partition("#")
    options = _options(fragment, text)
    if transport in ("unix", "ipc"):
        return _local(protocol, transport, address, options, text)
    return _network(protocol, transport, address, options, text)


def _local(protocol: str, transport: str, address: str, options: dict, text: str) -> UpstreamURL:
    socket_path, path = address, "/"
    if transport == "unix" and ":/" in address:
        socket_path, _, rest = address.rpartition(":/")
        path = "/" + rest
    if not socket_path.startswith("/"):
        raise ValueError(f"{_shown(text)}: the socket path must be absolute "
                         f"(three slashes: {protocol}+{transport}:///path)")
    return UpstreamURL(protocol, transport, path=path, socket_path=socket_path,
                       options=options)


def _network(protocol: str, transport: str, address: str, options: dict,
             text: str) -> UpstreamURL:
    parts = urlsplit("//" + address)
    if parts.password is not None:
        raise ValueError(f"{_shown(text)}: no password in the URL (it would be logged); "
                         "use #password_file=PATH or #credential=NAME")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{_shown(text)}: the port is not a number from 0 to 65535") from None
    if not parts.hostname or not port:
        raise ValueError(f"{_shown(text)}: the address needs a host and a port")
    if parts.username:
        options.setdefault("user", parts.username)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return UpstreamURL(protocol, transport, parts.hostname, port, path, options=options)


def _options(fragment: str, text: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, value in parse_qsl(fragment, keep_blank_values=True):
        if name not in OPTIONS:
            raise ValueError(f"{_shown(text)}: unknown option {name!r} "
                             f"(known: {', '.join(OPTIONS)})")
        try:
            options[name] = OPTIONS[name][1](value)
        except ValueError as error:
            raise ValueError(f"{_shown(text)}: option {name}={value!r}: {error}") from None
    return options


def _shown(text: str) -> str:
    """The URL as it may appear in an error message: no fragment, no userinfo."""
    head = text.partition("#")[0]
    return re.sub(r"//[^/@]*@", "//", head)[:200]
