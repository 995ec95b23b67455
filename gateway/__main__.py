"""The ``rpc-gateway`` command: configure, listen, serve, and obey signals.

Exit status: 0 after a clean stop (or a valid ``--check-config``), 1 for a
configuration or start-up error, 2 for a command-line error.
Signals: SIGTERM/SIGINT stop gracefully (calls in flight finish, bounded by
``drain_timeout``); SIGHUP re-reads the configuration and applies it without
closing listeners, or keeps the old one if the new one is invalid.
Signal handlers only set flags; the main thread acts on them.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time

from gateway import __version__, logs, systemd
from gateway.config import Config, ConfigError, load_config
from gateway.listeners import open_listener
from gateway.server import GatewayServer, serve_in_thread

log = logging.getLogger("gateway")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rpc-gateway",
        description="Serve XML-RPC and JSON-RPC on one port from one service instance.")
    parser.add_argument("--bind", metavar="HOST:PORT",
                        help="listen here instead of the configured addresses "
                             "(port 0 picks a free port; unix:/path for a Unix socket)")
    parser.add_argument("--config", metavar="FILE",
                        help="TOML configuration (default: /etc/rpc-gateway/gateway.toml "
                             "when present, else built-in defaults)")
    parser.add_argument("--service", metavar="[PREFIX=]MODULE:ATTR", action="append",
                        help="serve this object instead of the calculator, or beside it "
                             "under PREFIX. (repeatable)")
    parser.add_argument("--workers", metavar="N", help='worker processes, or "auto"')
    parser.add_argument("--check-config", action="store_true",
                        help="validate the configuration and exit 0 (valid) or 1")
    parser.add_argument("--version", action="version", version=f"rpc-gateway {__version__}")
    return parser


def overrides_from(args: argparse.Namespace, base: Config | None = None) -> dict:
    overrides: dict = {}
    if args.bind:
        overrides["server.listen"] = [args.bind]
    if args.workers:
        overrides["server.workers"] = args.workers if args.workers == "auto" else (
            int(args.workers) if args.workers.isdigit() else args.workers)
    if args.service:
        default = list(base.service.services) if base else []
        plain = [s for s in args.service if "=" not in s.split(":", 1)[0]]
        prefixed = [s for s in args.service if s not in plain]
        kept = [s for s in default if "=" in s.split(":", 1)[0]] if plain else default
        overrides["service.services"] = plain[-1:] + kept + prefixed
    return overrides


def read_config(args: argparse.Namespace) -> Config:
    base = load_config(args.config)
    overrides = overrides_from(args, base)
    return load_config(args.config, overrides) if overrides else base


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = read_config(args)
    except ConfigError as error:
        for problem in error.problems:
            print(f"rpc-gateway: {problem}", file=sys.stderr)
        print(f"rpc-gateway: configuration has {len(error.problems)} error(s)", file=sys.stderr)
        return 1
    if args.check_config:
        print(f"rpc-gateway: configuration {config.path or '(built-in defaults)'} is valid")
        return 0
    logs.configure(config.logging.level, config.logging.access_log)
    try:
        listeners = systemd.listen_fds() or [
            open_listener(address, config.server.unix_socket_mode)
            for address in config.server.listen]
    except OSError as error:
        log.error("cannot listen: %s", error)
        return 1
    if config.server.workers > 1:
        from gateway.prefork import run_workers
        return run_workers(config, listeners, lambda: read_config(args))
    try:
        server = GatewayServer(config, listeners)
    except (ImportError, AttributeError, TypeError) as error:
        log.error("cannot load the service: %s", error)
        return 1
    return Supervisor(server, lambda: read_config(args)).run()


class Supervisor:
    """Runs one GatewayServer in a thread; the main thread handles signals and systemd."""

    def __init__(self, server: GatewayServer, reread: "callable") -> None:
        self.server = server
        self.reread = reread
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
        systemd.notify(f"READY=1\nSTATUS={self._status()}")
        watchdog = systemd.watchdog_interval()
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
                systemd.notify("WATCHDOG=1")
            systemd.notify(f"STATUS={self._status()}")
        log.info("stopping: draining calls in flight (up to %.0f s)",
                 server.config.server.drain_timeout)
        systemd.notify("STOPPING=1\nSTATUS=draining")
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
        systemd.notify(f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")
        try:
            config = self.reread()
        except ConfigError as error:
            for problem in error.problems:
                log.error("reload refused, keeping the running configuration: %s", problem)
            systemd.notify(f"READY=1\nSTATUS=reload failed; {self._status()}")
            return
        old = self.server.config
        for key in ("listen", "workers", "xmlrpc_threads", "jsonrpc_threads"):
            if getattr(old.server, key) != getattr(config.server, key):
                log.warning("reload: server.%s changed; it takes effect on restart", key)
        if old.service.services != config.service.services:
            log.warning("reload: service.services changed; it takes effect on restart")
        self.server.apply(config)
        logs.apply_levels(config.logging.level, config.logging.access_log)
        log.info("reloaded configuration from %s", config.path or "built-in defaults")
        systemd.notify(f"READY=1\nSTATUS={self._status()}")


if __name__ == "__main__":
    sys.exit(main())
