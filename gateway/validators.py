"""Validators for configuration values: each takes a value and returns it normalised,
or raises ValueError with a message that says what was expected.
"""

from __future__ import annotations

import os
import re
from types import MappingProxyType
from typing import Any, Callable


def integer(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {kind(value)}")
        if not low <= value <= high:
            raise ValueError(f"expected an integer from {low} to {high}, got {value}")
        return value
    return check


def seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number of seconds, got {kind(value)}")
    if not 0 < value <= 86400:
        raise ValueError(f"expected seconds between 0 and 86400, got {value}")
    return float(value)


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {kind(value)}")
    return value


def choice(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value.lower() not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return value.lower()
    return check


def workers(value: Any) -> int:
    if value == "auto":
        return os.cpu_count() or 1
    return integer(1, 256)(value)


def mode(value: Any) -> int:
    if not isinstance(value, str) or not re.fullmatch(r"0?[0-7]{3}", value):
        raise ValueError(f'expected an octal mode string such as "0660", got {value!r}')
    return int(value, 8)


_ADDRESS = re.compile(r"(?:unix:(?P<path>/.+)|\[(?P<v6>[0-9a-fA-F:.]+)\]:(?P<p6>\d+)"
                      r"|(?P<host>[^:\[\]]*):(?P<port>\d+))")


def parse_address(text: str) -> tuple[str, Any]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``unix:/path`` -> (family name, address)."""
    match = _ADDRESS.fullmatch(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f'expected "HOST:PORT", "[IPV6]:PORT" or "unix:/path", got {text!r}')
    if match["path"]:
        return "unix", match["path"]
    port = int(match["p6"] or match["port"])
    if port > 65535:
        raise ValueError(f"port {port} is out of range")
    if match["v6"]:
        return "ipv6", (match["v6"], port)
    return "ipv4", (match["host"] or "0.0.0.0", port)


def addresses(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError("expected a non-empty list of addresses")
    for item in value:
        parse_address(item)
    return tuple(value)


def services(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError("expected a non-empty list of module:attribute specs")
    for item in value:
        if not isinstance(item, str) or not re.fullmatch(
                r"(?:[A-Za-z][\w]*=)?[\w.]+:[\w.]+", item):
            raise ValueError(f'expected "module:attribute" or "prefix=module:attribute", '
                             f"got {item!r}")
    return tuple(value)


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {kind(value)}")
    return value


def rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"expected a number of calls per second >= 0, got {value!r}")
    return float(value)


def strings(check: Callable[[str], Any], what: str) -> Callable[[Any], tuple[str, ...]]:
    def validate(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise ValueError(f"expected a list of {what}, got {kind(value)}")
        for item in value:
            try:
                if not isinstance(item, str) or check(item) is False:
                    raise ValueError
            except ValueError:
                raise ValueError(f"expected a list of {what}; {item!r} is not one") from None
        return tuple(value)
    return validate


def users(value: Any) -> dict[str, str]:
    from gateway.auth import valid_hash
    if not isinstance(value, dict):
        raise ValueError(f"expected a table of user = \"hash\", got {kind(value)}")
    for user, stored in value.items():
        if not valid_hash(stored):
            raise ValueError(f"user {user!r}: expected a hash from `rpc-gateway hash-password`")
    return MappingProxyType(dict(value))


def token_hash(item: str) -> bool:
    from gateway.auth import valid_hash
    return valid_hash(item)


def kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)
