"""One gateway process: the server loop in a thread, signals and systemd in the main thread.

SIGTERM/SIGINT stop gracefully (calls in flight finish, bounded by
``drain_timeout``); SIGHUP re-reads the configuration and applies it without
closing listeners, or keeps the running one if the new one is invalid.
Signal handlers only set flags; the main thread acts on them.
``notify`` is sd_notify for a lone process, or a pipe to the prefork master.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import time
from typing import Callable

from gateway import __version__, logs, memory, systemd
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
        # Handlers set a flag and write a byte here; an Event would deadlock: Event.set in
        # a handler waits for the lock the interrupted Event.wait of the main thread holds.
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
        self.stop_requested = False
        self.reload_requested = False

    def _on_stop(self, signum: int, frame: object) -> None:
        self.stop_requested = True
        self._wake()

    def _on_reload(self, signum: int, frame: object) -> None:
        self.reload_requested = True
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"!")
        except BlockingIOError:  # the pipe is full: the main thread is about to wake anyway
            pass

    def _sleep(self, timeout: float) -> None:
        """Until a signal arrived or ``timeout`` passed; takes no lock a handler could need."""
        ready, _, _ = select.select([self._wake_r], [], [], timeout)
        if ready:
            try:
                while os.read(self._wake_r, 512):
                    pass
            except BlockingIOError:
                pass

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        # A prefork worker starts with these blocked (gateway.prefork): one that came
        # while it started is delivered now, to the handlers above.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, systemd.CONTROL_SIGNALS)
        server = self.server
        thread = serve_in_thread(server)
        trimmer = memory.start_trimmer()
        where = ", ".join(server.addresses)
        if server.zerorpc_endpoints:
            where += f"; zerorpc on {', '.join(server.zerorpc_endpoints)}"
        services = ", ".join(server.config.service.services)
        log.info("rpc-gateway %s serving XML-RPC and JSON-RPC on %s (service: %s)",
                 __version__, where, services)
        self.notify(f"READY=1\nSTATUS={self._status()}")
        watchdog = self.watchdog
        while not self.stop_requested:
            self._sleep(min(watchdog or 5.0, 5.0))
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
        if trimmer is not None:
            trimmer.stop()
        server.server_close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        log.info("stopped after %d calls", server.router.calls)
        return 0 if finished else 1

    def _status(self) -> str:
        server = self.server
        zerorpc = (f"zerorpc on {', '.join(server.zerorpc_endpoints)}; "
                   if server.zerorpc_endpoints else "")
        return (f"listening on {', '.join(server.addresses)}; {zerorpc}"
                f"{server.router.calls} calls; {server.loop.status.connections} connections")

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
