"""Fixtures: real gateways on port 0, in-process or as a process, always cleaned up."""

from __future__ import annotations

import socket
import threading

import pytest

from gateway import GatewayServer
from tests.support.gateways import config_of
from tests.support.processes import Daemon, stop_all


@pytest.fixture(autouse=True)
def _socket_timeout():
    """Every client call in a test has a timeout: nothing waits forever."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(15)
    yield
    socket.setdefaulttimeout(old)


def start_gateway(**overrides) -> tuple[GatewayServer, threading.Thread]:
    server = GatewayServer(config_of(**overrides))
    thread = threading.Thread(target=server.serve_forever, name="gateway-loop")
    thread.start()
    return server, thread


def stop_gateway(server: GatewayServer, thread: threading.Thread) -> None:
    server.shutdown(drain_timeout=5)
    server.server_close()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the gateway loop did not stop"


@pytest.fixture
def gateway():
    """An in-process GatewayServer with the default calculator; yields the server."""
    server, thread = start_gateway()
    try:
        yield server
    finally:
        stop_gateway(server, thread)


@pytest.fixture
def url(gateway) -> str:
    host, port = gateway.server_address[:2]
    return f"http://{host}:{port}"


@pytest.fixture
def make_gateway():
    """Factory for in-process gateways with settings: make_gateway(limits__max_depth=8)."""
    started = []

    def make(**overrides) -> GatewayServer:
        server, thread = start_gateway(**overrides)
        started.append((server, thread))
        return server

    yield make
    for server, thread in started:
        stop_gateway(server, thread)


@pytest.fixture
def daemon(tmp_path):
    """Factory for ``python -m gateway`` processes: daemon("--service", "x:Y")."""
    started: list[Daemon] = []

    def start(*args: str, env: dict[str, str] | None = None, bind: bool = True) -> Daemon:
        full = ["--bind", "127.0.0.1:0", *args] if bind else list(args)
        process = Daemon(tmp_path, full, env)
        started.append(process)
        return process

    yield start
    stop_all(process.stop for process in started)
