"""Access control: TLS, Basic and bearer auth, browser origins, client networks, rates."""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import subprocess
import sys
import time
import xmlrpc.client

import jsonrpclib
import pytest

from gateway import load_config
from gateway.auth import hash_secret
from tests.support.certs import make_certificate
from tests.support.processes import ROOT

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, made by the openssl CLI."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def alice_hash():
    return hash_secret(PASSWORD)


def _base(server) -> str:
    host, port = server.server_address[:2]
    return f"{host}:{port}"


def test_tls_serves_both_protocols_with_tls12_or_newer(make_gateway, certificate):
    cert, key = certificate
    server = make_gateway(tls__certfile=str(cert), tls__keyfile=str(key))
    context = ssl.create_default_context(cafile=str(cert))
    url = f"https://{_base(server)}"
    assert xmlrpc.client.ServerProxy(url, context=context).add(2, 3) == 5
    assert jsonrpclib.ServerProxy(url, context=context).add(4, 5) == 9
    assert server.loop.tls.minimum_version == ssl.TLSVersion.TLSv1_2
    tls12 = ssl.create_default_context(cafile=str(cert))
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(server.server_address[:2], timeout=5) as raw:
        with tls12.wrap_socket(raw, server_hostname="127.0.0.1") as wrapped:
            assert wrapped.version() == "TLSv1.2"
    # plain HTTP on the TLS port is dropped, and the gateway keeps serving
    plain = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        plain.request("POST", "/", body=b"{}", headers={"Content-Type": "application/json"})
        plain.getresponse().read()
    assert xmlrpc.client.ServerProxy(url, context=context).add(1, 1) == 2


def test_basic_auth_with_both_client_libraries(make_gateway, certificate, alice_hash):
    cert, key = certificate
    server = make_gateway(tls__certfile=str(cert), tls__keyfile=str(key),
                          auth__users={"alice": alice_hash})
    context = ssl.create_default_context(cafile=str(cert))
    good = f"https://alice:{PASSWORD.replace(' ', '%20')}@{_base(server)}/RPC2"
    assert xmlrpc.client.ServerProxy(good, context=context).add(1, 2) == 3
    assert jsonrpclib.ServerProxy(good, context=context).add(3, 4) == 7
    bad = f"https://alice:wrong@{_base(server)}/RPC2"
    started = time.monotonic()
    with pytest.raises(xmlrpc.client.ProtocolError) as refused:
        xmlrpc.client.ServerProxy(bad, context=context).add(1, 2)
    assert refused.value.errcode == 401
    assert time.monotonic() - started >= 0.4, "failed authentication must be answered late"
    assert "Basic" in refused.value.headers["WWW-Authenticate"]
    with pytest.raises(jsonrpclib.jsonrpc.TransportError):
        jsonrpclib.ServerProxy(bad, context=context).add(1, 2)
    assert server.dispatcher.auth.failures == 2


def test_bearer_token_and_missing_credentials(make_gateway, alice_hash):
    token = "s3cr3t-token"
    server = make_gateway(auth__tokens=[hash_secret(token)])
    body = xmlrpc.client.dumps((1, 2), "add").encode()
    answers = {}
    for label, headers in (("none", {}), ("token", {"Authorization": f"Bearer {token}"}),
                           ("wrong", {"Authorization": "Bearer nope"})):
        conn = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
        conn.request("POST", "/RPC2", body, {"Content-Type": "text/xml", **headers})
        reply = conn.getresponse()
        answers[label] = (reply.status, reply.getheader("WWW-Authenticate"), reply.read())
        conn.close()
    assert answers["token"][0] == 200 and b"<int>3</int>" in answers["token"][2]
    assert answers["none"][0] == 401 and answers["none"][1].startswith("Bearer")
    assert answers["wrong"][0] == 401
    # health checks stay open for load balancers
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
    conn.request("GET", "/healthz")
    assert conn.getresponse().status == 200


def test_foreign_origin_is_refused_and_allowed_origin_gets_cors(make_gateway):
    server = make_gateway(access__allowed_origins=["https://app.example"])
    body = b'{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}'

    def post(origin: str | None, method: str = "POST") -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
        headers = {"Content-Type": "text/plain"}
        if origin:
            headers["Origin"] = origin
        conn.request(method, "/jsonrpc", body if method == "POST" else None, headers)
        reply = conn.getresponse()
        reply.read()
        return reply

    evil = post("https://evil.example")
    assert evil.status == 403
    assert evil.getheader("Access-Control-Allow-Origin") is None
    friend = post("https://app.example")
    assert friend.status == 200
    assert friend.getheader("Access-Control-Allow-Origin") == "https://app.example"
    preflight = post("https://app.example", "OPTIONS")
    assert preflight.status == 204
    assert "POST" in preflight.getheader("Access-Control-Allow-Methods")
    assert post(None).status == 200  # not a browser page: no Origin, no check


def test_client_network_allow_list(make_gateway):
    outside = make_gateway(access__allow_networks=["10.0.0.0/8"])
    with pytest.raises(xmlrpc.client.ProtocolError) as refused:
        xmlrpc.client.ServerProxy(f"http://{_base(outside)}").add(1, 2)
    assert refused.value.errcode == 403
    inside = make_gateway(access__allow_networks=["127.0.0.0/8", "::1/128"])
    assert xmlrpc.client.ServerProxy(f"http://{_base(inside)}").add(1, 2) == 3


def test_rate_limit_answers_429_with_retry_after(make_gateway):
    server = make_gateway(access__rate=1.0, access__burst=3)
    proxy = xmlrpc.client.ServerProxy(f"http://{_base(server)}")
    assert [proxy.add(i, 1) for i in range(3)] == [1, 2, 3]
    with pytest.raises(xmlrpc.client.ProtocolError) as limited:
        proxy = xmlrpc.client.ServerProxy(f"http://{_base(server)}")
        proxy.add(1, 1)
    assert limited.value.errcode == 429
    assert int(limited.value.headers["Retry-After"]) >= 1
    time.sleep(1.1)
    assert xmlrpc.client.ServerProxy(f"http://{_base(server)}").add(1, 1) == 2


def test_params_never_reach_logs_or_error_messages(make_gateway, caplog):
    server = make_gateway(**{"logging__access_log": True},
                          service__services=["tests.support.services:Broken",
                                             "calc=handlers.calculator:Calculator"])
    secret = "hunter2-param-secret"
    proxy = xmlrpc.client.ServerProxy(f"http://{_base(server)}")
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(xmlrpc.client.Fault) as bad_params:
            proxy.calc.add(secret, 1)
        with pytest.raises(xmlrpc.client.Fault) as crash:
            proxy.crash()
    assert secret not in bad_params.value.faultString
    assert "hunter2" not in crash.value.faultString and "/etc" not in crash.value.faultString
    assert crash.value.faultCode == -32603 and "ref" in crash.value.faultString
    assert secret not in caplog.text


def test_hash_password_command_output_verifies():
    done = subprocess.run([sys.executable, "-m", "gateway", "hash-password"], input="pw123\n",
                          capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    from gateway.auth import verify_secret
    stored = done.stdout.strip()
    assert verify_secret("pw123", stored) and not verify_secret("pw124", stored)


def test_certificate_is_reloaded_without_closing_the_listener(make_gateway, certificate,
                                                              tmp_path):
    cert, key = certificate
    server = make_gateway(tls__certfile=str(cert), tls__keyfile=str(key))
    new_cert, new_key = make_certificate(tmp_path, "new", common_name="renewed")
    server.apply(load_config(overrides={"server.listen": ["127.0.0.1:0"],
                                        "tls.certfile": str(new_cert),
                                        "tls.keyfile": str(new_key)},
                             use_default_path=False, environ={}))
    url = f"https://{_base(server)}"
    renewed = ssl.create_default_context(cafile=str(new_cert))
    assert xmlrpc.client.ServerProxy(url, context=renewed).add(1, 2) == 3
    with pytest.raises(ssl.SSLError):
        xmlrpc.client.ServerProxy(url, context=ssl.create_default_context(
            cafile=str(cert))).add(1, 2)
