"""Gateways shared by many cases, restarted if a case kills one, and a trap for fetches.

conftest's fixtures start one gateway per test; a catalogue of a hundred cases
shares a few instead (a module-scoped ``GatewaySet``). A case that kills the
connection loop must fail on its own and not take every later case with it, so
``get`` restarts a gateway whose loop thread has died, and the case checks
``alive`` after its request.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from typing import Any

from gateway import GatewayServer, load_config

WITH_BROKEN = ["handlers.calculator:Calculator", "broken=tests.support.services:Broken"]


class InProcessGateway:
    """A GatewayServer on 127.0.0.1 port 0, serving in a thread of this process."""

    def __init__(self, **settings: Any) -> None:
        merged = {"server.listen": ["127.0.0.1:0"], "logging.access_log": False}
        merged.update({key.replace("__", "."): value for key, value in settings.items()})
        self.config = load_config(overrides=merged, use_default_path=False, environ={})
        self.server = GatewayServer(self.config)
        self.thread = threading.Thread(target=self.server.serve_forever, name="gateway-loop",
                                       daemon=True)
        self.thread.start()
        self.address = self.server.server_address[:2]
        self.url = "http://%s:%d" % self.address
        deadline = time.monotonic() + 10
        while not self.alive and time.monotonic() < deadline:  # the loop has started
            time.sleep(0.005)

    @property
    def alive(self) -> bool:
        """The connection loop is running (a loop that died reports itself stopped)."""
        return self.thread.is_alive() and not self.server.loop.wait(0)

    def survives(self, grace: float = 0.02) -> bool:
        """Still serving after ``grace`` seconds. A loop dying of an exception closes its
        connections (the client sees EOF) a moment before it reports itself stopped."""
        return not self.server.loop.wait(grace) and self.thread.is_alive()

    @property
    def limits(self) -> Any:
        return self.config.limits

    def stop(self) -> None:
        if self.alive:
            self.server.shutdown(drain_timeout=3)
        self.server.server_close()
        for sock in self.server.listeners:  # a dead loop leaves its listeners open
            sock.close()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the gateway loop did not stop"


class GatewaySet:
    """Named gateway configurations, started on first use and restarted when dead."""

    def __init__(self, configurations: dict[str, dict[str, Any]]) -> None:
        self.configurations = configurations
        self.running: dict[str, InProcessGateway] = {}

    def get(self, name: str) -> InProcessGateway:
        current = self.running.get(name)
        if current is None or not current.alive:
            if current is not None:
                current.stop()
            current = self.running[name] = InProcessGateway(**self.configurations[name])
        return current

    def stop_all(self) -> None:
        for gateway in self.running.values():
            gateway.stop()
        self.running.clear()


class Trap:
    """A listening socket standing in for any URL a request names: nothing may connect."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.url = "http://127.0.0.1:%d/evil.dtd" % self.sock.getsockname()[1]
        self.connections = 0

    def visited(self, wait: float = 0.01) -> int:
        """Connections made to the trap so far (waits briefly for a late one)."""
        while select.select([self.sock], [], [], wait)[0]:
            conn, _ = self.sock.accept()
            conn.close()
            self.connections += 1
            wait = 0
        return self.connections

    def close(self) -> None:
        self.sock.close()
