"""JSON-RPC class hints (``{"__jsonclass__": ["module.Class", [args]]}``) stay out.

jsonrpclib turns an object with a ``__jsonclass__`` member into an instance of
the class it names: a default client fails on it (``TranslationError``), and one
configured with registered or dynamic classes builds whatever the hint says. The
gateway registers no classes, so it refuses calls holding one (-32602) and never
sends one in an answer, whatever a service returns.

Checks cost a byte search per body; only a body that could hold the member (its
name, or a ``\\u`` escape that could spell it) is walked.
"""

from __future__ import annotations

from typing import Any

HINT = "__jsonclass__"
_HINT_BYTES = HINT.encode()

REFUSED = (f'a class hint ("{HINT}") in a call is refused: this gateway registers no '
           "classes, and JSON-RPC clients would turn the hint into an object")
WITHHELD = (f'the result holds a class hint ("{HINT}"), which JSON-RPC clients would turn '
            "into an object; it is not sent")


def may_hold(body: bytes) -> bool:
    """False when ``body`` (JSON text) certainly holds no ``__jsonclass__`` member."""
    return _HINT_BYTES in body or (b"\\" in body and b"\\u" in body)  # memchr first


def holds(value: Any) -> bool:
    """True when ``value`` (decoded JSON, or a service's result) has the member anywhere."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if HINT in item:
                return True
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False
