"""The servers under test as separate processes, and what /proc says about them.

Every server is its own process, pinned to the CPUs it is given, started on
port 0 and known to be ready before it is measured: the gateway by its
sd_notify ``READY=1`` datagram (its STATUS line names the bound address), a
reference by the ``READY host:port`` line it prints.

Server cost is read from /proc, never from the server itself: CPU time is
``utime + stime`` (plus ``cutime + cstime`` for reaped children) summed over
the server process and all its descendants, so a pre-forked gateway's workers
count; RSS and thread counts are summed the same way.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT = 30.0

GATEWAY_PATHS = {"xml": "/RPC2", "json": "/jsonrpc"}
REFERENCE_PATHS = {"stdlib": {"xml": "/RPC2"}, "jsonrpclib": {"json": "/"}}
ARIA2_PATHS = {"xml": "/rpc", "json": "/jsonrpc"}


class StartError(RuntimeError):
    """A server did not become ready; the message says why (with its stderr tail)."""


@dataclass
class ServerProcess:
    """One running server: its name in the report, address, paths per protocol, process."""

    name: str
    role: str  # "gateway", "shipped", "tuned" or "anchor" (aria2)
    paths: dict[str, str]
    process: subprocess.Popen
    address: str
    cpus: set[int]
    log_path: Path
    workers: int = 1
    small: str = "small"  # its payload for the small-call rows (aria2: "version")
    notify: socket.socket | None = field(default=None, repr=False)
    drain: subprocess.Popen | None = field(default=None, repr=False)  # reads stderr

    def url(self, protocol: str) -> str:
        return f"http://{self.address}{self.paths[protocol]}"

    @property
    def protocols(self) -> tuple[str, ...]:
        return tuple(self.paths)

    def pids(self) -> list[int]:
        return [self.process.pid, *descendants(self.process.pid)]

    def cpu_seconds(self) -> float:
        return sum(_cpu_ticks(pid) for pid in self.pids()) / CLOCK_TICKS

    def rss_bytes(self) -> int:
        return sum(_status_field(pid, "VmRSS") * 1024 for pid in self.pids())

    def threads(self) -> int:
        return sum(_status_field(pid, "Threads") for pid in self.pids())

    def alive(self) -> bool:
        return self.process.poll() is None

    def read_notifications(self) -> None:
        """Empty the notify socket: the gateway's STATUS updates (every 5 s) fill its queue
        and then block the gateway's main thread, which would never see SIGTERM."""
        if self.notify is None:
            return
        self.notify.setblocking(False)
        try:
            while self.notify.recv(65536):
                pass
        except OSError:
            pass

    def stop(self, timeout: float = 15.0) -> int | None:
        self.read_notifications()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.notify is not None:
            self.notify.close()
        if self.drain is not None:
            self.drain.wait(15)
        return self.process.returncode

    def log_lines(self, needle: str = "gateway.access: ") -> int:
        """Lines of its stderr containing ``needle`` (after ``stop``: access lines written)."""
        with open(self.log_path, "rb") as handle:
            return sum(needle.encode() in line for line in handle)


def pinned(cpus: set[int]):
    """A preexec_fn that pins the child (and every thread it starts) to ``cpus``."""
    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)
    return pin


SHIPPED = "# written by bench/: the shipped defaults (access log on)\n"
QUIET = "# written by bench/: the shipped defaults, access log off\n[logging]\naccess_log = false\n"


def start_gateway(name: str, workdir: Path, cpus: set[int], workers: int | str = 1,
                  root: Path = ROOT, settings: str = QUIET,
                  drain_cpus: set[int] | None = None) -> ServerProcess:
    """``python -m gateway --bind 127.0.0.1:0 --config FILE``; ready on READY=1.

    ``settings`` is the config file's text (``SHIPPED``: built-in defaults, access
    log on). ``root`` is the source tree the gateway is imported from (another
    checkout with a patch applied, for bench/ab.py). Its stderr is a pipe, read by
    ``cat`` into ``NAME.stderr.log`` on ``drain_cpus`` (default: the gateway's): a
    pipe with a reader is what journald gives a service, and a blocked or
    page-cache file would not cost the same.
    """
    config = workdir / f"{name}.toml"
    config.write_text(settings)
    notify_path = workdir / f"notify-{name}"
    notify_path.unlink(missing_ok=True)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    log_path = workdir / f"{name}.stderr.log"
    args = [sys.executable, "-m", "gateway", "--bind", "127.0.0.1:0", "--config", str(config)]
    if str(workers) != "1":
        args += ["--workers", str(workers)]
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "PYTHONPATH": str(root)}
    env.pop("JOURNAL_STREAM", None)
    with open(log_path, "w") as log:
        drain = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=log,
                                 preexec_fn=pinned(cpus if drain_cpus is None else drain_cpus))
    process = subprocess.Popen(args, cwd=root, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=drain.stdin,
                               preexec_fn=pinned(cpus))
    drain.stdin.close()  # the gateway holds the pipe's only writer: cat ends when it exits
    try:
        address = _wait_ready_datagram(notify, process, log_path)
    except StartError:
        _kill(process)
        drain.wait(5)
        notify.close()
        raise
    server = ServerProcess(name, "gateway", dict(GATEWAY_PATHS), process, address, cpus,
                           log_path, os.cpu_count() or 1 if workers == "auto" else int(workers),
                           notify=notify)
    server.drain = drain
    return server


def start_reference(name: str, kind: str, workdir: Path, cpus: set[int]) -> ServerProcess:
    """``python -m bench.references KIND``; ready when it prints ``READY host:port``."""
    log_path = workdir / f"{name}.stderr.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "bench.references", kind],
                                   cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=log, preexec_fn=pinned(cpus))
    try:
        address = _wait_ready_line(process, log_path)
    except StartError:
        _kill(process)
        raise
    family, role = kind.split("-")
    return ServerProcess(name, role, dict(REFERENCE_PATHS[family]), process, address, cpus,
                         log_path)


def start_aria2(name: str, workdir: Path, cpus: set[int]) -> ServerProcess:
    """aria2's RPC server (C++, XML-RPC on /rpc and JSON-RPC on /jsonrpc of one port).

    It cannot bind port 0, so a free port is picked first; ready once it answers.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log_path = workdir / f"{name}.stderr.log"
    args = ["aria2c", "--enable-rpc", f"--rpc-listen-port={port}", "--no-conf",
            "--quiet=true", "--disable-ipv6=true", f"--dir={workdir}"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   preexec_fn=pinned(cpus))
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                _kill(process)
                raise StartError(f"aria2c did not listen on {port}: {_tail(log_path)}")
            time.sleep(0.05)
    return ServerProcess(name, "anchor", dict(ARIA2_PATHS), process, f"127.0.0.1:{port}",
                         cpus, log_path, small="version")


def _wait_ready_datagram(notify: socket.socket, process: subprocess.Popen,
                         log_path: Path) -> str:
    deadline = time.monotonic() + READY_TIMEOUT
    notify.settimeout(0.2)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartError(f"exited with status {process.returncode}: {_tail(log_path)}")
        try:
            message = notify.recv(65536).decode()
        except socket.timeout:
            continue
        if "READY=1" in message and "listening on " in message:
            return message.split("listening on ", 1)[1].split(";")[0].split(",")[0].strip()
    raise StartError(f"no READY=1 within {READY_TIMEOUT:.0f} s: {_tail(log_path)}")


def _wait_ready_line(process: subprocess.Popen, log_path: Path) -> str:
    ready, _, _ = select.select([process.stdout], [], [], READY_TIMEOUT)
    line = process.stdout.readline().decode() if ready else ""
    if not line.startswith("READY "):
        raise StartError(f"no READY line (got {line!r}): {_tail(log_path)}")
    return line.split()[1]


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(5)


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no stderr)"


# -- /proc -------------------------------------------------------------------------

def descendants(root: int) -> list[int]:
    """Every live process below ``root`` (children, grandchildren, ...)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields:
                parents[int(entry)] = int(fields[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, ...]."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def _cpu_ticks(pid: int) -> int:
    fields = _stat_fields(pid)
    if not fields:
        return 0
    # stat fields 14-17 (utime, stime, cutime, cstime); this list starts at field 3.
    return sum(int(value) for value in fields[11:15])


def _status_field(pid: int, name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
