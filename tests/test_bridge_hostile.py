"""An upstream is untrusted input too: malformed, huge, trickling, hung and disconnecting
answers, from a real socket server written for the purpose; plus TLS and credentials."""

from __future__ import annotations

import base64
import json
import socketserver
import ssl
import threading
import time
import urllib.request
import xmlrpc.client
import xmlrpc.server

import pytest

from tests.support.certs import make_certificate

XML_OK = (b"<?xml version='1.0'?><methodResponse><params><param><value><int>7</int></value>"
          b"</param></params></methodResponse>")
ANSWERS = {
    "/malformed": XML_OK[:-20],
    "/dtd": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><methodResponse/>',
    "/deep": b"<?xml version='1.0'?><methodResponse><params><param>"
             + b"<value><array><data>" * 200 + b"</data></array></value>" * 200
             + b"</param></params></methodResponse>",
    "/huge": b"<x>" + b"a" * (3 << 20) + b"</x>",
    "/notrpc": b"<html>hello</html>",
    "/json-garbage": b'{"jsonrpc": "2.0", "result": ',
    "/json-wrong-id": b'{"jsonrpc": "2.0", "result": 1, "id": 999999}',
}


class Hostile(socketserver.BaseRequestHandler):
    """Reads one HTTP request, then misbehaves as its path says."""

    def handle(self) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            data += chunk
        path = data.split(b" ", 2)[1].decode()
        if path == "/drop":
            return  # close without a byte of answer
        if path == "/hang":
            time.sleep(3)
            return
        body = ANSWERS.get(path, XML_OK)
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        if path == "/trickle":
            for byte in head + body:
                self.request.sendall(bytes([byte]))
                time.sleep(0.05)
            return
        if path == "/half":
            self.request.sendall(head + body[:10])
            return
        self.request.sendall(head + body)


@pytest.fixture
def hostile():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


CASES = [
    ("malformed", "xmlrpc", -32002, "not well-formed XML"),
    ("dtd", "xmlrpc", -32002, "DTD"),
    ("deep", "xmlrpc", -32002, "nested deeper"),
    ("huge", "xmlrpc", -32002, "max_bytes"),
    ("notrpc", "xmlrpc", -32002, "not an XML-RPC methodResponse"),
    ("json-garbage", "jsonrpc", -32002, "not valid JSON"),
    ("json-wrong-id", "jsonrpc", -32002, "not a JSON-RPC response to the call sent"),
    ("drop", "xmlrpc", -32000, "it may have run"),
    ("half", "xmlrpc", -32002, "cut off after 10 bytes"),
    ("hang", "xmlrpc", -32001, "timed out"),
    ("trickle", "xmlrpc", -32001, "timed out"),
]


def test_bad_answers_are_bounded_clear_errors(make_gateway, hostile):
    services = ["handlers.calculator:Calculator"] + [
        f"{name.replace('-', '_')}={protocol}+http://127.0.0.1:{hostile}/{name}"
        f"#methods=m&timeout=1&max_bytes=1048576&failures=100"
        for name, protocol, _, _ in CASES]
    server = make_gateway(service__services=services)
    host, port = server.server_address[:2]
    client = xmlrpc.client.ServerProxy(f"http://{host}:{port}")
    for name, _, code, words in CASES:
        start = time.monotonic()
        with pytest.raises(xmlrpc.client.Fault) as fault:
            getattr(client, name.replace("-", "_")).m()
        assert (fault.value.faultCode, words in fault.value.faultString) == (code, True), name
        assert time.monotonic() - start < 4, name
        assert client.add(1, 2) == 3  # the gateway keeps serving


class _BasicAuthHandler(xmlrpc.server.SimpleXMLRPCRequestHandler):
    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        accepted = ("Basic " + base64.b64encode(b"gw:s3cret-pass").decode(),
                    "Bearer s3cret-token")
        if self.headers.get("Authorization") in accepted:
            return True
        self.send_error(401)
        return False


def start_tls_upstream(tmp_path, client_ca=None):
    """An HTTPS XML-RPC server with Basic/Bearer auth; with ``client_ca``, mutual TLS."""
    cert, key = make_certificate(tmp_path)
    server = xmlrpc.server.SimpleXMLRPCServer(("127.0.0.1", 0), _BasicAuthHandler,
                                              logRequests=False)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.register_function(lambda a, b: a * b, "mul")
    server.register_introspection_functions()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, cert


@pytest.fixture
def tls_upstream(tmp_path):
    server, cert = start_tls_upstream(tmp_path)
    yield server.server_address[1], cert
    server.shutdown()
    server.server_close()


def test_tls_and_credentials_towards_the_upstream(make_gateway, tls_upstream, tmp_path,
                                                  monkeypatch, caplog):
    port, cert = tls_upstream
    (tmp_path / "password").write_text("s3cret-pass\n")
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "upstream-pass").write_text("s3cret-pass")
    (tmp_path / "wrong").write_text("nope")
    (tmp_path / "password-token").write_text("s3cret-token\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "creds"))
    base = f"xmlrpc+https://gw@127.0.0.1:{port}/RPC2#ca_file={cert}"
    caplog.set_level("DEBUG")
    server = make_gateway(service__services=[
        f"file={base}&password_file={tmp_path / 'password'}",
        f"cred={base}&credential=upstream-pass",
        f"wrong={base}&password_file={tmp_path / 'wrong'}&methods=mul",
        f"bearer=xmlrpc+https://127.0.0.1:{port}/RPC2#ca_file={cert}"
        f"&token_file={tmp_path / 'password'}-token",
        f"untrusted=xmlrpc+https://127.0.0.1:{port}/RPC2#methods=mul"])
    host, gport = server.server_address[:2]
    client = xmlrpc.client.ServerProxy(f"http://{host}:{gport}")
    assert client.file.mul(6, 7) == 42
    assert client.cred.mul(3, 3) == 9
    assert client.bearer.mul(2, 2) == 4
    with pytest.raises(xmlrpc.client.Fault) as fault:
        client.wrong.mul(1, 1)
    assert fault.value.faultCode == -32000 and "credentials" in fault.value.faultString
    with pytest.raises(xmlrpc.client.Fault) as fault:
        client.untrusted.mul(1, 1)  # a self-signed certificate is not trusted by default
    assert fault.value.faultCode == -32000 and "TLS" in fault.value.faultString
    health = urllib.request.urlopen(f"http://{host}:{gport}/healthz").read().decode()
    assert "upstreams" in json.loads(health)
    for text in (health, caplog.text, fault.value.faultString):
        assert "s3cret" not in text and "nope" not in text


def test_a_client_certificate_for_mutual_tls(make_gateway, tmp_path):
    client_cert, client_key = make_certificate(tmp_path, "client")
    (tmp_path / "password").write_text("s3cret-pass")
    server, cert = start_tls_upstream(tmp_path, client_ca=client_cert)
    port = server.server_address[1]
    try:
        base = (f"xmlrpc+https://gw@127.0.0.1:{port}/RPC2#ca_file={cert}"
                f"&password_file={tmp_path / 'password'}&methods=mul")
        gateway = make_gateway(service__services=[
            f"mtls={base}&cert_file={client_cert}&key_file={client_key}", f"nocert={base}"])
        host, gport = gateway.server_address[:2]
        client = xmlrpc.client.ServerProxy(f"http://{host}:{gport}")
        assert client.mtls.mul(5, 5) == 25
        with pytest.raises(xmlrpc.client.Fault) as fault:
            client.nocert.mul(1, 1)  # the upstream wants a certificate: refused
        assert fault.value.faultCode in (-32000, -32002)
    finally:
        server.shutdown()
        server.server_close()


def test_a_password_in_the_url_is_refused_before_start():
    from gateway.config import ConfigError, load_config
    with pytest.raises(ConfigError) as error:
        load_config(overrides={"service.services": [
            "x=xmlrpc+https://gw:hunter2@127.0.0.1:1/RPC2"]}, use_default_path=False,
            environ={})
    assert "no password in the URL" in str(error.value) and "hunter2" not in str(error.value)


class HostileZerorpc:
    """A ROUTER socket that answers every call as ``mode`` says (a thread, stopped by close)."""

    def __init__(self, mode: str) -> None:
        import zmq
        self.zmq, self.mode = zmq, mode
        self.sock = zmq.Context.instance().socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import msgpack
        while self.running:
            if not self.sock.poll(50):
                continue
            identity, _, payload = self.sock.recv_multipart()
            header = msgpack.unpackb(payload, raw=False)[0]
            reply = {"garbage": b"\xc1\xc1\xc1",
                     "unknown": msgpack.packb([{"v": 3, "message_id": b"x",
                                                "response_to": header["message_id"]},
                                               "SURPRISE", []], use_bin_type=True),
                     "keys": msgpack.packb([{"v": 3, "message_id": b"x",
                                             "response_to": header["message_id"]},
                                            "OK", [{1: 2}]], use_bin_type=True)}.get(self.mode)
            if reply is not None:
                self.sock.send_multipart([identity, b"", reply])

    def close(self) -> None:
        self.running = False
        self.thread.join(5)
        self.sock.close()


@pytest.mark.parametrize("mode, code, words", [
    ("garbage", -32002, "not a zerorpc event"),
    ("unknown", -32002, "unknown zerorpc event 'SURPRISE'"),
    ("keys", -32602, "key that is not a string"),
    ("silent", -32001, "timed out"),
])
def test_bad_zerorpc_answers_are_clear_errors(make_gateway, mode, code, words):
    upstream = HostileZerorpc(mode)
    try:
        server = make_gateway(service__services=[
            "handlers.calculator:Calculator",
            f"z=zerorpc+tcp://127.0.0.1:{upstream.port}#methods=m&timeout=1"])
        host, port = server.server_address[:2]
        client = xmlrpc.client.ServerProxy(f"http://{host}:{port}")
        with pytest.raises(xmlrpc.client.Fault) as fault:
            client.z.m()
        assert fault.value.faultCode == code and words in fault.value.faultString
        assert client.add(1, 2) == 3
    finally:
        upstream.close()
