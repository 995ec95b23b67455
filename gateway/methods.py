"""The method table: the one registered instance both protocol servers dispatch to.

It holds the service object(s) and exposes only their public callables, by
exact name (``add``, or ``prefix.add`` for a namespaced service): no dotted
attribute traversal, no ``_names``. Arity is checked before the call, so a
TypeError raised inside a method is an internal error, not "invalid params".
It also provides the ``system.*`` introspection and multicall methods, and
``rpc.discover`` (OpenRPC); all three introspection views read ``Method.model``.
A streaming method (``handlers.streams.stream``) answers a bounded list here;
the zerorpc front takes its items one by one through ``invoke``.
"""

from __future__ import annotations

import inspect
import itertools
import types
from typing import Any, Callable

from gateway import faults, openrpc
from handlers.streams import is_stream

class Method:
    """One callable with what introspection and the arity check need."""

    __slots__ = ("name", "func", "signature", "min_args", "max_args", "help", "xml_signatures",
                 "model", "streams")

    def __init__(self, name: str, func: Callable[..., Any]) -> None:
        self.name = name
        self.func = func
        self.help = inspect.getdoc(func) or ""
        try:
            self.signature: inspect.Signature | None = inspect.signature(func)
        except (TypeError, ValueError):  # some builtins have none
            self.signature = None
        self.min_args, self.max_args = _positional_range(self.signature)
        self.model = openrpc.MethodModel(name, func, self.signature, self.help)
        self.xml_signatures = self.model.xml_signatures()
        self.streams = is_stream(func)

    def check_params(self, params: list | tuple | dict) -> None:
        """Raise InvalidParams unless ``params`` fit the signature."""
        if self.signature is None:
            return
        if isinstance(params, dict):
            try:
                self.signature.bind(**params)
            except TypeError as error:
                raise faults.InvalidParams(f"{self.name}: {error}") from None
        elif not self.min_args <= len(params) <= self.max_args:
            expected = (str(self.min_args) if self.min_args == self.max_args
                        else f"{self.min_args} to {self.max_args}")
            if self.max_args == _UNBOUNDED:
                expected = f"at least {self.min_args}"
            raise faults.InvalidParams(
                f"{self.name} takes {expected} parameters, got {len(params)}")


_UNBOUNDED = 1 << 30


class MethodTable:
    """Public methods of the services, by exact name, plus ``system.*``."""

    def __init__(self, services: list[tuple[str, object]], max_calls: int = 100,
                 max_list_items: int = 100_000, servers: list[str] = ()) -> None:
        self.services = services
        self.max_calls = max_calls
        self.max_list_items = max_list_items  # a stream answered as a list, at most this long
        self.servers = list(servers)  # base URLs rpc.discover names
        self._methods: dict[str, Method] = {}
        self.reload_methods()

    def reload_methods(self) -> None:
        """(Re)build the names: at start, and after an upstream's list changed (SIGHUP)."""
        methods: dict[str, Method] = {}
        for prefix, service in self.services:
            for name, func in public_callables(service):
                full = f"{prefix}.{name}" if prefix else name
                methods[full] = Method(full, func)
        for name, func in public_callables(Introspection(self)):
            methods[f"system.{name}"] = Method(f"system.{name}", func)
        methods["rpc.discover"] = Method("rpc.discover", self.discover)
        self._methods = methods  # one swap: a call in flight sees the old or the new table

    def discover(self) -> dict[str, Any]:
        """Return this service's OpenRPC document: every method, its parameters and types."""
        return openrpc.document([self._methods[n].model for n in self.names()], self.servers)

    def names(self) -> list[str]:
        return sorted(self._methods)

    def lookup(self, name: Any) -> Method:
        if not isinstance(name, str):
            raise faults.InvalidRequest("the method name must be a string")
        try:
            return self._methods[name]
        except KeyError:
            raise faults.MethodNotFound(f"method {name[:100]!r} not found") from None

    def call(self, name: Any, params: list | tuple | dict) -> Any:
        """Look up, check arity, call. Errors propagate for the caller to describe."""
        method = self.lookup(name)
        result = self.invoke(method, params)
        if method.streams:
            return bounded_list(result, self.max_list_items, method.name)
        return result

    def invoke(self, method: Method, params: list | tuple | dict) -> Any:
        """Check arity and call; a streaming method's iterable is returned as it is."""
        method.check_params(params)
        try:
            if isinstance(params, dict):
                return method.func(**params)
            return method.func(*params)
        except SystemExit as exit_:  # a service's sys.exit() is its bug, not the gateway's end
            raise RuntimeError(f"{method.name} called sys.exit({exit_.code!r})") from None

    def _dispatch(self, method: str, params: tuple) -> Any:
        """The hook SimpleXMLRPCDispatcher calls on a registered instance."""
        return self.call(method, params)


class Introspection:
    """The ``system.*`` methods, served on both protocols."""

    def __init__(self, table: MethodTable) -> None:
        self._table = table

    def listMethods(self) -> list[str]:
        """Return the names of every method this gateway serves."""
        return self._table.names()

    def methodHelp(self, name: str) -> str:
        """Return the documentation string of the method called ``name``."""
        return self._table.lookup(name).help

    def methodSignature(self, name: str) -> list[list[str]]:
        """Return the method's signatures: lists of [return type, parameter types...]."""
        return self._table.lookup(name).xml_signatures

    def getCapabilities(self) -> dict[str, dict[str, Any]]:
        """Return the protocols and extensions this gateway supports."""
        return {
            "xmlrpc": {"specUrl": "http://www.xmlrpc.com/spec", "specVersion": 1},
            "json-rpc": {"specUrl": "https://www.jsonrpc.org/specification", "specVersion": 2},
            "faults_interop": {
                "specUrl": "http://xmlrpc-epi.sourceforge.net/specs/rfc.fault_codes.php",
                "specVersion": 20010516},
            "system.multicall": {
                "specUrl": "https://mirrors.talideon.com/articles/multicall.html",
                "specVersion": 1},
            "introspection": {
                "specUrl": "http://xmlrpc-c.sourceforge.net/introspection.html",
                "specVersion": 1},
            "nil": {"specUrl": "http://ontosys.com/xml-rpc/extensions.php", "specVersion": 1},
        }

    def multicall(self, calls: list[dict[str, Any]]) -> list[Any]:
        """Run several calls in one request; each result is [value] or a fault struct."""
        if not isinstance(calls, list):
            raise faults.InvalidParams("system.multicall takes one array of call structs")
        if len(calls) > self._table.max_calls:
            raise faults.InvalidRequest(
                f"system.multicall: at most {self._table.max_calls} calls per request")
        return [self._one(call) for call in calls]

    def _one(self, call: Any) -> Any:
        try:
            if not isinstance(call, dict) or not isinstance(call.get("methodName"), str):
                raise faults.InvalidRequest("each call must be a struct with a methodName")
            name, params = call["methodName"], call.get("params", [])
            if name == "system.multicall":
                raise faults.InvalidRequest("system.multicall may not be nested")
            if not isinstance(params, (list, tuple)):
                raise faults.InvalidParams("params must be an array")
            return [self._table.call(name, params)]
        except Exception as error:  # each call's fault stays inside its own entry
            code, message = faults.describe(error, str(call.get("methodName", "?"))
                                            if isinstance(call, dict) else "?")
            return {"faultCode": code, "faultString": message}


def bounded_list(items: Any, limit: int, name: str) -> list:
    """A stream's items as a list, refused (invalid params) past ``limit`` items."""
    result = list(itertools.islice(items, limit + 1))
    if len(result) > limit:
        raise faults.InvalidParams(
            f"{name}: the stream has more than {limit} items; ask for fewer, or call it "
            "over zerorpc, which streams them")
    return result


def public_callables(service: object) -> list[tuple[str, Callable[..., Any]]]:
    """Public callables of an instance, or the functions a module defines itself."""
    found = []
    for name in dir(service):
        if name.startswith("_"):
            continue
        value = getattr(service, name, None)
        if not callable(value) or isinstance(value, type):
            continue
        if isinstance(service, types.ModuleType) and getattr(
                value, "__module__", service.__name__) != service.__name__:
            continue
        found.append((name, value))
    return found


def _positional_range(signature: inspect.Signature | None) -> tuple[int, int]:
    if signature is None:
        return 0, _UNBOUNDED
    low = high = 0
    for param in signature.parameters.values():
        if param.kind == param.VAR_POSITIONAL:
            high = _UNBOUNDED
        elif param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            high += 1
            low += param.default is param.empty
    return low, high

