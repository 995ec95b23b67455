"""Real nginx and HAProxy in front of test gateways, configured from the shipped files.

Rules:
1. What runs is the shipped file with only addresses, ports and file paths
   replaced. Each replaced text must occur exactly once outside comments, so an
   edit of the shipped file changes the test, and a rename of an address fails
   loudly instead of testing something else.
2. Each balancer is a child process in the foreground, in its own process group,
   listening on a free loopback port; a port taken meanwhile means a new port.
3. Every wait has a deadline; ``stop()`` always ends the process group.
"""

from __future__ import annotations

import csv
import http.client
import io
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NGINX_SHIPPED = ROOT / "conf" / "nginx" / "rpc-gateway.conf"
HAPROXY_SHIPPED = ROOT / "conf" / "haproxy" / "rpc-gateway.cfg"
SHIPPED_LISTEN = "127.0.0.1:8080"
SHIPPED_GATEWAYS = ("127.0.0.1:8081", "127.0.0.1:8082", "127.0.0.1:8083")
PORT_ATTEMPTS = 5


class PortTaken(Exception):
    """The free port found was bound by someone else before the balancer bound it."""


def render(shipped: Path, replacements: dict[str, str]) -> str:
    """The shipped file with each key replaced, on directive lines only (rule 1)."""
    lines = shipped.read_text().splitlines(keepends=True)
    found = dict.fromkeys(replacements, 0)
    for index, line in enumerate(lines):
        if line.lstrip().startswith("#"):
            continue
        for old, new in replacements.items():
            found[old] += line.count(old)
            line = line.replace(old, new)
        lines[index] = line
    wrong = {old: count for old, count in found.items() if count != 1}
    assert not wrong, f"{shipped.name}: each of these must occur once, found {wrong}"
    return "".join(lines)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition, timeout: float, what: str, interval: float = 0.05):
    """Poll ``condition`` until it returns something true; return that, or fail at ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Balancer:
    """One running balancer; subclasses say how to configure, start and watch it."""

    kind = ""

    def __init__(self, workdir: Path, port: int, gateways: list[str]) -> None:
        self.workdir = workdir
        self.port = port
        self.gateways = gateways
        self.address = f"127.0.0.1:{port}"
        self.url = f"http://{self.address}"
        self.output = workdir / "output.log"
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def logs(self) -> str:
        """Everything the balancer wrote, for failure messages and log checks."""
        raise NotImplementedError

    def all_up(self) -> bool:
        return True

    def start(self, timeout: float = 15.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.write_config()
        with open(self.output, "wb") as output:
            self.process = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self._ready, timeout, f"{self.kind} to serve /healthz on {self.address}")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            text = self.logs()
            if "Address already in use" in text:
                raise PortTaken(self.address)
            raise AssertionError(f"{self.kind} exited with {self.process.returncode}:\n{text}")
        try:
            connection = http.client.HTTPConnection(self.address, timeout=2)
            connection.request("GET", "/healthz")
            healthy = connection.getresponse().status == 200
            connection.close()
            return healthy and self.all_up()
        except OSError:  # not listening yet
            return False

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
            raise AssertionError(f"{self.kind} did not stop within {timeout} s")


class Nginx(Balancer):
    """nginx with the shipped server block included from a minimal main file (no rules in it).

    It notices a dead gateway passively: the first failed attempt logs an error
    naming that upstream and rests it for fail_timeout.
    """

    kind = "nginx"

    def write_config(self) -> None:
        self.error_log = self.workdir / "error.log"
        site = render(NGINX_SHIPPED, {
            SHIPPED_LISTEN: self.address,
            **dict(zip(SHIPPED_GATEWAYS, self.gateways)),
            "/var/log/nginx/rpc-gateway.access.log": str(self.workdir / "access.log"),
            "/var/log/nginx/rpc-gateway.error.log": str(self.error_log),
        })
        (self.workdir / "rpc-gateway.conf").write_text(site)
        temp = "\n".join(f"    {name}_temp_path {self.workdir / name};"
                         for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (self.workdir / "nginx.conf").write_text(
            "# What Debian's /etc/nginx/nginx.conf provides: process and paths, no proxy rules.\n"
            f"daemon off;\nworker_processes 1;\npid {self.workdir / 'nginx.pid'};\n"
            f"error_log {self.workdir / 'main-error.log'};\nevents {{}}\n"
            f"http {{\n{temp}\n    include {self.workdir / 'rpc-gateway.conf'};\n}}\n")

    def command(self) -> list[str]:
        return [_tool("nginx"), "-p", str(self.workdir), "-c", str(self.workdir / "nginx.conf"),
                "-e", str(self.workdir / "main-error.log")]

    def logs(self) -> str:
        return "".join(_read(self.workdir / name)
                       for name in ("output.log", "main-error.log", "error.log"))

    def upstream_errors(self, gateway: str) -> list[str]:
        """Error log lines about attempts on ``gateway``."""
        needle = f'upstream: "http://{gateway}/'
        return [line for line in _read(self.error_log).splitlines() if needle in line]

    def noticed_down(self, gateway: str) -> bool:
        return bool(self.upstream_errors(gateway))

    def refused_by(self, gateway: str) -> int:
        """How many attempts on ``gateway`` were refused (and so moved on)."""
        return sum("Connection refused" in line for line in self.upstream_errors(gateway))


class HAProxy(Balancer):
    """HAProxy with the shipped file; server states and counters from its stats socket.

    It notices a dead gateway actively: the /healthz check marks it DOWN.
    """

    kind = "haproxy"

    def write_config(self) -> None:
        self.stats_socket = self.workdir / "stats.sock"
        config = render(HAPROXY_SHIPPED, {
            SHIPPED_LISTEN: self.address,
            **dict(zip(SHIPPED_GATEWAYS, self.gateways)),
            "/run/haproxy/rpc-gateway.sock": str(self.stats_socket),
            "log /dev/log": "log stderr format raw",
        })
        self.config = self.workdir / "haproxy.cfg"
        self.config.write_text(config)

    def command(self) -> list[str]:
        return [_tool("haproxy"), "-db", "-f", str(self.config)]

    def logs(self) -> str:
        return _read(self.output)

    def servers(self) -> dict[str, dict[str, str]]:
        """Stats rows of the gateway servers, by address."""
        with socket.socket(socket.AF_UNIX) as stats:
            stats.settimeout(5)
            stats.connect(str(self.stats_socket))
            stats.sendall(b"show stat\n")
            chunks = []
            while chunk := stats.recv(65536):
                chunks.append(chunk)
        text = b"".join(chunks).decode().lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {row["addr"]: row for row in rows if row.get("addr") in self.gateways}

    def all_up(self) -> bool:
        states = self.servers()
        return len(states) == len(self.gateways) and all(
            row["status"].startswith("UP") for row in states.values())

    def noticed_down(self, gateway: str) -> bool:
        return self.servers()[gateway]["status"].startswith("DOWN")

    def refused_by(self, gateway: str) -> int:
        """Calls sent elsewhere after ``gateway`` failed to connect (HAProxy's wredis)."""
        return int(self.servers()[gateway]["wredis"] or 0)


KINDS = {"nginx": Nginx, "haproxy": HAProxy}


def start_balancer(kind: str, tmp: Path, gateways: list[str]) -> Balancer:
    """A running balancer of ``kind`` in front of ``gateways``, on a free port (rule 2)."""
    for attempt in range(PORT_ATTEMPTS):
        balancer = KINDS[kind](tmp / f"{kind}-{attempt}", free_port(), gateways)
        try:
            balancer.start()
            return balancer
        except PortTaken:
            balancer.stop()
        except BaseException:
            balancer.stop()
            raise
    raise AssertionError(f"{kind}: {PORT_ATTEMPTS} free ports were taken before it could bind")


def _tool(name: str) -> str:
    """The balancer's binary; missing means tests/run.sh did not install it: fail, never skip."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    assert path, f"{name} is not installed: tests/run.sh installs the Debian package {name}"
    return path


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
