"""The hostile-input catalogue: one Case per malformed or abusive request, with its right answer.

A case builds its request from the gateway's limits (so the same case is
oversized for a small test configuration and for the defaults) and says what
the gateway must answer: an HTTP status, an RPC error code, a result, or the
codes of each entry of a batch or multicall. Every case must also be answered
within ``within`` seconds; ``tests/test_hostile.py`` adds the checks common
to all (no leak, nothing fetched or imported, still serving).
"""

from __future__ import annotations

import gzip
import json
import xmlrpc.client
import zlib
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Callable, Iterable

from tests.hostile.checks import Outcome, rpc_outcome
from tests.hostile.wire import Reply, request

PARSE, INVALID, NOT_FOUND, PARAMS, INTERNAL, SERVICE = (
    -32700, -32600, -32601, -32602, -32603, -32000)
ANY: Any = object()


@dataclass(frozen=True)
class Target:
    """What a case builds from: the gateway's limits, a trap URL, a file an exploit would make."""

    limits: Any
    trap_url: str
    marker: str


@dataclass(frozen=True)
class Expect:
    """The right answer: statuses allowed, and for RPC replies the codes/result/entries."""

    status: tuple[int, ...] = (200,)
    codes: Any = ANY          # allowed top-level error codes (None = a result)
    result: Any = ANY         # the exact result
    entries: Any = ANY        # per-entry codes of a batch or multicall (None = a result)
    within: float = 5.0       # seconds
    empty: bool = False       # an empty 200: a notification, nothing to answer
    check: Callable[[Outcome, Target], Any] | None = None  # asserts more about the outcome

    def verify(self, reply: Reply, target: Target) -> None:
        assert reply.seconds < self.within, f"answered after {reply.seconds:.1f}s: {reply}"
        assert reply.status in self.status, f"expected HTTP {self.status}, got {reply}"
        assert reply.status != 500, reply
        if reply.status != 200:
            return
        if self.empty:
            assert reply.body == b"", f"a notification got a body: {reply}"
            return
        outcome = rpc_outcome(reply)
        if self.codes is not ANY:
            assert outcome.code in self.codes, f"expected code {self.codes}, got {outcome}"
        if self.result is not ANY:
            assert outcome.code is None and outcome.result == self.result, outcome
        if self.entries is not ANY:
            assert outcome.entries == list(self.entries), outcome
        if self.check is not None:
            assert self.check(outcome, target) is not False, outcome


def no_answer() -> Expect:
    return Expect(empty=True)


def http(*statuses: int) -> Expect:
    return Expect(status=statuses)


def error(*codes: int, within: float = 5.0) -> Expect:
    return Expect(codes=codes, within=within)


def result(value: Any) -> Expect:
    return Expect(codes=(None,), result=value)


def entries(*codes: int | None) -> Expect:
    return Expect(codes=(None,), entries=codes)


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Target], bytes | Iterable[bytes]]
    expect: Expect
    gateway: str = "small"     # which configuration of tests/test_hostile.py serves it
    oversized: bool = False    # part of the memory burst in tests/test_limits.py


# -- request builders ---------------------------------------------------------------------

def xml_post(body: bytes | str, headers: Iterable[tuple[str, str]] = (),
             content_type: str | None = "text/xml") -> bytes:
    data = body.encode() if isinstance(body, str) else body
    return request(body=data, headers=headers, content_type=content_type)


def json_post(body: Any, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return request(body=data, headers=headers, content_type="application/json")


def xml_call(method: str, *params: Any) -> bytes:
    return xml_post(xmlrpc.client.dumps(params, method, allow_none=True))


def json_call(method: str, params: Any, rpcid: Any = 1) -> bytes:
    return json_post({"jsonrpc": "2.0", "method": method, "params": params, "id": rpcid})


def xml_value(value_xml: str, method: str = "ping", prolog: str = "") -> str:
    return (f"<?xml version='1.0'?>\n{prolog}<methodCall><methodName>{method}</methodName>"
            f"<params><param><value>{value_xml}</value></param></params></methodCall>")


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def billion_laughs() -> str:
    names = "abcdefghij"
    entities = "".join(f'<!ENTITY {n} "{("&" + p + ";") * 10}">' for p, n in zip(names, names[1:]))
    return xml_value("<string>&j;</string>", prolog=f'<!DOCTYPE m [<!ENTITY a "ha">{entities}]>')


def bomb(limits: Any, coding: str = "gzip", start: bytes = b"<") -> bytes:
    """A small body that expands past max_decompressed_bytes."""
    plain = start + b" " * (limits.max_decompressed_bytes + 4096)
    if coding == "gzip":
        return gzip.compress(plain, compresslevel=9)
    wbits = zlib.MAX_WBITS if coding == "deflate" else -zlib.MAX_WBITS
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return packer.compress(plain) + packer.flush()


def endless_chunks(t: Target) -> Iterable[bytes]:
    """A chunked upload that never ends: the head, then 1 KiB chunks forever."""
    yield request(content_type="text/xml", length=False,
                  headers=[("Transfer-Encoding", "chunked")])
    yield from repeat(b"400\r\n" + b"<" * 1024 + b"\r\n")


def endless_bytes(start: bytes, filler: bytes) -> Callable[[Target], Iterable[bytes]]:
    def build(t: Target) -> Iterable[bytes]:
        yield start
        yield from repeat(filler * 1024)
    return build


def with_content_length(value: str, body: bytes = b"{}") -> Callable[[Target], bytes]:
    return lambda t: (b"POST /RPC2 HTTP/1.1\r\nContent-Type: application/json\r\n"
                      b"Content-Length: " + value.encode("latin-1") + b"\r\n\r\n" + body)


def chunk_size_spelled(spelling: Callable[[int], bytes]) -> Callable[[Target], bytes]:
    body = json.dumps({"jsonrpc": "2.0", "method": "add", "params": [1, 2], "id": 1}).encode()
    return lambda t: request(content_type="application/json", length=False,
                             headers=[("Transfer-Encoding", "chunked")]) + \
        spelling(len(body)) + b"\r\n" + body + b"\r\n0\r\n\r\n"


def class_hint(target: str, *args: Any) -> dict:
    return {"__jsonclass__": [target, list(args)]}


def hints(t: Target) -> list:
    """Class hints that would run code or import a module if honoured."""
    return [class_hint("os.system", f"touch {t.marker}"),
            class_hint("subprocess.Popen", ["touch", t.marker]),
            class_hint("tests.hostile.tripwire.Tripwire"),
            {"deeper": [class_hint("builtins.eval", f"open({t.marker!r}, 'w')")]}]


def digits(n: int) -> str:
    return "9" * n


def json_with_number(method: str, *numbers: str) -> bytes:
    params = ",".join(numbers)
    return json_post(f'{{"jsonrpc":"2.0","method":"{method}","params":[{params}],"id":1}}'
                     .encode())


def xml_with_ints(method: str, *numbers: str) -> bytes:
    values = "".join(f"<param><value><int>{n}</int></value></param>" for n in numbers)
    return xml_post(f"<?xml version='1.0'?><methodCall><methodName>{method}</methodName>"
                    f"<params>{values}</params></methodCall>")


def multicall(calls: list) -> bytes:
    return xml_post(xmlrpc.client.dumps((calls,), "system.multicall"))

