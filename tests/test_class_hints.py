"""JSON-RPC class hints: refused in params (-32602), never sent in an answer.

Driven by real jsonrpclib clients: the default one (which turns a received hint into
an object or fails with TranslationError) and one with a registered class and dynamic
classes allowed, the configuration in which a hint instantiates what it names.
"""

from __future__ import annotations

import json

import jsonrpclib
import jsonrpclib.config
import pytest
from jsonrpclib.jsonrpc import ProtocolError

from tests.support.wire import post

HINT = {"__jsonclass__": ["os.system", ["echo hi"]]}
built: list[object] = []


class Marker:
    """Records each instantiation: a test fails if a hint ever built one."""

    def __init__(self, *args) -> None:
        built.append(args)


def trusting_config() -> jsonrpclib.config.Config:
    config = jsonrpclib.config.Config(use_jsonclass=True, allow_dynamic_classes=True)
    config.classes.add(Marker)
    return config


@pytest.fixture
def hint_url(make_gateway):
    built.clear()
    server = make_gateway(service__services=["tests.support.services:Hinting",
                                             "calc=handlers.calculator:Calculator"])
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def _error(call) -> tuple[int, str]:
    with pytest.raises(ProtocolError) as raised:
        call()
    code, message = raised.value.args[0][:2]
    return code, message


@pytest.mark.parametrize("config", [None, "trusting"])
def test_a_hint_in_params_is_refused_with_invalid_params(hint_url, config):
    proxy = jsonrpclib.ServerProxy(hint_url, config=trusting_config() if config
                                   else jsonrpclib.config.DEFAULT)
    for params in ([HINT], [[1, {"deep": HINT}]]):
        code, message = _error(lambda: proxy.echo(*params))
        assert code == -32602 and "__jsonclass__" in message and "refused" in message
    code, _ = _error(lambda: proxy.calc.ping(HINT))
    assert code == -32602
    assert proxy.calc.add(2, 3) == 5  # the connection and the gateway serve on


def test_an_object_of_a_registered_class_is_refused(hint_url):
    proxy = jsonrpclib.ServerProxy(hint_url, config=trusting_config())
    code, _ = _error(lambda: proxy.echo(Marker()))
    assert code == -32602
    assert built == [()]  # only the one this test made


@pytest.mark.parametrize("config", [None, "trusting"])
def test_no_answer_carries_a_hint(hint_url, config):
    proxy = jsonrpclib.ServerProxy(hint_url, config=trusting_config() if config
                                   else jsonrpclib.config.DEFAULT)
    code, message = _error(lambda: proxy.made(f"{__name__}.Marker"))
    assert code == -32603 and "not sent" in message
    assert built == []
    text = json.dumps(HINT)  # a string that spells a hint is only a string
    assert proxy.calc.ping(text) == text


def test_escaped_and_batched_hints_are_found(hint_url):
    escaped = (b'{"jsonrpc":"2.0","method":"echo","id":1,'
               b'"params":[{"\\u005f_jsonclass__":["os.system",[]]}]}')
    status, _, body = post(hint_url, escaped, "application/json", "/jsonrpc")
    assert status == 200 and json.loads(body)["error"]["code"] == -32602
    batch = json.dumps([
        {"jsonrpc": "2.0", "method": "echo", "params": [HINT], "id": 1},
        {"jsonrpc": "2.0", "method": "made", "params": ["x.Y"], "id": 2},
        {"jsonrpc": "2.0", "method": "calc.add", "params": [1, 2], "id": 3},
    ]).encode()
    status, _, body = post(hint_url, batch, "application/json", "/jsonrpc")
    answers = {a["id"]: a for a in json.loads(body)}
    assert b"__jsonclass__" not in body.replace(b'(\\"__jsonclass__\\")', b"")
    assert answers[1]["error"]["code"] == -32602
    assert answers[2]["error"]["code"] == -32603
    assert answers[3]["result"] == 3
