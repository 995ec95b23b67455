"""Memory after a burst: 50 bodies of 4 MiB must not stay resident once answered."""

from __future__ import annotations

import gc
import http.client
import json
import threading
import time
import weakref

from gateway.memory import Once

BODY = 4 * 1024 * 1024 - 256  # just under the default limits.max_body_bytes


def _resident_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS line")


def _call(address: tuple[str, int], number: int) -> None:
    if number % 2:
        body = json.dumps({"jsonrpc": "2.0", "method": "ping", "params": ["x" * BODY],
                           "id": number}).encode()
        kind = "application/json"
    else:
        body = (b"<?xml version='1.0'?><methodCall><methodName>ping</methodName><params>"
                b"<param><value><string>" + b"y" * BODY + b"</string></value></param>"
                b"</params></methodCall>")
        kind = "text/xml"
    connection = http.client.HTTPConnection(*address, timeout=60)
    try:
        connection.request("POST", "/", body, {"Content-Type": kind})
        answer = connection.getresponse()
        assert answer.status == 200 and len(answer.read()) > BODY
    finally:
        connection.close()


def test_resident_size_returns_within_twice_idle_after_a_burst(daemon):
    gateway = daemon()
    host, port = gateway.address.rsplit(":", 1)
    address = (host, int(port))
    _call(address, 0)  # first use: imports, pools, caches
    time.sleep(1)
    idle = _resident_mib(gateway.process.pid)
    errors: list[BaseException] = []

    def client(first: int) -> None:
        try:
            for number in range(first, first + 5):
                _call(address, number)
        except BaseException as error:  # noqa: BLE001 - reported by the test thread
            errors.append(error)

    clients = [threading.Thread(target=client, args=(n * 5,)) for n in range(10)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(120)
    assert not errors, errors
    deadline, resident = time.monotonic() + 10, float("inf")
    while time.monotonic() < deadline:
        resident = _resident_mib(gateway.process.pid)
        if resident <= 2 * idle:
            break
        time.sleep(0.25)
    assert resident <= 2 * idle, f"idle {idle:.0f} MiB, {resident:.0f} MiB 10 s after the burst"


def test_once_lets_go_of_its_job_when_it_runs():
    class Job:
        def __call__(self) -> int:
            return 7

    job = Job()
    alive = weakref.ref(job)
    once = Once(job)
    del job
    assert once() == 7
    gc.collect()
    assert alive() is None, "Once still holds the job it ran"
    assert once() is None
