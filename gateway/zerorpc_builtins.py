"""zerorpc's built-in methods, answered from the gateway's one method table.

zerorpc clients (and the ``zerorpc`` CLI) ask a server about itself with
``_zerorpc_list``, ``_zerorpc_name``, ``_zerorpc_ping``, ``_zerorpc_help``,
``_zerorpc_args`` and ``_zerorpc_inspect``. zerorpc-python builds the last two
on ``inspect.getargspec``, gone in Python 3.11; these use ``inspect.signature``
through the table's ``Method`` objects, so they describe exactly what
XML-RPC's ``system.*`` describes.
"""

from __future__ import annotations

import inspect
import types
from typing import Any

from gateway.methods import Method, MethodTable


class Builtins:
    """The ``_zerorpc_*`` methods, as ``Method`` objects so arity is checked the same way."""

    def __init__(self, table: MethodTable) -> None:
        self.table = table
        self.name = service_name(table)
        functions = {"list": self.list, "name": self.service_name, "ping": self.ping,
                     "help": self.help, "args": self.args, "inspect": self.inspect}
        self.methods = {f"_zerorpc_{name}": Method(f"_zerorpc_{name}", function)
                        for name, function in functions.items()}

    def get(self, name: str) -> Method | None:
        return self.methods.get(name)

    def list(self) -> list[str]:
        """The names of the methods served."""
        return self.table.names()

    def service_name(self) -> str:
        """The service's name (its class name)."""
        return self.name

    def ping(self) -> list[str]:
        """["pong", name]: the server is alive."""
        return ["pong", self.name]

    def help(self, method: str) -> str:
        """The method's documentation."""
        return self.table.lookup(method).help

    def args(self, method: str) -> list[Any]:
        """The method's arguments, shaped like getargspec: [args, varargs, keywords, defaults]."""
        return argspec(self.table.lookup(method))

    def inspect(self) -> dict[str, Any]:
        """Every method with its arguments and documentation (the form the CLI reads)."""
        methods = {}
        for name in self.table.names():
            method = self.table.lookup(name)
            names, _, _, defaults = argspec(method)
            described = [{"name": arg} for arg in names]
            for entry, default in zip(reversed(described), reversed(defaults or [])):
                entry["default"] = default
            methods[name] = {"args": described, "doc": method.help}
        return {"name": self.name, "methods": methods}


def argspec(method: Method) -> list[Any]:
    """[positional names, *args name, **kwargs name, defaults] from the signature."""
    signature = method.signature
    if signature is None:
        return [[], "args", None, None]
    names, defaults, varargs, keywords = [], [], None, None
    for param in signature.parameters.values():
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            names.append(param.name)
            if param.default is not param.empty:
                defaults.append(_plain(param.default))
        elif param.kind == param.VAR_POSITIONAL:
            varargs = param.name
        elif param.kind == param.VAR_KEYWORD:
            keywords = param.name
    return [names, varargs, keywords, defaults or None]


def _plain(value: Any) -> Any:
    """A default value as msgpack can carry it (its repr when it cannot)."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value if not isinstance(value, int) or -(1 << 63) <= value < 1 << 64 \
            else repr(value)
    return repr(value)


def service_name(table: MethodTable) -> str:
    """The first service's class (or module) name, as zerorpc-python names a server."""
    if not table.services:
        return "rpc-gateway"
    service = table.services[0][1]
    if isinstance(service, types.ModuleType):
        return service.__name__
    return type(service).__name__ if not inspect.isclass(service) else service.__name__
