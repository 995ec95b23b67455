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


class StartError(RuntimeError):
    """A server did not become ready; the message says why (with its stderr tail)."""


@dataclass
class ServerProcess:
    """One running server: its name in the report, address, paths per protocol, process."""

    name: str
    role: str  # "gateway", "shipped" or "tuned"
    paths: dict[str, str]
    process: subprocess.Popen
    address: str
    cpus: set[int]
    log_path: Path
    workers: int = 1
    notify: socket.socket | None = field(default=None, repr=False)

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

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.notify is not None:
            self.notify.close()
        return self.process.returncode


def pinned(cpus: set[int]):
    """A preexec_fn that pins the child (and every thread it starts) to ``cpus``."""
    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)
    return pin


def start_gateway(name: str, workdir: Path, cpus: set[int], workers: int = 1,
                  root: Path = ROOT) -> ServerProcess:
    """``python -m gateway --bind 127.0.0.1:0`` with access logging off; ready on READY=1.

    ``root`` is the source tree the gateway is imported from (another checkout
    with a patch applied, for bench/ab.py).
    """
    config = workdir / "gateway.toml"
    config.write_text("# written by bench/: the gateway as deployed, minus access logging\n"
                      "[logging]\naccess_log = false\nlevel = \"warning\"\n")
    notify_path = workdir / f"notify-{name}"
    notify_path.unlink(missing_ok=True)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    log_path = workdir / f"{name}.stderr.log"
    args = [sys.executable, "-m", "gateway", "--bind", "127.0.0.1:0", "--config", str(config)]
    if workers != 1:
        args += ["--workers", str(workers)]
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "PYTHONPATH": str(root)}
    with open(log_path, "w") as log:
        process = subprocess.Popen(args, cwd=root, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=log,
                                   preexec_fn=pinned(cpus))
    try:
        address = _wait_ready_datagram(notify, process, log_path)
    except StartError:
        _kill(process)
        notify.close()
        raise
    return ServerProcess(name, "gateway", dict(GATEWAY_PATHS), process, address, cpus,
                         log_path, workers, notify)


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
