"""The built-in endpoints: ``/healthz``, CORS preflight, the index page and calls made by GET.

Each takes the parsed request and returns a ``Reply``; none touches a socket.
``/healthz`` and preflight are answered on the connection loop (they are a
dictionary lookup); the page and GET calls run in a protocol pool like any
call, behind the same authentication.
"""

from __future__ import annotations

import json
from typing import Any

from gateway import faults
from gateway.http import HTTPError, Request
from gateway.reply import ALLOW, JSON_CONTENT_TYPE, Reply
from handlers.errors import ServiceError

HTML_CONTENT_TYPE = "text/html; charset=utf-8"


def health(facts: dict[str, Any]) -> Reply:
    """``GET /healthz``: 200 while serving, 503 while draining (so a balancer moves on)."""
    draining = facts["status"] == "draining"
    return Reply(503 if draining else 200, json.dumps(facts).encode(), JSON_CONTENT_TYPE)


def preflight(request: Request) -> Reply:
    headers = {"Allow": ALLOW, **request.cors}
    if request.cors:
        headers.update({"Access-Control-Allow-Methods": "POST, GET, OPTIONS",
                        "Access-Control-Allow-Headers": "Content-Type, Authorization",
                        "Access-Control-Max-Age": "600"})
    return Reply(204, headers=headers)


def index(page: bytes) -> Reply:
    return Reply(200, page, HTML_CONTENT_TYPE, outcome="ok")


def call_from_query(json_server: Any, query: dict[str, str]) -> Reply:
    """``GET /jsonrpc?method=add&params=[1,2]&id=1``: answered as JSON-RPC 2.0."""
    params = _json_or_text(query.get("params", "[]"))
    rpcid = _json_or_text(query["id"]) if "id" in query else None
    payload = json_server.call_from_query(query["method"], params, rpcid)
    return Reply(200, payload, JSON_CONTENT_TYPE, method=query["method"][:64], outcome="ok")


def add_from_query(table: Any, query: dict[str, str]) -> Reply:
    """The reference notes' http.server example: ``GET /?a=1&b=2`` gives {"result": 3}."""
    try:
        a, b = int(query.get("a", 0)), int(query.get("b", 0))
    except ValueError:
        raise HTTPError(400, "a and b must be integers") from None
    try:
        answer, status, outcome = {"result": table.call("add", [a, b])}, 200, "ok"
    except (faults.RPCError, ServiceError) as error:  # e.g. a service without add
        code, message = faults.describe(error, "add")
        answer = {"error": {"code": code, "message": message}}
        status = 404 if code == faults.METHOD_NOT_FOUND else 400
        outcome = f"error {code}"
    return Reply(status, json.dumps(answer).encode(), JSON_CONTENT_TYPE, method="add",
                 outcome=outcome)


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
