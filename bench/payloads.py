"""The calls the benchmark makes, as request bodies and as Python arguments.

Each payload is one method call that every server under test answers the
same way: ``add(2, 3)`` for small calls, ``ping`` of a 1,000-member struct
and ``ping`` of a 10,000-int array for large ones (ping returns its argument,
so the server parses and serialises the payload). aria2, the native anchor,
has neither: its small call is ``aria2.getVersion`` (payload ``version``),
whose answer is a struct naming the version. ``check`` is a Lua pattern
a correct response body matches and ``refuse`` one it must not contain (a
fault): wrk counts every response that fails them as an error, so a server
that answers fast but wrongly does not score.
"""

from __future__ import annotations

import json
import xmlrpc.client
from dataclasses import dataclass
from typing import Any

PROTOCOLS = ("xml", "json")
CONTENT_TYPES = {"xml": "text/xml", "json": "application/json"}
PATHS = {"xml": "/RPC2", "json": "/jsonrpc"}
SMALL = "small"
PAYLOADS = ("small", "struct1000", "array10000", "version")


@dataclass(frozen=True)
class Call:
    """One RPC call in the form each load needs."""

    method: str
    args: tuple
    expected: Any  # what the Python client must get back (None: a struct with a version)

    def accepts(self, answer: Any) -> bool:
        if self.expected is None:
            return isinstance(answer, dict) and "version" in answer
        return answer == self.expected

    def body(self, protocol: str) -> bytes:
        if protocol == "xml":
            return xmlrpc.client.dumps(self.args, self.method).encode("utf-8")
        return json.dumps({"jsonrpc": "2.0", "method": self.method,
                           "params": list(self.args), "id": 1}).encode("utf-8")

    def check(self, protocol: str) -> str:
        """A Lua pattern a correct response body matches."""
        if self.method == "aria2.getVersion":
            return "<name>version</name>" if protocol == "xml" else '"version":%s*"'
        if self.method == "add":
            return "<int>5</int>" if protocol == "xml" else '"result":%s*5%s*[,}]'
        if isinstance(self.expected, dict):
            last = max(self.expected)
            return f"<name>{last}</name>" if protocol == "xml" else f'"{last}":%s*999%s*}}'
        return "<int>9999</int>" if protocol == "xml" else "9999%s*%]"

    @staticmethod
    def refuse(protocol: str) -> str:
        """A Lua pattern a fault or error response contains."""
        return "faultCode" if protocol == "xml" else '"error":%s*{'


def call(payload: str) -> Call:
    if payload == "small":
        return Call("add", (2, 3), 5)
    if payload == "struct1000":
        struct = {f"k{i:04d}": i for i in range(1000)}
        return Call("ping", (struct,), struct)
    if payload == "version":
        return Call("aria2.getVersion", (), None)
    if payload == "array10000":
        array = list(range(10000))
        return Call("ping", (array,), array)
    raise ValueError(f"unknown payload {payload!r}; known: {', '.join(PAYLOADS)}")
