"""The I/O-free request reader (gateway/http.py), fed bytes in memory.

What it promises: a request arrives the same whether its bytes come at once
or one at a time (it resumes where it stopped); each line is judged when it
ends, so an HTTP/0.9 line or a control byte is refused before any wait;
limits are checked before the bytes they guard are waited for; pipelined
requests come out one by one, and 100-continue is asked for only when the
client waits for it.
"""

from __future__ import annotations

import pytest

from gateway.http import CONTINUE, HTTPError, Request, RequestReader
from gateway.server import limits_from
from tests.hostile.cases import CATALOGUE
from tests.hostile.catalogue import Target
from tests.support.gateways import config_of
from tests.test_hostile import CONFIGURATIONS

CONFIG = config_of(**CONFIGURATIONS["small"])  # max_body 64 KiB, head 4096, 32 headers, line 1024
LIMITS = limits_from(CONFIG)
TARGET = Target(CONFIG.limits, "http://127.0.0.1:9/unused", "/nonexistent/marker")
CALL = (b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\n\r\n{}")


def read(pieces) -> Request | HTTPError | None:
    """The first event that is not CONTINUE once all ``pieces`` are fed, or the error."""
    reader = RequestReader(LIMITS)
    event = None
    try:
        for piece in pieces:
            reader.feed(piece)
            event = reader.next_event()
            while event is CONTINUE:
                event = reader.next_event()
            if event is not None:
                return event
    except HTTPError as error:
        return error
    return event


def outcome(event: Request | HTTPError | None) -> tuple:
    if isinstance(event, HTTPError):
        return ("refused", event.status)
    if event is None:
        return ("waiting",)
    return (event.method, event.path, event.query, event.version, event.headers, event.body)


ONE_SHOT = [case for case in CATALOGUE if case.gateway == "small" and not case.oversized]


@pytest.mark.parametrize("case", ONE_SHOT, ids=lambda case: case.name)
def test_bytes_one_at_a_time_read_like_all_at_once(case):
    data = case.build(TARGET)
    whole = outcome(read([data]))
    assert whole != ("waiting",), "a complete catalogue request left the reader waiting"
    assert outcome(read(data[i:i + 1] for i in range(len(data)))) == whole


def test_http09_line_is_refused_when_it_ends():
    reader = RequestReader(LIMITS)
    reader.feed(b"GET /")
    assert reader.next_event() is None
    reader.feed(b"\n")
    with pytest.raises(HTTPError) as refused:
        reader.next_event()
    assert refused.value.status == 400


@pytest.mark.parametrize("data, status", [
    (b"GET /" + b"a" * 1100, 414),  # no line end yet: judged on what is there
    (b"GET / HTTP/1.1\r\nX-A: " + b"b" * 5000, 431),
    (b"GET / HTTP/1.1\r\n" + b"X-A: 1\r\n" * 33 + b"\r\n", 431),
    (b"GET / HTTP/1.1\r\nX-A: 1\r2", 400),  # a lone CR: no line end is coming
    (b"POST / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n", 413),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10001\r\n", 413),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\n", 400),
])
def test_limits_and_refusals_before_the_rest_arrives(data, status):
    assert outcome(read([data])) == ("refused", status)


def test_pipelined_requests_come_out_one_by_one():
    reader = RequestReader(LIMITS)
    reader.feed(CALL * 2 + CALL[:10])
    assert reader.next_event().body == b"{}"
    assert reader.next_event().body == b"{}"
    assert reader.next_event() is None and reader.pending
    reader.feed(CALL[10:])
    assert reader.next_event().body == b"{}"
    assert not reader.pending


def test_continue_only_when_the_client_waits_for_it():
    head = CALL[:-2].replace(b"Host: x", b"Host: x\r\nExpect: 100-continue")
    reader = RequestReader(LIMITS)
    reader.feed(head)
    assert reader.next_event() is CONTINUE
    assert reader.next_event() is None
    reader.feed(b"{}")
    assert reader.next_event().body == b"{}"
    eager = RequestReader(LIMITS)  # the body came with the head: no 100 to send
    eager.feed(head + b"{}")
    assert eager.next_event().body == b"{}"


def test_bare_lf_and_leading_blank_lines_are_accepted():
    event = read([b"\r\n\n" + CALL.replace(b"\r\n", b"\n")])
    assert isinstance(event, Request) and event.body == b"{}"
    assert event.headers["content-type"] == "application/json"


def test_chunked_body_with_trailer():
    event = read([b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"1;x=y\r\n{\r\n1\r\n}\r\n0\r\nX-T: 1\r\n\r\n"])
    assert event.body == b"{}" and event.chunked


def _each(reader: RequestReader, data: bytes) -> Request | HTTPError:
    reader.feed(data)
    try:
        return reader.next_event()
    except HTTPError as error:
        return error


def test_a_repeated_head_reads_as_a_fresh_request_of_its_own():
    """The second identical head on a connection takes the shortcut: same result, own copy."""
    reader = RequestReader(LIMITS)
    first = _each(reader, CALL)
    first.headers["content-type"] = "changed by routing"  # what a caller may do to its copy
    first.body = b"gone"
    second = _each(reader, CALL)
    assert outcome(second) == ("POST", "/RPC2", "", "HTTP/1.1", {
        "host": "x", "content-type": "application/json", "content-length": "2"}, b"{}")
    assert second is not first and second.headers is not first.headers
    other = _each(reader, CALL.replace(b"/RPC2", b"/jsonrpc?x=1"))  # a new request line
    assert (other.path, other.query) == ("/jsonrpc", "x=1")
    refused = CALL.replace(b"Host: x\r\n", b"Host: x\r\nHost: y\r\n")
    for _ in range(2):  # a refused head is never taken as a template
        assert ("refused", 400) == outcome(_each(RequestReader(LIMITS), refused))
    reader = RequestReader(LIMITS)
    assert outcome(_each(reader, CALL))[0] == "POST"
    assert outcome(_each(reader, refused)) == ("refused", 400)


def test_the_repeated_head_shortcut_frames_pipelined_and_split_heads_alike():
    """Two calls in one read, and the same head again byte by byte, after a first one."""
    reader = RequestReader(LIMITS)
    expected = outcome(_each(reader, CALL))
    reader.feed(CALL + CALL.replace(b"{}", b"[]"))
    assert outcome(reader.next_event()) == expected
    assert outcome(reader.next_event())[-1] == b"[]" and reader.next_event() is None
    events = []
    for byte in CALL:
        reader.feed(bytes([byte]))
        events.append(reader.next_event())
    assert [outcome(e) for e in events if e is not None] == [expected]
    shorter = CALL.replace(b"Content-Length: 2", b"Content-Length: 1")  # same start, other head
    assert outcome(_each(reader, shorter))[-1] == b"{" and reader.pending
