"""One gateway process: the server loop in a thread, signals and systemd in the main thread.

SIGTERM/SIGINT stop gracefully (calls in flight finish, bounded by
``drain_timeout``); SIGHUP re-reads the configuration and applies it without
closing listeners, or keeps the running one if the new one is invalid.
Signal handlers only set flags; the main thread acts on them.
``notify`` is sd_notify for a lone process, or a pipe to the prefork master.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Callable

from gateway import __version__, logs, systemd
from gateway.config import Config, for_reload, reread_or_keep
from gateway.server import GatewayServer, serve_in_thread

log = logging.getLogger("gateway")


class Supervisor:
    """Runs one GatewayServer in a thread; the main thread handles signals and systemd."""

    def __init__(self, server: GatewayServer, reread: Callable[[], Config],
                 notify: Callable[[str], object] = systemd.notify,
                 watchdog: float | None = None, warn_restart_keys: bool = True) -> None:
        self.server = server
        self.warn_restart_keys = warn_restart_keys  # a prefork master warns once for all
        self.reread = reread
        self.notify = notify
        self.watchdog = watchdog if watchdog is not None else systemd.watchdog_interval()
        self.wakeup = threading.Event()
        self.stop_requested = False
        self.reload_requested = False

    def _on_stop(self, signum: int, frame: object) -> None:
        self.stop_requested = True
        self.wakeup.set()

    def _on_reload(self, signum: int, frame: object) -> None:
        self.reload_requested = True
        self.wakeup.set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        server = self.server
        thread = serve_in_thread(server)
        where = ", ".join(server.addresses)
        services = ", ".join(server.config.service.services)
        log.info("rpc-gateway %s serving XML-RPC and JSON-RPC on %s (service: %s)",
                 __version__, where, services)
        self.notify(f"READY=1\nSTATUS={self._status()}")
        watchdog = self.watchdog
        while not self.stop_requested:
            self.wakeup.wait(min(watchdog or 5.0, 5.0))
            self.wakeup.clear()
            if not thread.is_alive():
                log.error("the connection loop stopped unexpectedly")
                return 1
            if self.reload_requested:
                self.reload_requested = False
                self._reload()
            if watchdog and time.monotonic() - server.loop.heartbeat < 2.0:
                self.notify("WATCHDOG=1")
            self.notify(f"STATUS={self._status()}")
        log.info("stopping: draining calls in flight (up to %.0f s)",
                 server.config.server.drain_timeout)
        self.notify("STOPPING=1\nSTATUS=draining")
        finished = server.shutdown()
        thread.join(5)
        server.server_close()
        log.info("stopped after %d calls", server.dispatcher.calls)
        return 0 if finished else 1

    def _status(self) -> str:
        server = self.server
        return (f"listening on {', '.join(server.addresses)}; {server.dispatcher.calls} calls; "
                f"{server.loop.connection_count} connections")

    def _reload(self) -> None:
        now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.notify(f"RELOADING=1\nMONOTONIC_USEC={now_usec}")
        config = reread_or_keep(self.reread, log)
        if config is None:
            self.notify(f"READY=1\nSTATUS=reload failed; {self._status()}")
            return
        config, warnings = for_reload(self.server.config, config)
        if self.warn_restart_keys:
            for warning in warnings:
                log.warning("%s", warning)
        self.server.apply(config)
        logs.apply_levels(config.logging.level, config.logging.access_log)
        log.info("reloaded configuration from %s", config.path or "built-in defaults")
        self.notify(f"READY=1\nSTATUS={self._status()}")
