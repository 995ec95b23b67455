"""The ``rpc-gateway`` command: configure, listen, serve, and obey signals.

Exit status: 0 after a clean stop (or a valid ``--check-config``), 1 for a
configuration or start-up error, 2 for a command-line error.
Signals are handled by gateway.supervisor (one process) or gateway.prefork
(``workers > 1``).
"""

from __future__ import annotations

import argparse
import logging
import sys

from gateway import __version__, logs, memory, systemd
from gateway.config import Config, ConfigError, load_config
from gateway.listeners import open_listener, remove_unix_sockets
from gateway.server import GatewayServer
from gateway.supervisor import Supervisor

log = logging.getLogger("gateway")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rpc-gateway",
        description="Serve XML-RPC and JSON-RPC on one port from one service instance.",
        epilog="`rpc-gateway hash-password` reads a password on stdin and prints the hash "
               "for [auth] users or tokens.")
    parser.add_argument("--bind", metavar="HOST:PORT",
                        help="listen here instead of the configured addresses "
                             "(port 0 picks a free port; unix:/path for a Unix socket)")
    parser.add_argument("--config", metavar="FILE",
                        help="TOML configuration (default: /etc/rpc-gateway/gateway.toml "
                             "when present, else built-in defaults)")
    parser.add_argument("--service", metavar="[PREFIX=]MODULE:ATTR|URL", action="append",
                        help="serve this object (or upstream URL, README: Bridging) instead of "
                             "the calculator, or beside it under PREFIX. (repeatable)")
    parser.add_argument("--zerorpc", metavar="ENDPOINT", action="append",
                        help="also serve zerorpc here: tcp://HOST:PORT (port 0 picks a free "
                             "port) or ipc:///path (repeatable; replaces [zerorpc] listen)")
    parser.add_argument("--workers", metavar="N", help='worker processes, or "auto"')
    parser.add_argument("--check-config", action="store_true",
                        help="validate the configuration and exit 0 (valid) or 1")
    parser.add_argument("--version", action="version", version=f"rpc-gateway {__version__}")
    return parser


def overrides_from(args: argparse.Namespace, base: Config | None = None) -> dict:
    overrides: dict = {}
    if args.bind:
        overrides["server.listen"] = [args.bind]
    if args.zerorpc:
        overrides["zerorpc.listen"] = list(args.zerorpc)
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


def hash_password(stream=sys.stdin) -> int:
    """``rpc-gateway hash-password``: read a secret, print the hash the config takes."""
    from gateway.auth import hash_secret
    if stream.isatty():
        import getpass
        secret = getpass.getpass("password: ")
        if getpass.getpass("again: ") != secret:
            print("rpc-gateway: the two entries differ", file=sys.stderr)
            return 1
    else:
        secret = stream.readline().rstrip("\r\n")
    if not secret:
        print("rpc-gateway: empty password refused", file=sys.stderr)
        return 1
    print(hash_secret(secret))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["hash-password"]:
        return hash_password()
    args = build_parser().parse_args(argv)
    try:
        config = read_config(args)
    except ConfigError as error:
        prefix = "<3>" if logs.stderr_is_journal() else ""  # error priority in the journal
        for problem in error.problems:
            print(f"{prefix}rpc-gateway: {problem}", file=sys.stderr)
        print(f"{prefix}rpc-gateway: configuration has {len(error.problems)} error(s)",
              file=sys.stderr)
        return 1
    if args.check_config:
        print(f"rpc-gateway: configuration {config.path or '(built-in defaults)'} is valid")
        return 0
    logs.configure(config.logging.level, config.logging.access_log)
    memory.tune_malloc()  # before any server thread exists (see gateway.memory)
    listeners = systemd.listen_fds()
    ours = [] if listeners else list(config.server.listen)
    try:
        listeners = listeners or [open_listener(a, config.server.unix_socket_mode,
                                                  reuse_port=config.server.workers > 1)
                                    for a in ours]
    except OSError as error:
        log.error("cannot listen: %s", error)
        return 1
    try:
        return serve(config, listeners, lambda: read_config(args))
    finally:
        remove_unix_sockets(ours)


def serve(config: Config, listeners: list, reread) -> int:
    if config.server.workers > 1:
        from gateway.prefork import run_workers
        return run_workers(config, listeners, reread)
    try:
        server = GatewayServer(config, listeners)
    except OSError as error:  # a zerorpc endpoint that cannot be bound
        log.error("cannot listen: %s", error)
        return 1
    except (ImportError, AttributeError, TypeError, ValueError) as error:  # ValueError: upstream
        log.error("cannot load the service: %s", error)
        return 1
    return Supervisor(server, reread).run()


if __name__ == "__main__":
    sys.exit(main())
