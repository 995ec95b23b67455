"""What became of each call inside one request: a JSON-RPC batch or a system.multicall.

The access log keeps one line per request (``batch[3]``, ``system.multicall``);
the metrics count every call in it under its own method, so that a client
batching its calls shows up on the dashboards as the calls it made. A protocol
server hands these pairs back beside its answer, for batches and multicalls
only: a single call's outcome is already the request's.
"""

from __future__ import annotations

from typing import Any

Outcomes = tuple[tuple[str, str], ...]  # (method as sent, "ok" / "fault N" / "error N"...)
# A protocol server's answer_body: (body or None, method, outcome[, the calls' outcomes]).
Answer = tuple[bytes | None, str, str] | tuple[bytes | None, str, str, Outcomes]


def multicall_outcomes(params: Any, results: Any) -> Outcomes:
    """The calls of a system.multicall that answered ``results`` (``[value]`` or a fault
    struct each, in order), from its params (positional, or named ``calls``)."""
    calls = params.get("calls") if isinstance(params, dict) else (params or [None])[0]
    if not isinstance(calls, list) or not isinstance(results, list):
        return ()
    return tuple((_name(call, "methodName"),
                  f"fault {result.get('faultCode')}" if isinstance(result, dict) else "ok")
                 for call, result in zip(calls, results))


def jsonrpc_outcome(call: Any, answer: dict[str, Any] | None) -> tuple[str, str]:
    """One call object of a batch and its answer (None: it was a notification)."""
    if answer is None:
        return _name(call, "method"), "notification"
    error = answer.get("error")
    return _name(call, "method"), f"error {error['code']}" if error else "ok"


def _name(call: Any, key: str) -> str:
    name = call.get(key) if isinstance(call, dict) else None
    return name if isinstance(name, str) else "-"
