"""File descriptors running out (EMFILE) must not spin the loop or flood the log (issue 9).

A real daemon runs under RLIMIT_NOFILE=256 and 400 clients connect and stay
idle. The gateway must then use little CPU (its listeners rest instead of
failing accept() in a loop), log the episode a few times at most (not once
per failure), answer what it cannot take with 503 rather than a hang, and
serve a fresh call again once the idle clients have gone.
"""

from __future__ import annotations

import os
import resource
import socket
import time
import xmlrpc.client

from tests.hostile.wire import address_of
from tests.support.processes import Daemon

FD_LIMIT = 256
IDLE_CLIENTS = 400


def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _call_works(url: str) -> bool:
    try:
        return xmlrpc.client.ServerProxy(url).add(2, 3) == 5
    except (OSError, xmlrpc.client.ProtocolError):
        return False


def test_fd_exhaustion_backs_off_logs_once_and_recovers(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < IDLE_CLIENTS + 100:  # this test process holds the idle clients' ends
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    process = Daemon(tmp_path, ["--bind", "127.0.0.1:0"], preexec_fn=_limit_descriptors)
    try:
        _exhaust_and_recover(process)
    finally:
        process.stop()
    lines = [line for line in process.stderr().splitlines()
             if "accept" in line or "descriptors" in line]
    print("\n".join(lines))
    assert 1 <= len(lines) < 10, f"{len(lines)} log lines about accept failures"


def _exhaust_and_recover(process: Daemon) -> None:
    idle: list[socket.socket] = []
    try:
        addr = address_of(process.url)
        for _ in range(IDLE_CLIENTS):
            idle.append(socket.create_connection(addr, timeout=5))
        time.sleep(0.5)  # the gateway has hit its limit and settled
        before = cpu_seconds(process.process.pid)
        time.sleep(2.0)
        share = (cpu_seconds(process.process.pid) - before) / 2.0
        print(f"gateway CPU with its descriptors exhausted: {share:.0%} of a core")
        assert share < 0.5, f"the loop spins on EMFILE: {share:.0%} of a core"
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 15
    while not _call_works(process.url) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _call_works(process.url), "no call served after the idle clients closed"
