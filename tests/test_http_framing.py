"""HTTP framing as legacy clients need it, checked on real sockets.

Keep-alive with per-request routing and accurate Content-Length (Ruby checks
it), ``Expect: 100-continue`` answered before the body is sent, gzip/deflate
and chunked request bodies, HTTP/1.0 closing, pipelining, and the loop rule:
a client that sends nothing or trickles bytes never delays another's call.
"""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import threading
import time
import xmlrpc.client
import zlib
from urllib.parse import urlsplit

import jsonrpclib
import pytest

JSON_CALL = b'{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}'
XML_CALL = (b"<?xml version='1.0'?><methodCall><methodName>add</methodName><params>"
            b"<param><value><int>1</int></value></param>"
            b"<param><value><int>2</int></value></param></params></methodCall>")
JSON_ANSWER = {"jsonrpc": "2.0", "result": 3, "id": 1}


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


def connect(url: str, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(address(url), timeout=timeout)


class Responses:
    """Reads responses framed by Content-Length off one socket, keeping what follows."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, f"connection closed inside a response: {self.buffer!r}"
        self.buffer += chunk

    def next(self) -> tuple[bytes, dict[str, str], bytes]:
        """One response: (status line, lower-case headers, body)."""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status.encode(), headers, body

    def rest_until_closed(self) -> bytes:
        """Everything after the responses read so far, up to the server's close."""
        return self.buffer + read_until_closed(self.sock)


def read_response(sock: socket.socket) -> tuple[bytes, dict[str, str], bytes]:
    """Read the only response expected on ``sock``; nothing may follow it yet."""
    responses = Responses(sock)
    response = responses.next()
    assert responses.buffer == b"", "more bytes than Content-Length announced"
    return response


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def raw_post(body: bytes, content_type: str | None, extra: str = "",
             version: str = "HTTP/1.1", path: str = "/RPC2") -> bytes:
    headers = f"Host: test\r\nContent-Length: {len(body)}\r\n{extra}"
    if content_type:
        headers += f"Content-Type: {content_type}\r\n"
    return f"POST {path} {version}\r\n{headers}\r\n".encode() + body


def http_post(url: str, body: bytes, headers: dict[str, str]):
    connection = http.client.HTTPConnection(*address(url), timeout=10)
    try:
        connection.request("POST", "/", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response, response.read()
    finally:
        connection.close()


# -- keep-alive --------------------------------------------------------------------------------

def test_one_keep_alive_connection_routes_each_request_by_its_own_type(url):
    connection = http.client.HTTPConnection(*address(url), timeout=10)
    calls = [
        (JSON_CALL, {"Content-Type": "application/json"}, "application/json"),
        (XML_CALL, {"Content-Type": "text/xml"}, "text/xml; charset=utf-8"),
        (JSON_CALL, {}, "application/json"),
        (XML_CALL, {"Content-Type": "text/plain"}, "text/xml; charset=utf-8"),
        (b'{"method":"add","params":[1,2],"id":1}', {"Content-Type": "application/jsonrequest"},
         "application/json"),
        (XML_CALL, {"Content-Type": "application/xml; charset=utf-8"}, "text/xml; charset=utf-8"),
        (b'[' + JSON_CALL + b']', {"Content-Type": "application/json-rpc"}, "application/json"),
    ]
    try:
        first_socket = None
        for body, headers, expected_type in calls:
            connection.request("POST", "/RPC2", body=body, headers=headers)
            response = connection.getresponse()
            reply = response.read()
            first_socket = first_socket or connection.sock
            assert connection.sock is first_socket, "the server closed a keep-alive connection"
            assert response.status == 200
            assert response.getheader("Content-Type") == expected_type
            assert int(response.getheader("Content-Length")) == len(reply)
            assert response.getheader("Connection") != "close"
            if expected_type.startswith("text/xml"):
                assert xmlrpc.client.loads(reply)[0] == (3,)
            else:
                assert b'"result":3' in reply
    finally:
        connection.close()


def open_socket_of(proxy, transport_attribute: str) -> socket.socket | None:
    """The socket a client's transport keeps between calls (both libraries cache one)."""
    cached = getattr(proxy, transport_attribute)._connection
    return cached[1].sock if cached and cached[1] is not None else None


def test_real_clients_reuse_their_connection(url):
    xml_proxy = xmlrpc.client.ServerProxy(url)
    json_proxy = jsonrpclib.ServerProxy(url)
    assert xml_proxy.add(0, 1) == 1 and json_proxy.add(0, 2) == 2
    xml_socket = open_socket_of(xml_proxy, "_ServerProxy__transport")
    json_socket = open_socket_of(json_proxy, "_ServerProxy__transport")
    assert xml_socket is not None and json_socket is not None
    for n in range(1, 5):
        assert xml_proxy.add(n, 1) == n + 1
        assert json_proxy.add(n, 2) == n + 2
    assert open_socket_of(xml_proxy, "_ServerProxy__transport") is xml_socket
    assert open_socket_of(json_proxy, "_ServerProxy__transport") is json_socket


def test_pipelined_requests_are_answered_in_order(url):
    with connect(url) as sock:
        sock.sendall(raw_post(JSON_CALL, "application/json") + raw_post(XML_CALL, "text/xml")
                     + raw_post(b'{"jsonrpc":"2.0","method":"hello","params":["p"],"id":3}',
                                None, "Connection: close\r\n"))
        responses = Responses(sock)
        first, second, third = (responses.next() for _ in range(3))
        assert json.loads(first[2]) == JSON_ANSWER
        assert xmlrpc.client.loads(second[2])[0] == (3,)
        assert json.loads(third[2])["result"] == "Hello, p"
        assert third[1].get("connection") == "close"
        assert responses.rest_until_closed() == b""


# -- Content-Length ----------------------------------------------------------------------------

@pytest.mark.parametrize("body, content_type", [
    (JSON_CALL, "application/json"),
    (XML_CALL, "text/xml"),
    ('{"jsonrpc":"2.0","method":"ping","params":["日本語 é ☃"],"id":1}'.encode(),
     "application/json"),
    ("<?xml version='1.0'?><methodCall><methodName>ping</methodName><params><param><value>"
     "<string>日本語 é ☃</string></value></param></params></methodCall>".encode(), "text/xml"),
    (b'{"jsonrpc":"2.0","method":"nope","id":1}', "application/json"),
    (b"<methodCall><methodName>nope</methodName></methodCall>", "text/xml"),
    (b"neither", "text/plain"),
], ids=["json", "xml", "json-utf8", "xml-utf8", "json-error", "xml-fault", "415"])
def test_content_length_is_the_byte_length(url, body, content_type):
    with connect(url) as sock:
        sock.sendall(raw_post(body, content_type, "Connection: close\r\n"))
        data = read_until_closed(sock)
    head, _, rest = data.partition(b"\r\n\r\n")
    lengths = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    assert len(lengths) == 1
    assert int(lengths[0].split(b":")[1]) == len(rest)


def test_notification_is_an_empty_200(url):
    """The answer every tested client takes (README, "What it serves"): see routing._call."""
    with connect(url) as sock:
        sock.sendall(raw_post(b'{"jsonrpc":"2.0","method":"add","params":[1,2]}',
                              "application/json")
                     + raw_post(JSON_CALL, "application/json"))
        responses = Responses(sock)
        status, headers, body = responses.next()
        assert status.startswith(b"HTTP/1.1 200")
        assert body == b"" and headers["content-length"] == "0"
        # The connection stays usable: the next response follows directly.
        assert json.loads(responses.next()[2]) == JSON_ANSWER


def test_large_reply_is_gzipped_for_a_client_that_accepts_it(url):
    big = "x" * 50000
    assert xmlrpc.client.ServerProxy(url).ping(big) == big  # the client sends Accept-Encoding: gzip
    status, response, body = http_post(url, json.dumps({
        "jsonrpc": "2.0", "method": "ping", "params": [big], "id": 1}).encode(),
        {"Content-Type": "application/json", "Accept-Encoding": "gzip"})
    assert response.getheader("Content-Encoding") == "gzip"
    assert int(response.getheader("Content-Length")) == len(body)
    assert json.loads(gzip.decompress(body))["result"] == big


# -- Expect: 100-continue ----------------------------------------------------------------------

REPLY_TYPES = {"application/json": "application/json", "text/xml": "text/xml; charset=utf-8"}


@pytest.mark.parametrize("body, content_type", [(JSON_CALL, "application/json"),
                                                (XML_CALL, "text/xml")])
def test_expect_100_continue_is_answered_before_the_body_is_sent(url, body, content_type):
    with connect(url) as sock:
        head = raw_post(b"", content_type, "Expect: 100-continue\r\n")
        head = head.replace(b"Content-Length: 0", f"Content-Length: {len(body)}".encode())
        sock.sendall(head)
        started = time.monotonic()
        interim = sock.recv(1024)  # the body is not sent yet: only the server can speak
        waited = time.monotonic() - started
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        assert waited < 1.0, f"the interim response took {waited:.2f} s"
        sock.sendall(body)
        status, headers, reply = read_response(sock)
    assert status.startswith(b"HTTP/1.1 200")
    assert headers["content-type"] == REPLY_TYPES[content_type]


def test_expect_100_continue_with_a_chunked_body(url):
    with connect(url) as sock:
        sock.sendall(b"POST /jsonrpc HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
        assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(JSON_CALL), JSON_CALL))
        assert json.loads(read_response(sock)[2]) == JSON_ANSWER


# -- compressed and chunked request bodies -----------------------------------------------------

def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


ENCODINGS = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,  # RFC 9110: zlib-wrapped
    "deflate-raw": raw_deflate,  # what some clients send as "deflate"
}


@pytest.mark.parametrize("name", ENCODINGS)
@pytest.mark.parametrize("body, content_type", [(JSON_CALL, "application/json"),
                                                (XML_CALL, "text/xml"),
                                                (JSON_CALL, None), (XML_CALL, None)],
                         ids=["json", "xml", "json-sniffed", "xml-sniffed"])
def test_compressed_request_bodies(url, name, body, content_type):
    coding = "deflate" if name == "deflate-raw" else name
    headers = {"Content-Encoding": coding}
    if content_type:
        headers["Content-Type"] = content_type
    status, response, reply = http_post(url, ENCODINGS[name](body), headers)
    assert status == 200, reply
    if body is JSON_CALL:
        assert json.loads(reply) == JSON_ANSWER
    else:
        assert xmlrpc.client.loads(reply)[0] == (3,)


def test_xmlrpc_client_gzip_request_bodies(url):
    # xmlrpc.client gzips requests above encode_threshold when told to.
    proxy = xmlrpc.client.ServerProxy(url)
    proxy._ServerProxy__transport.encode_threshold = 0
    assert proxy.add(20, 22) == 42


def test_corrupt_compressed_body_is_a_400(url):
    status, _, _ = http_post(url, b"\x1f\x8bnot gzip at all", {
        "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert status == 400


def test_plain_body_labelled_gzip_is_read_as_sent(url):
    """Some Java transports label a plain body gzip; without gzip's magic bytes it is
    read as sent (tests/interop/test_interop_java_go.py has the real client)."""
    status, _, reply = http_post(url, JSON_CALL, {
        "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert status == 200 and json.loads(reply) == JSON_ANSWER


def chunked(body: bytes, size: int) -> bytes:
    pieces = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\nX-T: 1\r\n\r\n"


@pytest.mark.parametrize("body, content_type", [(JSON_CALL, "application/json"),
                                                (XML_CALL, "text/xml"), (XML_CALL, None)],
                         ids=["json", "xml", "xml-sniffed"])
def test_chunked_request_body_is_decoded(url, body, content_type):
    with connect(url) as sock:
        type_line = f"Content-Type: {content_type}\r\n".encode() if content_type else b""
        sock.sendall(b"POST /RPC2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                     + type_line + b"\r\n" + chunked(body, 7)
                     + raw_post(JSON_CALL, "application/json"))  # then one more request
        responses = Responses(sock)
        status, headers, reply = responses.next()
        assert status.startswith(b"HTTP/1.1 200")
        if body is JSON_CALL:
            assert json.loads(reply) == JSON_ANSWER
        else:
            assert xmlrpc.client.loads(reply)[0] == (3,)
        assert json.loads(responses.next()[2]) == JSON_ANSWER


def test_chunked_body_sent_in_pieces_over_time(url):
    with connect(url) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Type: text/xml\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        for piece in (chunked(XML_CALL, 50)[i:i + 40] for i in range(0, 400, 40)):
            sock.sendall(piece)
            time.sleep(0.01)
        assert xmlrpc.client.loads(read_response(sock)[2])[0] == (3,)


# -- HTTP/1.0 ----------------------------------------------------------------------------------

def test_http_10_request_is_answered_with_connection_close_and_closed(url):
    with connect(url) as sock:
        sock.sendall(raw_post(JSON_CALL, "application/json", version="HTTP/1.0"))
        status, headers, body = read_response(sock)
        assert headers.get("connection", "").lower() == "close"
        assert json.loads(body) == JSON_ANSWER
        assert read_until_closed(sock) == b"", "the server must close after an HTTP/1.0 reply"


def test_http_10_keep_alive_is_honoured(url):
    with connect(url) as sock:
        sock.sendall(raw_post(XML_CALL, "text/xml", "Connection: keep-alive\r\n",
                              version="HTTP/1.0"))
        status, headers, body = read_response(sock)
        assert headers.get("connection", "").lower() == "keep-alive"
        sock.sendall(raw_post(JSON_CALL, "application/json", version="HTTP/1.0"))
        assert json.loads(read_response(sock)[2]) == JSON_ANSWER


def test_connection_close_from_the_client_is_honoured(url):
    with connect(url) as sock:
        sock.sendall(raw_post(XML_CALL, "text/xml", "Connection: TE, close\r\nTE: deflate\r\n"))
        status, headers, _ = read_response(sock)
        assert headers.get("connection", "").lower() == "close"
        assert read_until_closed(sock) == b""


# -- slow clients never delay others -----------------------------------------------------------

def trickle(sock: socket.socket, data: bytes, stop: threading.Event) -> None:
    for byte in data:
        if stop.wait(0.1):
            return
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return


def test_silent_and_trickling_clients_do_not_delay_a_call(url):
    stop = threading.Event()
    hanging = [connect(url) for _ in range(20)]  # connect and send nothing
    head_trickler, body_trickler = connect(url), connect(url)
    threads = [
        threading.Thread(target=trickle, args=(head_trickler, raw_post(JSON_CALL, None), stop)),
        threading.Thread(target=trickle, args=(body_trickler, JSON_CALL, stop)),
    ]
    partial_body = connect(url)  # a complete head, then only part of the body
    partial_body.sendall(raw_post(JSON_CALL, "application/json")[:-10])
    body_trickler.sendall(raw_post(b"", "application/json").replace(
        b"Content-Length: 0", f"Content-Length: {len(JSON_CALL)}".encode()))
    try:
        for thread in threads:
            thread.start()
        time.sleep(0.3)  # let them all be in the middle of their request
        for proxy in (xmlrpc.client.ServerProxy(url), jsonrpclib.ServerProxy(url)):
            started = time.monotonic()
            assert proxy.add(1, 2) == 3
            elapsed = time.monotonic() - started
            assert elapsed < 1.0, f"a call took {elapsed:.2f} s behind slow clients"
        assert all(thread.is_alive() for thread in threads), "the trickle ended too early"
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)
        for sock in hanging + [head_trickler, body_trickler, partial_body]:
            sock.close()


def test_header_timeout_closes_a_silent_client(make_gateway):
    server = make_gateway(limits__header_timeout=0.5)
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\n")  # never finishes its head
        started = time.monotonic()
        data = read_until_closed(sock)
        assert time.monotonic() - started < 4.5
    assert data.startswith(b"HTTP/1.1 408")
