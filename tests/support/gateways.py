"""Gateways inside the test process: their configuration, and one serving in a thread.

``config_of`` turns test settings (``limits__max_depth=8``: double underscore
for the dot) into a configuration with no file and no environment, listening
on 127.0.0.1 port 0 without an access log: the one place tests build one.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from gateway import GatewayServer, load_config


def config_of(**settings: Any) -> Any:
    merged = {"server.listen": ["127.0.0.1:0"], "logging.access_log": False}
    merged.update({key.replace("__", "."): value for key, value in settings.items()})
    return load_config(overrides=merged, use_default_path=False, environ={})


class InProcessGateway:
    """A GatewayServer on 127.0.0.1 port 0, serving in a thread of this process."""

    def __init__(self, **settings: Any) -> None:
        self.config = config_of(**settings)
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
