"""Calling a JSON-RPC 2.0 upstream, including ``system.multicall`` sent as one batch.

Answers are checked like requests: valid JSON (no NaN), an object with our
id, a result or an error object; anything else is an unusable answer. An
error's ``data`` member, which XML-RPC faults have no room for, is kept in
the message (bounded) rather than dropped.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from gateway import faults
from gateway.upstream.errors import BadAnswer, UpstreamFault
from gateway.upstream.http_transport import HTTPTransport
from gateway.upstream.urls import UpstreamURL
from gateway.upstream.values import Rules, check_params

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_ids = itertools.count(1)
# JSON-RPC over HTTP: many servers (aria2 among them) send their error objects with these.
ERROR_STATUSES = frozenset({400, 404, 500})


def _refuse_constant(name: str) -> None:
    raise ValueError(name)


def _decode(body: bytes, name: str) -> Any:
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise BadAnswer(name, "values nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, NaN, over-long ints, bad UTF-8
        raise BadAnswer(name, f"not valid JSON ({str(error)[:80]})") from None


def _answer(reply: Any, rpcid: int, name: str) -> Any:
    if not isinstance(reply, dict):
        raise BadAnswer(name, "not a JSON-RPC response object")
    error = reply.get("error")
    # An error about a call the server could not read carries "id": null.
    if error is not None and reply.get("id") in (rpcid, None):
        raise _error(error, name)
    if reply.get("id") != rpcid:
        raise BadAnswer(name, "not a JSON-RPC response to the call sent")
    if "result" not in reply:
        raise BadAnswer(name, "a response with neither result nor error")
    return reply["result"]


def _error(error: Any, name: str) -> UpstreamFault:
    if not isinstance(error, dict):
        return UpstreamFault(f"{name} answered the error {str(error)[:200]!r}",
                             faults.SERVICE_ERROR)
    code, message = error.get("code"), str(error.get("message", ""))[:1000]
    if "data" in error:
        message = f"{message} (data: {json.dumps(error['data'])[:500]})"
    if not isinstance(code, int) or isinstance(code, bool):
        return UpstreamFault(f"{message} (error code {str(code)[:40]!r})", faults.SERVICE_ERROR)
    return UpstreamFault(message, code)


class JSONRPCUpstream:
    """One JSON-RPC upstream: ``call``, ``multicall``, ``discover`` and ``close``."""

    protocol = "jsonrpc"

    def __init__(self, url: UpstreamURL, authorization: str = "") -> None:
        self.name = url.display
        self.transport = HTTPTransport(url, "application/json", authorization, ERROR_STATUSES)
        self.rules = Rules("jsonrpc", f"the JSON-RPC upstream {self.name}",
                           binary=url.option("binary"))

    def call(self, method: str, params: list | tuple | dict) -> Any:
        rpcid = next(_ids)
        request = {"jsonrpc": "2.0", "method": method,
                   "params": check_params(params, self.rules), "id": rpcid}
        body = self.transport.post(_encoder.encode(request).encode("utf-8"))
        return _answer(_decode(body, self.name), rpcid, self.name)

    def multicall(self, calls: list) -> list:
        """XML-RPC's ``system.multicall`` as one JSON-RPC batch; same answer shape."""
        if not isinstance(calls, list) or not all(
                isinstance(c, dict) and isinstance(c.get("methodName"), str) for c in calls):
            raise faults.InvalidParams("system.multicall takes an array of "
                                       "{methodName, params} structs")
        ids = [next(_ids) for _ in calls]
        batch = [{"jsonrpc": "2.0", "method": c["methodName"],
                  "params": check_params(c.get("params", []), self.rules), "id": i}
                 for c, i in zip(calls, ids)]
        replies = _decode(self.transport.post(_encoder.encode(batch).encode("utf-8")),
                          self.name)
        if not isinstance(replies, list):
            raise BadAnswer(self.name, "the batch was not answered with an array")
        by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
        return [self._entry(by_id.get(i), i) for i in ids]

    def _entry(self, reply: Any, rpcid: int) -> Any:
        try:
            return [_answer(reply, rpcid, self.name)]
        except (UpstreamFault, BadAnswer) as error:
            return {"faultCode": error.code, "faultString": str(error)}

    def discover(self) -> dict[str, str]:
        """``system.listMethods``, else OpenRPC's ``rpc.discover``; {name: help}."""
        try:
            names = self.call("system.listMethods", [])
            if isinstance(names, list) and all(isinstance(n, str) for n in names):
                return {name: "" for name in names}
        except UpstreamFault:
            pass
        document = self.call("rpc.discover", [])
        methods = document.get("methods") if isinstance(document, dict) else None
        if not isinstance(methods, list):
            raise BadAnswer(self.name, "neither system.listMethods nor rpc.discover listed "
                                       "methods; list them with #methods=a,b,c")
        return {m["name"]: str(m.get("description") or m.get("summary") or "")
                for m in methods if isinstance(m, dict) and isinstance(m.get("name"), str)}

    def close(self) -> None:
        self.transport.close()
