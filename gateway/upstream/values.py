"""Which values can cross into which protocol, checked before anything is sent.

The rule is the issue's: keep everything a protocol can carry, and refuse,
with an error naming the value and the reason, what it cannot, never change
it quietly. One walk per call covers every nesting level. The single
conversion that is made (bytes as base64 text to a JSON-RPC upstream) happens
only when the operator asked for it with ``#binary=base64``.
"""

from __future__ import annotations

import base64
import datetime
import math
from typing import Any

from gateway.faults import InvalidParams

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
MSGPACK_INT = (-(2**63), 2**64 - 1)
MAX_LEVELS = 256


class Rules:
    """What one target protocol carries (built once per upstream)."""

    def __init__(self, protocol: str, name: str, nil: bool = True, i8: bool = True,
                 binary: str = "refuse") -> None:
        self.protocol = protocol
        self.name = name
        self.nil = nil or protocol != "xmlrpc"
        self.ints = {"xmlrpc": INT64 if i8 else INT32, "zerorpc": MSGPACK_INT}.get(protocol)
        self.binary = binary
        self.keys: tuple[type, ...] = (str, bytes) if protocol == "zerorpc" else (str,)

    def refuse(self, why: str, path: str) -> InvalidParams:
        where = f" (at {path})" if path else ""
        return InvalidParams(f"cannot send to {self.name}: {why}{where}")


def check_params(params: Any, rules: Rules) -> Any:
    """``params`` as the upstream may receive them, or InvalidParams naming the first problem."""
    if isinstance(params, (list, tuple)) and _all_plain(params, rules):
        return params  # the common case, strings and small ints, without the full walk
    return _walk(params, rules, "", 0)


def _all_plain(params: list | tuple, rules: Rules) -> bool:
    low, high = rules.ints or (None, None)
    for value in params:
        kind = type(value)
        if kind is str or kind is bool:
            continue
        if kind is int and (low is None or low <= value <= high):
            continue
        return False
    return True


def _walk(value: Any, rules: Rules, path: str, level: int) -> Any:
    if level > MAX_LEVELS:
        raise rules.refuse(f"values nested deeper than {MAX_LEVELS} levels", path)
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, int):
        return _integer(value, rules, path)
    if isinstance(value, float):
        if not math.isfinite(value) and rules.protocol != "zerorpc":
            raise rules.refuse(f"{value!r} is not a number {rules.protocol} carries", path)
        return value
    if isinstance(value, (list, tuple)):
        return [_walk(item, rules, f"{path}[{i}]", level + 1) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return _struct(value, rules, path, level)
    if value is None:
        if not rules.nil:
            raise rules.refuse("nil/None, which this XML-RPC upstream does not take (#nil=0)",
                               path)
        return None
    if isinstance(value, (bytes, bytearray)):
        return _binary(bytes(value), rules, path)
    if isinstance(value, datetime.datetime) and rules.protocol != "xmlrpc":
        raise rules.refuse(f"a dateTime, which {rules.protocol} has no type for", path)
    if isinstance(value, datetime.datetime):
        return value
    raise rules.refuse(f"a {type(value).__name__} value", path)


def _integer(value: int, rules: Rules, path: str) -> int:
    if rules.ints is None or rules.ints[0] <= value <= rules.ints[1]:
        return value
    bits = "32" if rules.ints == INT32 else "64"
    raise rules.refuse(f"the integer {_short(value)} is beyond {bits} bits, "
                       f"the most {rules.protocol} carries", path)


def _struct(value: dict, rules: Rules, path: str, level: int) -> dict:
    result = {}
    for key, item in value.items():
        if not isinstance(key, rules.keys):
            raise rules.refuse(f"a struct key that is not a string ({_short(key)})", path)
        result[key] = _walk(item, rules, f"{path}.{key}" if path else str(key), level + 1)
    return result


def _binary(value: bytes, rules: Rules, path: str) -> Any:
    if rules.protocol != "jsonrpc":
        return value
    if rules.binary == "base64":
        return base64.b64encode(value).decode("ascii")
    raise rules.refuse("binary data, which JSON has no type for (#binary=base64 sends it "
                       "as base64 text)", path)


def check_result(value: Any, name: str, level: int = 0) -> Any:
    """A zerorpc upstream's answer: msgpack maps may have keys XML-RPC and JSON cannot name."""
    if level > MAX_LEVELS:
        raise InvalidParams(f"{name} answered values nested deeper than {MAX_LEVELS} levels")
    if isinstance(value, list):
        for item in value:
            check_result(item, name, level + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidParams(f"{name} answered a map with a key that is not a string "
                                    f"({_short(key)}); XML-RPC and JSON-RPC cannot carry it")
            check_result(item, name, level + 1)
    return value


def _short(value: Any) -> str:
    if isinstance(value, int) and value.bit_length() > 128:
        return f"of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"
