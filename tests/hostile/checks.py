"""What every hostile case asserts afterwards, and how a reply is read as an RPC outcome.

Rules:
- A reply never carries a traceback, a file path, an exception repr or the
  text of a secret from the server side.
- After any case, a normal call on a NEW connection succeeds with both
  protocols' real clients: the gateway is still serving.
- Process numbers (RSS, threads) come from /proc, for a daemon the test started.
"""

from __future__ import annotations

import json
import re
import xmlrpc.client
from pathlib import Path
from typing import Any

import jsonrpclib

from tests.hostile.wire import Reply

ROOT = Path(__file__).resolve().parents[2]
SECRET_TEXTS = ("hunter2", "/etc/secret")  # what tests.support.services:Broken raises with
LEAK_TEXTS = ("Traceback", 'File "', "site-packages", "/usr/lib/python", str(ROOT),
              "root:x:0:0")
EXCEPTION_REPR = re.compile(r"\b[A-Z]\w*(?:Error|Exception)\(|<class '|object at 0x")
XML_TYPE, JSON_TYPE = "text/xml", "application/json"


def assert_no_leak(reply: Reply) -> None:
    """No secret, path, traceback or exception repr in the head or body of ``reply``."""
    text = reply.text + "\n" + "\n".join(f"{k}: {v}" for k, v in reply.headers.items())
    for needle in SECRET_TEXTS + LEAK_TEXTS:
        assert needle not in text, f"the reply leaks {needle!r}: {text[:500]!r}"
    found = EXCEPTION_REPR.search(text)
    assert not found, f"the reply carries an exception repr {found.group()!r}: {text[:500]!r}"


class Outcome:
    """A reply read as RPC: a fault/error code, or a result; batches and multicalls as entries."""

    def __init__(self, code: int | None = None, result: Any = None,
                 entries: list[int | None] | None = None) -> None:
        self.code = code
        self.result = result
        self.entries = entries

    def __repr__(self) -> str:
        return f"<Outcome code={self.code} entries={self.entries} result={self.result!r:.200}>"


def rpc_outcome(reply: Reply) -> Outcome:
    """Parse an RPC reply by its Content-Type; fail if it is neither protocol's."""
    assert reply.status == 200, f"an RPC reply has status 200, got {reply}"
    if reply.media_type == XML_TYPE:
        return _xml_outcome(reply.body)
    assert reply.media_type == JSON_TYPE, f"no RPC Content-Type: {reply}"
    return _json_outcome(json.loads(reply.body))


def _xml_outcome(body: bytes) -> Outcome:
    try:
        (value,), _ = xmlrpc.client.loads(body, use_builtin_types=True)
    except xmlrpc.client.Fault as fault:
        return Outcome(code=fault.faultCode)
    if isinstance(value, list) and all(isinstance(e, (list, dict)) for e in value):
        return Outcome(result=value, entries=[_multicall_code(e) for e in value])
    return Outcome(result=value)


def _json_outcome(document: Any) -> Outcome:
    if isinstance(document, list):
        return Outcome(result=document, entries=[_json_code(entry) for entry in document])
    code = _json_code(document)
    if code is not None:
        return Outcome(code=code)
    result = document["result"]
    if isinstance(result, list) and result and all(isinstance(e, (list, dict)) for e in result):
        return Outcome(result=result, entries=[_multicall_code(e) for e in result])
    return Outcome(result=result)


def _json_code(entry: dict) -> int | None:
    error = entry.get("error")
    return error["code"] if error else None


def _multicall_code(entry: Any) -> int | None:
    return entry["faultCode"] if isinstance(entry, dict) and "faultCode" in entry else None


def assert_still_serving(url: str) -> None:
    """A normal call on a new connection, with each protocol's real client, succeeds."""
    assert xmlrpc.client.ServerProxy(url).add(2, 3) == 5
    assert jsonrpclib.ServerProxy(url).add(4, 5) == 9


# -- /proc numbers for a daemon ----------------------------------------------------------

def proc_status(pid: int, field: str) -> int:
    """A number from /proc/PID/status: ``VmRSS`` (KiB), ``Threads``, ``VmHWM``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return int(value.split()[0])
    raise AssertionError(f"/proc/{pid}/status has no {field}")
