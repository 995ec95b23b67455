"""The JSON-RPC side: jsonrpclib's PooledJSONRPCServer with a spec-exact dispatch.

The pooled server supplies the concurrency model (jsonrpclib's thread pool);
the dispatch is the gateway's own, because jsonrpclib's differs from the
specification where clients notice (``"id": null`` taken as a notification,
no 1.1 replies, bad requests echoed into error messages) and because its JSON
backend depends on which packages happen to be installed. Here the backend is
always the standard library's ``json``, with NaN and Infinity refused.

Versions are answered in the form they were asked in: 2.0 (``"jsonrpc":
"2.0"``), the 1.1 working draft (``"version": "1.1"``, Perl's JSON::RPC) and
1.0 (neither; ``"id": null`` is a notification there).
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import math
import sys
from typing import Any

import jsonrpclib.config
import jsonrpclib.threadpool
from jsonrpclib.SimpleJSONRPCServer import PooledJSONRPCServer

from gateway import faults, jsonclass, memory
from gateway.outcomes import Answer, jsonrpc_outcome, multicall_outcomes

V10, V11, V20 = "1.0", "1.1", "2.0"

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                            default=lambda value: _to_json(value))


def _to_json(value: Any) -> Any:
    """Values a service may return that JSON has no type for."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return list(value)
    if hasattr(value, "data") and isinstance(value.data, bytes):  # xmlrpc.client.Binary
        return base64.b64encode(value.data).decode("ascii")
    raise TypeError(f"{type(value).__name__} has no JSON form")


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# One decoder for every request (as json.loads keeps one for calls without options):
# json.loads(body, parse_constant=...) builds a new JSONDecoder per call.
_decoder = json.JSONDecoder(parse_constant=_refuse_constant)


def encode(value: Any) -> bytes:
    return _encoder.encode(value).encode("utf-8")


def parse_body(body: bytes, max_depth: int) -> Any:
    """Decode a request body, or raise ParseError / InvalidRequest / InvalidParams."""
    if body.count(b"[") + body.count(b"{") > max_depth and _depth(body) > max_depth:
        raise faults.InvalidRequest(f"values nested deeper than {max_depth} levels")
    try:
        return _decoder.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except json.JSONDecodeError as error:
        raise faults.ParseError(f"not valid JSON ({error.msg} at line {error.lineno} "
                                f"column {error.colno})") from None
    except UnicodeDecodeError:
        raise faults.ParseError("not valid JSON (the body is not UTF-8, -16 or -32)") from None
    except RecursionError:
        raise faults.InvalidRequest("values nested too deeply") from None
    except ValueError:  # NaN/Infinity, or an integer past Python's digit limit
        if _has_huge_integer(body):
            raise faults.InvalidParams(f"an integer has more than "
                                       f"{sys.get_int_max_str_digits()} digits") from None
        raise faults.ParseError("not valid JSON (a number JSON does not allow)") from None


def _has_huge_integer(body: bytes) -> bool:
    """Only checked after a failure: a per-integer hook would slow every large array down."""
    limit = sys.get_int_max_str_digits()
    return limit > 0 and re.search(rb"[0-9]{%d}" % (limit + 1), body) is not None


def _depth(body: bytes) -> int:
    """Deepest bracket nesting outside strings; only run when the count could exceed it."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def reply(version: str, rpcid: Any, result: Any = None,
          error: tuple[int, str] | None = None) -> dict[str, Any]:
    """A response object in the form of the request's protocol version."""
    if version == V20:
        if error is None:
            return {"jsonrpc": "2.0", "result": result, "id": rpcid}
        return {"jsonrpc": "2.0", "error": {"code": error[0], "message": error[1]}, "id": rpcid}
    if version == V11:
        if error is None:
            return {"version": "1.1", "result": result, "id": rpcid}
        return {"version": "1.1", "id": rpcid, "error": {
            "name": "JSONRPCError", "code": error[0], "message": error[1]}}
    if error is None:
        return {"result": result, "error": None, "id": rpcid}
    return {"result": None, "error": {"code": error[0], "message": error[1]}, "id": rpcid}


def _is_notification(version: str, request: dict[str, Any]) -> bool:
    """2.0: no "id" member. 1.0: "id" null or missing. 1.1: never; the working draft
    makes "id" optional, and Perl's JSON::RPC::Legacy::Client sends none by default."""
    if version == V20:
        return "id" not in request
    if version == V10:
        return request.get("id") is None
    return False


def _valid_id(rpcid: Any) -> bool:
    """A string, a number JSON can carry back (1e400 parses as infinity), or null."""
    if isinstance(rpcid, float):
        return math.isfinite(rpcid)
    return rpcid is None or (isinstance(rpcid, (str, int)) and not isinstance(rpcid, bool))


class JSONRPCServer(PooledJSONRPCServer):
    """The pooled JSON-RPC server: jsonrpclib's pool, no socket of its own.

    jsonrpclib's request handlers never run here, so neither does its
    ``_marshaled_dispatch``: the gateway's worker job calls ``answer_body``.
    """

    def __init__(self, instance: Any, threads: int, max_depth: int = 64,
                 max_calls: int = 100) -> None:
        self.request_pool = jsonrpclib.threadpool.ThreadPool(
            max_threads=threads, min_threads=threads, logname="gateway.jsonrpc.pool")
        self.request_pool.start()
        PooledJSONRPCServer.__init__(
            self, ("127.0.0.1", 0), logRequests=False, bind_and_activate=False,
            config=jsonrpclib.config.Config(use_jsonclass=False),
            thread_pool=self.request_pool)
        self.socket.close()  # the gateway owns the listening sockets
        self.register_instance(instance)
        self.max_depth = max_depth
        self.max_calls = max_calls

    def submit(self, job: Any) -> None:
        self.request_pool.enqueue(memory.Once(job))  # the pool's idle threads keep their last

    def answer_body(self, data: bytes) -> Answer:
        """Return (response body, or None when only notifications came, method, outcome),
        and for a batch or a system.multicall each call's (method, outcome)."""
        try:
            request = parse_body(data, self.max_depth)
        except faults.RPCError as error:
            return encode(reply(V20, None, error=(error.code, str(error)))), "-", \
                f"error {error.code}"
        hinted = jsonclass.may_hold(data)
        if not isinstance(request, list):
            answer = self._one(request, hinted)
            method = request.get("method") if isinstance(request, dict) else None
            label = method[:64] if isinstance(method, str) else "-"
            if answer is None:
                return None, label, "notification"
            error = answer.get("error")
            if label == "system.multicall" and not error:  # its calls, for the metrics
                return (self._encode_reply(answer), label, "ok",
                        multicall_outcomes(request.get("params"), answer.get("result")))
            return self._encode_reply(answer), label, f"error {error['code']}" if error else "ok"
        if not request:
            return encode(reply(V20, None, error=(faults.INVALID_REQUEST, "empty batch"))), \
                "batch", "error -32600"
        if len(request) > self.max_calls:
            return encode(reply(V20, None, error=(
                faults.INVALID_REQUEST, f"at most {self.max_calls} calls per batch"))), \
                "batch", "error -32600"
        answered = [(call, self._one(call, hinted)) for call in request]
        answers = [answer for _, answer in answered if answer is not None]
        calls = tuple(jsonrpc_outcome(call, answer) for call, answer in answered)
        label = f"batch[{len(request)}]"
        if not answers:
            return None, label, "notification", calls
        try:
            payload = encode(answers)
        except (TypeError, ValueError):
            payload = None
        if payload is None or jsonclass.may_hold(payload):  # one by one: each checked
            payload = b"[" + b",".join(self._encode_reply(a) for a in answers) + b"]"
        return payload, label, "ok", calls

    def call_from_query(self, method: str, params: Any, rpcid: Any) -> bytes:
        """``GET /jsonrpc?method=add&params=[1,2]&id=1``: answered as JSON-RPC 2.0."""
        answer = self._one({"jsonrpc": "2.0", "method": method, "params": params, "id": rpcid})
        return self._encode_reply(answer)

    def _encode_reply(self, answer: dict[str, Any]) -> bytes:
        try:
            payload = encode(answer)
            if not (jsonclass.may_hold(payload) and jsonclass.holds(answer.get("result"))):
                return payload
            error = (faults.INTERNAL_ERROR, jsonclass.WITHHELD)
        except ValueError:  # NaN or infinity: the same code XML-RPC gives (one table)
            error = (faults.INVALID_PARAMS, "the result is not a finite number")
        except TypeError as problem:  # a service returned a type JSON has no form for
            error = faults.describe(problem, "result encoding")
        version = V20 if "jsonrpc" in answer else V11 if "version" in answer else V10
        return encode(reply(version, answer.get("id"), error=error))

    def _one(self, request: Any, hinted: bool = True) -> dict[str, Any] | None:
        """Answer one call object; None for a notification. ``hinted``: the body may
        hold a class hint (see gateway.jsonclass), so the call is searched for one."""
        if not isinstance(request, dict):
            return reply(V20, None, error=(faults.INVALID_REQUEST, "a call must be an object"))
        if "jsonrpc" in request or "method" not in request:
            version = V20  # an object without "method" is not a 1.0 call: answer per 2.0
        elif request.get("version") == "1.1":
            version = V11
        else:
            version = V10
        rpcid = request.get("id")
        if not _valid_id(rpcid):
            return reply(version, None, error=(faults.INVALID_REQUEST, "invalid id"))
        if version == V20 and request.get("jsonrpc") != "2.0":
            return reply(V20, rpcid, error=(faults.INVALID_REQUEST, 'jsonrpc must be "2.0"'))
        method = request.get("method")
        params = request.get("params", [])
        # An invalid Request object is answered even without an id (spec section 7):
        # only a valid call can be a notification.
        if not isinstance(method, str):
            return reply(version, rpcid, error=(faults.INVALID_REQUEST,
                                                "method must be a string"))
        if not isinstance(params, (list, dict)):
            return reply(version, rpcid, error=(faults.INVALID_REQUEST,
                                                "params must be an array or an object"))
        notification = _is_notification(version, request)
        try:
            if hinted and jsonclass.holds(request):  # in params, or beside them
                raise faults.InvalidParams(jsonclass.REFUSED)
            result = self.instance.call(method, params)
        except Exception as error:
            if notification:
                faults.describe(error, str(method))  # logged if it was a bug
                return None
            return reply(version, rpcid, error=faults.describe(error, str(method)))
        return None if notification else reply(version, rpcid, result)

    def server_close(self) -> None:
        """Stop the pool directly: the inherited close would wait on serve_forever."""
        self.request_pool.stop()
