"""Framing a server must judge at once (issue 9), checked on real sockets.

- a request line without an HTTP version (HTTP/0.9 style) is answered 400 at
  once: the gateway never waits for headers that will not come;
- bare LF line endings are accepted in the head (RFC 9112 section 2.2), and a
  lone CR is refused at once;
- control bytes in the request target or a header value are a 400;
- plain HTTP sent to the TLS port gets a plain-HTTP 400 saying TLS is
  required, and the connection ends with a FIN, not a reset; a large TLS
  answer to a slow reader is written in pieces as the socket drains.
The hostile catalogue (tests/hostile/cases.py, FRAMING) holds more of each.
"""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import time
import xmlrpc.client

import pytest

from tests.hostile.wire import Client
from tests.support.certs import make_certificate

JSON_CALL = b'{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}'


def address(server) -> tuple[str, int]:
    return server.server_address[:2]


@pytest.mark.parametrize("line", [b"GET /\r\n", b"GET /\n", b"POST /RPC2\r\n",
                                  b"GET /healthz\r\nHost: x\r\n\r\n"])
def test_http09_request_line_is_answered_at_once(gateway, line):
    with Client(address(gateway), timeout=5) as client:
        client.send(line)
        reply = client.reply(timeout=5)
        assert reply.status == 400, reply
        assert reply.seconds < 1.0, f"answered after {reply.seconds:.2f}s"
        data, closed = client.read_to_close(timeout=3)
        assert closed and data == b""


def test_bare_lf_line_endings_are_accepted_and_pipelined(gateway):
    head = (b"POST /RPC2 HTTP/1.1\nHost: x\nContent-Type: application/json\n"
            b"Content-Length: %d\n\n" % len(JSON_CALL))
    with Client(address(gateway), timeout=5) as client:
        client.send((head + JSON_CALL) * 2 + b"GET /healthz HTTP/1.1\n\n")
        for _ in range(2):
            reply = client.reply(timeout=5)
            assert reply.status == 200 and json.loads(reply.body)["result"] == 3, reply
        assert client.reply(timeout=5).status == 200


@pytest.mark.parametrize("head", [
    b"GET /healthz HTTP/1.1\rHost: x\r",  # old Mac line ends: never a LF
    b"GET /healthz HTTP/1.1\r\nX-A: 1\r2\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nUser-Agent: \x1b[31mred\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nX-A: a\x00b\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nX-A: a\x7fb\r\n\r\n",
    b"GET /heal\x1bthz HTTP/1.1\r\n\r\n",
    b"GET /heal\x00thz HTTP/1.1\r\n\r\n",
], ids=["lone CR", "CR in value", "ESC in value", "NUL in value", "DEL in value",
        "ESC in target", "NUL in target"])
def test_control_bytes_in_the_head_are_refused_at_once(gateway, head):
    with Client(address(gateway), timeout=5) as client:
        client.send(head)
        reply = client.reply(timeout=5)
        assert reply.status == 400, reply
        assert reply.seconds < 1.0


def test_tab_in_a_header_value_is_allowed(gateway):
    with Client(address(gateway), timeout=5) as client:
        client.send(b"GET /healthz HTTP/1.1\r\nUser-Agent: a\tb\r\n\r\n")
        assert client.reply(timeout=5).status == 200


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls"))


def test_plain_http_to_the_tls_port_is_a_plain_400_without_reset(make_gateway, certificate):
    cert, key = certificate
    server = make_gateway(tls__certfile=str(cert), tls__keyfile=str(key))
    request = (b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(JSON_CALL)) + JSON_CALL
    with socket.create_connection(address(server), timeout=5) as sock:
        sock.sendall(request)
        started, data = time.monotonic(), b""
        while chunk := sock.recv(65536):  # a reset raises ConnectionResetError here
            data += chunk
        assert time.monotonic() - started < 3
    assert data.startswith(b"HTTP/1.1 400 "), data
    assert b"Connection: close" in data and b"TLS" in data
    context = ssl.create_default_context(cafile=str(cert))
    url = "https://%s:%d" % address(server)
    assert xmlrpc.client.ServerProxy(url, context=context).add(2, 3) == 5


def test_a_large_answer_over_tls_to_a_slow_reader_arrives_whole(make_gateway, certificate):
    """The loop writes TLS answers without blocking: records wait for EPOLLOUT and resume."""
    cert, key = certificate
    server = make_gateway(tls__certfile=str(cert), tls__keyfile=str(key))
    value = "x" * (8 * 1024 * 1024)  # far more than loopback buffers hold
    body = gzip.compress(json.dumps({"jsonrpc": "2.0", "method": "ping", "params": [value],
                                     "id": 1}).encode())
    request = (b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Encoding: gzip\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
               % len(body)) + body
    context = ssl.create_default_context(cafile=str(cert))
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(10)
    raw.connect(address(server))
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(request)
        time.sleep(0.5)  # let the gateway's writes block
        data = b""
        while chunk := sock.recv(1 << 20):
            data += chunk
    head, _, answer = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and json.loads(answer)["result"] == value
