"""Upstream URLs, options and the translation rules, without a network."""

from __future__ import annotations

import datetime

import pytest

from gateway.config import ConfigError, load_config
from gateway.faults import InvalidParams
from gateway.upstream.circuit import CLOSED, OPEN, Guard
from gateway.upstream.errors import NotSent, UpstreamUnavailable
from gateway.upstream.urls import parse_spec
from gateway.upstream.values import Rules, check_params, check_result


def test_urls_name_protocol_transport_address_and_options():
    prefix, url = parse_spec("aria=jsonrpc+http://127.0.0.1:6800/jsonrpc#timeout=5&methods=a,b")
    assert prefix == "aria"
    assert (url.protocol, url.transport, url.host, url.port, url.path) == (
        "jsonrpc", "http", "127.0.0.1", 6800, "/jsonrpc")
    assert url.option("timeout") == 5.0 and url.option("methods") == ("a", "b")
    assert url.option("connect_timeout") == 3.0  # the default
    _, unix = parse_spec("xmlrpc+unix:///run/supervisor.sock:/RPC2")
    assert (unix.socket_path, unix.path) == ("/run/supervisor.sock", "/RPC2")
    assert unix.display == "xmlrpc+unix:///run/supervisor.sock:/RPC2"
    _, zero = parse_spec("zerorpc+tcp://[::1]:4242")
    assert (zero.host, zero.port, zero.display) == ("::1", 4242, "zerorpc+tcp://[::1]:4242")
    _, user = parse_spec("xmlrpc+https://admin@odoo.example:8069/xmlrpc/2/object")
    assert user.option("user") == "admin" and "admin" not in user.display


@pytest.mark.parametrize("spec, words", [
    ("grpc+http://h:1/", "starts with jsonrpc+http"),
    ("zerorpc+http://h:1/", "zerorpc goes over tcp, ipc"),
    ("jsonrpc+http://h/", "needs a host and a port"),
    ("jsonrpc+http://h:99999/", "port is not a number"),
    ("jsonrpc+http://h:1/#timeot=3", "unknown option 'timeot'"),
    ("jsonrpc+http://h:1/#timeout=-1", "option timeout='-1'"),
    ("xmlrpc+unix://relative.sock", "must be absolute"),
    ("xmlrpc+http://u:pw@h:1/", "no password in the URL"),
    ("9x=xmlrpc+http://h:1/", "must be a name"),
])
def test_bad_urls_are_refused_with_the_reason(spec, words):
    with pytest.raises(ValueError) as error:
        parse_spec(spec)
    assert words in str(error.value) and "pw@" not in str(error.value)


def test_the_config_checks_upstream_urls_before_anything_starts():
    with pytest.raises(ConfigError) as error:
        load_config(overrides={"service.services": ["jsonrpc+http://h:1/#retries=99"]},
                    use_default_path=False, environ={})
    assert "retries" in str(error.value)
    config = load_config(overrides={"service.services": [
        "handlers.calculator:Calculator", "a=zerorpc+tcp://127.0.0.1:4242"]},
        use_default_path=False, environ={})
    assert config.service.services[1] == "a=zerorpc+tcp://127.0.0.1:4242"


XML = Rules("xmlrpc", "X")
XML_STRICT = Rules("xmlrpc", "X", nil=False, i8=False)
JSON = Rules("jsonrpc", "J")
ZERO = Rules("zerorpc", "Z")


@pytest.mark.parametrize("rules, value, words", [
    (XML, 2**63, "beyond 64 bits"),
    (XML_STRICT, 2**31, "beyond 32 bits"),
    (XML_STRICT, None, "nil/None"),
    (XML, float("nan"), "not a number"),
    (XML, {1: "a"}, "key that is not a string"),
    (JSON, b"\x00", "binary data"),
    (JSON, datetime.datetime(2026, 1, 1), "dateTime"),
    (JSON, {"a": [{"b": float("inf")}]}, "(at [0].a[0].b)"),
    (ZERO, 2**64, "beyond 64 bits"),
    (ZERO, datetime.datetime(2026, 1, 1), "dateTime"),
    (ZERO, {3: 4}, "key that is not a string"),
])
def test_what_a_protocol_cannot_carry_is_refused_by_name(rules, value, words):
    with pytest.raises(InvalidParams) as error:
        check_params([value], rules)
    assert words in str(error.value)


def test_what_a_protocol_can_carry_passes_unchanged():
    value = [2**63 - 1, None, b"\x00\xff", "\u00e9", 1.5, {"k": [True]}]
    assert check_params(value, XML) == value
    assert check_params([2**64 - 1, b"\x00", float("inf")], ZERO) == [2**64 - 1, b"\x00",
                                                                      float("inf")]
    assert check_params({"named": 2**200}, JSON) == {"named": 2**200}
    assert check_params([b"\x00\xff"], Rules("jsonrpc", "J", binary="base64")) == ["AP8="]
    with pytest.raises(InvalidParams):
        check_result({"a": [{b"k": 1}]}, "Z")


def test_the_circuit_opens_after_failures_and_closes_after_a_good_trial():
    guard = Guard("u", max_in_flight=2, wait=0.01, failures=2, reset=0.05)

    def refuse():
        raise NotSent("u", "cannot connect")

    for _ in range(2):
        with pytest.raises(NotSent):
            guard.run(refuse)
    assert guard.state == OPEN
    with pytest.raises(UpstreamUnavailable) as error:
        guard.run(lambda: 1)
    assert "circuit open after 2 failed calls" in str(error.value)
    import time
    time.sleep(0.06)
    assert guard.run(lambda: 5) == 5 and guard.state == CLOSED


def test_streaming_zerorpc_methods_carry_the_stream_marker():
    from gateway.upstream.service import STREAM_MARKER, BridgedMethod, Upstream
    _, url = parse_spec("zerorpc+tcp://127.0.0.1:1#streams=streaming_range&methods=a")
    upstream = Upstream(url)
    try:
        assert getattr(BridgedMethod(upstream, "streaming_range", ""), STREAM_MARKER) is True
        assert not hasattr(BridgedMethod(upstream, "hello", ""), STREAM_MARKER)
    finally:
        upstream.close()
