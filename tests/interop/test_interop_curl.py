"""curl with hand-written bodies: the HTTP corners legacy clients and proxies hit.

HTTP/1.0 (with and without keep-alive), ``Expect: 100-continue``, a chunked
request body, ``-d`` (form-urlencoded JSON), ``--json``, gzip request
bodies, a Latin-1 body that declares itself, and the fault shape every
XML-RPC client parses. curl's verbose trace (stderr) shows what it sent; its
``-i`` output (stdout) is parsed as the gateway's response.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import time
import xmlrpc.client
from pathlib import Path
from typing import Any

import pytest

from tests.interop.clients import (
    A, APT, B, CLIENT_TIMEOUT, LATIN1_NAME, NAME, SERVICE_ERROR, require_tool)
from tests.interop.wire import Message, http_messages


ADD_XML = (f"<?xml version='1.0'?><methodCall><methodName>add</methodName><params>"
           f"<param><value><int>{A}</int></value></param>"
           f"<param><value><int>{B}</int></value></param></params></methodCall>").encode()
ADD_JSON = json.dumps({"jsonrpc": "2.0", "method": "add", "params": [A, B], "id": 1})


def curl(*args: str, body: bytes | None = None, tmp_path: Path | None = None
         ) -> subprocess.CompletedProcess:
    """curl -sS -v with the body from a file; stdout = response head (-i) + body."""
    binary = require_tool("curl", f"{APT} curl")
    argv = [binary, "-sS", "-v", "-i", "--max-time", "10", *args]
    if body is not None:
        path = tmp_path / f"body-{time.monotonic_ns()}"
        path.write_bytes(body)
        argv += ["--data-binary", f"@{path}"]
    completed = subprocess.run(argv, capture_output=True, timeout=CLIENT_TIMEOUT,
                               stdin=subprocess.DEVNULL)
    assert completed.returncode == 0, completed.stderr.decode(errors="replace")
    return completed


def final_response(stdout: bytes) -> Message:
    """The last response in curl -i output (after any 100 Continue)."""
    (reply,) = [m for m in http_messages(stdout, responses=True) if m.status >= 200]
    return reply


def xml_result(reply: Message) -> Any:
    assert reply.status == 200 and reply.headers["content-type"] == "text/xml; charset=utf-8", reply.start
    return xmlrpc.client.loads(reply.content)[0][0]


def json_reply(reply: Message) -> Any:
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    return json.loads(reply.content)


def test_curl_http_1_0(url, tmp_path):
    done = curl("-0", "-H", "Content-Type: text/xml", url + "/RPC2", body=ADD_XML,
                tmp_path=tmp_path)
    assert b"> POST /RPC2 HTTP/1.0" in done.stderr
    reply = final_response(done.stdout)
    assert xml_result(reply) == A + B
    assert reply.headers.get("connection") == "close"  # 1.0 without keep-alive: closed


def test_curl_http_1_0_keep_alive(url, tmp_path):
    """HTTP/1.0 with Connection: keep-alive: the gateway says keep-alive and keeps it."""
    path = tmp_path / "add.xml"
    path.write_bytes(ADD_XML)
    transfer = ["-0", "-H", "Connection: keep-alive", "-H", "Content-Type: text/xml",
                "--data-binary", f"@{path}", "-w", "connects=%{num_connects}\n",
                url + "/RPC2"]
    done = curl(*transfer, "--next", "-sS", "-i", *transfer)
    assert re.findall(rb"connects=(\d)", done.stdout) == [b"1", b"0"]
    assert done.stdout.count(b"Connection: keep-alive") == 2


def test_curl_expect_100_continue(url, tmp_path):
    """curl waits up to 1 s for '100 Continue' before sending the body; the gateway
    sends it at once, so the call is nowhere near that second."""
    body = xmlrpc.client.dumps(("x" * 4000,), "ping").encode()
    done = curl("-H", "Expect: 100-continue", "-H", "Content-Type: text/xml",
                "-w", "\ntime_total=%{time_total}\n", url + "/RPC2", body=body,
                tmp_path=tmp_path)
    assert b"< HTTP/1.1 100 Continue" in done.stderr
    assert xml_result(final_response(done.stdout.rsplit(b"\ntime_total=", 1)[0])) == "x" * 4000
    seconds = float(re.search(rb"time_total=([\d.]+)", done.stdout).group(1))
    assert seconds < 0.9, f"Expect: 100-continue took {seconds:.3f} s (curl waits 1 s)"


@pytest.mark.parametrize("content_type, body", [
    ("text/xml", ADD_XML), ("application/json", ADD_JSON.encode())])
def test_curl_chunked_request_body(url, tmp_path, content_type, body):
    done = curl("-H", "Transfer-Encoding: chunked", "-H", f"Content-Type: {content_type}",
                url + "/RPC2", body=body, tmp_path=tmp_path)
    assert b"> Transfer-Encoding: chunked" in done.stderr
    reply = final_response(done.stdout)
    if content_type == "text/xml":
        assert xml_result(reply) == A + B
    else:
        assert json_reply(reply) == {"jsonrpc": "2.0", "result": A + B, "id": 1}


def test_curl_form_urlencoded_json(url):
    """curl -d: the way most people first try a JSON-RPC server."""
    done = curl("-d", ADD_JSON, url + "/jsonrpc")
    assert b"> Content-Type: application/x-www-form-urlencoded" in done.stderr
    assert json_reply(final_response(done.stdout)) == {"jsonrpc": "2.0", "result": A + B, "id": 1}


def test_curl_json_flag_with_batch(url):
    batch = [{"jsonrpc": "2.0", "method": "add", "params": [A, B], "id": 1},
             {"jsonrpc": "2.0", "method": "divide", "params": [A, 0], "id": 2},
             {"jsonrpc": "2.0", "method": "hello", "params": [NAME], "id": "three"}]
    done = curl("--json", json.dumps(batch), url + "/jsonrpc")
    assert b"> Content-Type: application/json" in done.stderr
    answers = {answer["id"]: answer for answer in json_reply(final_response(done.stdout))}
    assert answers[1]["result"] == A + B
    assert answers[2]["error"]["code"] == SERVICE_ERROR
    assert answers["three"]["result"] == f"Hello, {NAME}"


@pytest.mark.parametrize("content_type, body", [
    ("text/xml", ADD_XML), ("application/json", ADD_JSON.encode())])
def test_curl_gzip_request_body(url, tmp_path, content_type, body):
    done = curl("-H", "Content-Encoding: gzip", "-H", f"Content-Type: {content_type}",
                url + "/RPC2", body=gzip.compress(body), tmp_path=tmp_path)
    reply = final_response(done.stdout)
    if content_type == "text/xml":
        assert xml_result(reply) == A + B
    else:
        assert json_reply(reply)["result"] == A + B


def test_curl_latin1_declared_body(url, tmp_path):
    """A body in Latin-1 bytes that says so (what ext/xmlrpc would send for Latin-1
    text) is decoded by its declaration, not as UTF-8."""
    body = ('<?xml version="1.0" encoding="iso-8859-1"?><methodCall><methodName>hello'
            f'</methodName><params><param><value><string>{LATIN1_NAME}</string></value>'
            '</param></params></methodCall>').encode("latin-1")
    done = curl("-H", "Content-Type: text/xml", url + "/RPC2", body=body, tmp_path=tmp_path)
    assert xml_result(final_response(done.stdout)) == f"Hello, {LATIN1_NAME}"


def test_curl_fault_shape(url, tmp_path):
    """The fault every XML-RPC client parses: HTTP 200, fault > value > struct with an
    int faultCode and a string faultString."""
    body = xmlrpc.client.dumps((A, 0), "divide").encode()
    done = curl("-H", "Content-Type: text/xml", url + "/RPC2", body=body, tmp_path=tmp_path)
    reply = final_response(done.stdout)
    assert reply.status == 200
    assert re.search(rb"<fault>\s*<value>\s*<struct>", reply.body), reply.body
    assert re.search(rb"<name>faultCode</name>\s*<value><int>-32000</int></value>", reply.body)
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc.client.loads(reply.body)
    assert fault.value.faultCode == SERVICE_ERROR
