"""Real upstream servers for the bridge tests, each a process on a free port, always stopped.

``Upstream`` wraps one process: ``kill()`` (a dead upstream), ``pause()`` /
``resume()`` (SIGSTOP/SIGCONT: a hung one, its socket still accepting) and
``restart()`` on the same address (recovery).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_connectable(address: str | tuple[str, int], timeout: float = 20.0) -> None:
    """Wait until something accepts connections on ``address`` (a Unix path or host, port)."""
    deadline = time.monotonic() + timeout
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    while True:
        with socket.socket(family) as sock:
            sock.settimeout(1)
            try:
                sock.connect(address)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"nothing listens on {address} after {timeout} s")
        time.sleep(0.05)


class Upstream:
    """One upstream process; ``ready`` is how to know it serves (an address or a line)."""

    def __init__(self, args: list[str], tmp: Path, ready: str | tuple[str, int],
                 name: str) -> None:
        self.args, self.tmp, self.ready, self.name = args, tmp, ready, name
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        log = open(self.tmp / f"{self.name}.log", "wb")  # a new run: its own ready line
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(self.args, cwd=self.tmp, env=env,
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        if isinstance(self.ready, str) and not self.ready.startswith("/"):
            self._wait_line(self.ready)
        else:
            wait_connectable(self.ready)

    def _wait_line(self, line: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        path = self.tmp / f"{self.name}.log"
        while line not in path.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not start: {path.read_text()[-2000:]}")
            time.sleep(0.05)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
        self.process.wait(10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def aria2(tmp: Path) -> tuple[Upstream, int]:
    port = free_port()
    args = ["aria2c", "--enable-rpc", f"--rpc-listen-port={port}", "--no-conf", "--quiet",
            f"--dir={tmp}", "--rpc-listen-all=false", "--disable-ipv6"]
    return Upstream(args, tmp, ("127.0.0.1", port), "aria2"), port


SUPERVISOR_CONF = """[unix_http_server]
file = {tmp}/supervisor.sock

[inet_http_server]
port = 127.0.0.1:{port}

[supervisord]
nodaemon = true
logfile = {tmp}/supervisord.log
pidfile = {tmp}/supervisord.pid
childlogdir = {tmp}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[program:sleeper]
command = sleep 600
autostart = true
"""


def supervisord(tmp: Path) -> tuple[Upstream, int, str]:
    """supervisord with both an inet_http_server (TCP) and a unix_http_server socket."""
    port = free_port()
    conf = tmp / "supervisord.conf"
    conf.write_text(SUPERVISOR_CONF.format(tmp=tmp, port=port))
    sock = f"{tmp}/supervisor.sock"
    upstream = Upstream(["supervisord", "-n", "-c", str(conf)], tmp, ("127.0.0.1", port),
                        "supervisord")
    wait_connectable(sock)
    return upstream, port, sock


def jsonrpclib_server(tmp: Path) -> tuple[Upstream, int]:
    port = free_port()
    args = [sys.executable, str(HERE / "upstream_jsonrpclib.py"), str(port)]
    return Upstream(args, tmp, "ready", f"jsonrpclib-{port}"), port


def zerorpc_server(tmp: Path, service: str) -> tuple[Upstream, int]:
    port = free_port()
    args = [sys.executable, str(HERE / "upstream_zerorpc.py"), service, str(port)]
    upstream = Upstream(args, tmp, "ready", f"zerorpc-{service}-{port}")
    wait_connectable(("127.0.0.1", port))
    return upstream, port


def zerorpc_ipc_server(tmp: Path, service: str) -> tuple[Upstream, str]:
    """The same server on an ipc:// endpoint (a Unix socket file)."""
    path = str(tmp / f"{service}.ipc")
    args = [sys.executable, str(HERE / "upstream_zerorpc.py"), service, f"ipc://{path}"]
    upstream = Upstream(args, tmp, "ready", f"zerorpc-{service}-ipc")
    wait_connectable(path)
    return upstream, path
