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
from typing import Any

from tests.support.gateways import InProcessGateway

WITH_BROKEN = ["handlers.calculator:Calculator", "broken=tests.support.services:Broken"]


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
