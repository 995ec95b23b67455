"""workers = N: a master supervising forked gateways that share the listening sockets."""

import os
import signal
import time
import xmlrpc.client

import jsonrpclib

COUNTING = "tests.support.services:Counting"


def _pids(url: str, calls: int = 60) -> set[int]:
    """Pids that answered ``calls`` calls, each on a fresh connection."""
    return {xmlrpc.client.ServerProxy(url).whoami() for _ in range(calls)}


def _wait_for_replacement(master: int, dead: int, timeout: float = 10.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = _children(master)
        if dead not in children and len(children) == 2:
            return children
        time.sleep(0.05)
    raise AssertionError(f"worker {dead} was not replaced within {timeout} s")


def test_two_workers_serve_both_protocols_and_stop_cleanly(daemon):
    gateway = daemon("--workers", "2", "--service", "calc=handlers.calculator:Calculator",
                     "--service", COUNTING)
    assert xmlrpc.client.ServerProxy(gateway.url).calc.add(2, 3) == 5
    assert jsonrpclib.ServerProxy(gateway.url)._request("calc.multiply", [6, 7]) == 42
    master = gateway.process.pid
    assert master not in _pids(gateway.url), "the master must never answer calls"
    assert gateway.stop() == 0
    assert "STOPPING=1" in gateway.wait_for("STOPPING=1")


def test_a_killed_worker_is_replaced(daemon):
    gateway = daemon("--workers", "2", "--service", COUNTING)
    victim = next(iter(_pids(gateway.url)))
    os.kill(victim, signal.SIGKILL)
    children = _wait_for_replacement(gateway.process.pid, victim)
    assert "exited unexpectedly (signal SIGKILL)" in gateway.stderr()
    assert _pids(gateway.url) <= children


def test_reload_with_a_broken_config_keeps_every_worker(daemon, tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text('[server]\nworkers = 2\n[service]\nservices = ["%s"]\n' % COUNTING)
    gateway = daemon("--config", str(config))
    before = _children(gateway.process.pid)
    config.write_text("[server]\nworkers = 'two'\n")
    gateway.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "reload refused" not in gateway.stderr() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "reload refused" in gateway.stderr() and "workers" in gateway.stderr()
    assert xmlrpc.client.ServerProxy(gateway.url).whoami() in before
    assert _children(gateway.process.pid) == before


def _children(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        return {int(p) for p in handle.read().split()}
