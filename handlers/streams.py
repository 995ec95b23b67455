"""The stream marker: a method whose answer is a sequence of items, not one value.

Streaming is a property of the service method, not of the transport. The
gateway's zerorpc front sends a marked method's items one by one (``STREAM``
events under the client's flow control); XML-RPC and JSON-RPC have no streams,
so there the same method answers a list, bounded by a configured item count.
The marker is a plain attribute, so services stay free of gateway imports.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

MARKER = "__rpc_stream__"


def stream(func: F) -> F:
    """Mark ``func`` as streaming: it returns an iterable whose items are the answer."""
    setattr(func, MARKER, True)
    return func


def is_stream(func: Callable[..., Any]) -> bool:
    """True for a method marked with :func:`stream` (bound methods see the function's mark)."""
    return bool(getattr(func, MARKER, False))
