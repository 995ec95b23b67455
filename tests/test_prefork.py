"""workers = N: a master supervising forked gateways that share the listening sockets."""

import contextlib
import os
import signal
import socket
import threading
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
    gateway.wait_for("STOPPING=1")  # raises if the master never said it


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


def test_after_sigterm_every_process_refuses_new_connections_and_answers_calls_in_flight(
        daemon):
    gateway = daemon("--workers", "2", "--service", "tests.support.services:Slow")
    host, port = gateway.address.rsplit(":", 1)
    address = (host, int(port))
    answers: list[object] = []
    calls = [threading.Thread(target=lambda: answers.append(
        xmlrpc.client.ServerProxy(gateway.url).sleep(6))) for _ in range(4)]
    for call in calls:
        call.start()
    time.sleep(0.5)  # the calls are in flight, on both workers (by the peer-port hash)
    gateway.signal(signal.SIGTERM)
    deadline = time.monotonic() + 3  # the master acts on a signal within 0.5 s
    while time.monotonic() < deadline and _accepts(address):
        time.sleep(0.05)
    # Every later attempt is refused at once: none is queued on a socket nobody serves.
    # Fresh source ports hash to every worker's SO_REUSEPORT socket in turn.
    refused = [not _accepts(address) for _ in range(40)]
    assert answers == [] and gateway.process.poll() is None, "still draining meanwhile"
    assert all(refused), f"{refused.count(False)} of 40 connections were accepted after stop"
    for call in calls:
        call.join(10)
    assert answers == [6, 6, 6, 6], "calls in flight were not answered"
    assert gateway.process.wait(10) == 0


def _accepts(address: tuple[str, int]) -> bool:
    """True if a TCP connection is accepted (even if never served), False if refused."""
    try:
        with socket.create_connection(address, timeout=2):
            return True
    except ConnectionRefusedError:
        return False


def _children(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        return {int(p) for p in handle.read().split()}


def test_a_stop_while_a_replacement_worker_starts_is_still_clean(daemon):
    """SIGTERM reaches the master while it waits to replace a worker that died young (the
    crash-loop pause): no worker may be left to die of the signal or to miss it, and the
    master must exit 0 (before the fix it forked one anyway and signalled it at once)."""
    gateway = daemon("--workers", "2", "--service", COUNTING)
    master = gateway.process.pid
    victim = next(iter(_pids(gateway.url)))
    before = _children(master)
    os.kill(victim, signal.SIGKILL)
    (young,) = _wait_for_replacement(master, victim) - before
    os.kill(young, signal.SIGKILL)  # under a second old: its replacement waits 0.5 s
    deadline = time.monotonic() + 10
    while young in _children(master):  # reaped: the master now pauses before replacing it
        assert time.monotonic() < deadline, "the dead worker was not reaped"
        time.sleep(0.001)
    gateway.signal(signal.SIGTERM)
    assert gateway.stop() == 0, gateway.stderr()[-2000:]


def test_workers_stop_when_the_master_is_killed(daemon):
    """SIGKILL leaves the master no chance to stop its workers: they must notice and
    stop by themselves, rather than serve on with nobody to supervise them."""
    gateway = daemon("--workers", "2", "--service", COUNTING)
    master = gateway.process.pid
    workers = _children(master)
    assert len(workers) == 2
    os.kill(master, signal.SIGKILL)
    gateway.process.wait(10)
    deadline = time.monotonic() + 15
    try:
        while any(_running(pid) for pid in workers):
            assert time.monotonic() < deadline, f"workers {workers} outlived their master"
            time.sleep(0.05)
    finally:  # none left behind, whatever happened
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan is reaped by whoever adopted it, maybe late)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
