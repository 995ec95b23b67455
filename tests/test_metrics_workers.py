"""``workers = N``: every worker's figures in every scrape, whichever worker answers it.

Each worker counts into memory and publishes to the shared directory about once a
second, before it answers a scrape and when it stops gracefully: these tests prove
the figures of calls both workers answered reach a scrape, and that a stopped or
killed worker's counts stay.
"""

from __future__ import annotations

import http.client
import os
import signal
import time
import xmlrpc.client

from tests.support.scrape import scrape, settled, value, wait_until

WHOAMI = {"protocol": "xmlrpc", "method": "whoami"}


def test_with_workers_every_scrape_shows_the_whole_gateway(daemon, tmp_path):
    runtime = tmp_path / "run"
    runtime.mkdir()
    process = daemon("--workers", "2", "--service", "tests.support.services:Counting",
                     env={"RUNTIME_DIRECTORY": str(runtime)})
    answered_by = set()
    for _ in range(40):  # a new connection each: the kernel spreads them over both workers
        answered_by.add(xmlrpc.client.ServerProxy(process.url).whoami())
    assert len(answered_by) == 2, "both workers should have answered calls"
    assert len(list(runtime.iterdir())) == 1  # one directory for this start
    settled(process.url, "rpc_gateway_calls_total", 40, **WHOAMI)
    totals = set()
    for _ in range(10):
        totals.add(value(scrape(process.url), "rpc_gateway_calls_total", **WHOAMI))
    assert totals == {40.0}
    process.signal(signal.SIGHUP)
    wait_until(lambda: value(scrape(process.url), "rpc_gateway_reloads_total", outcome="ok") == 1)
    time.sleep(0.5)  # the workers' own re-reads are not counted again
    assert value(scrape(process.url), "rpc_gateway_reloads_total", outcome="ok") == 1
    assert process.stop() == 0
    assert list(runtime.iterdir()) == []  # removed on stop


def test_a_replaced_worker_keeps_its_counts_but_not_its_gauges(daemon):
    process = daemon("--workers", "2", "--service", "tests.support.services:Counting")
    whoami = lambda: xmlrpc.client.ServerProxy(process.url).whoami()  # noqa: E731
    for _ in range(30):
        whoami()
    host, port = process.address.rsplit(":", 1)
    held = http.client.HTTPConnection(host, int(port), timeout=10)  # kept open, then killed
    held.request("POST", "/RPC2", xmlrpc.client.dumps((), "whoami"), {"Content-Type": "text/xml"})
    victim = xmlrpc.client.loads(held.getresponse().read())[0][0]
    wait_until(lambda: value(scrape(process.url), "rpc_gateway_open_connections") >= 2)
    # A killed worker keeps what it published; it loses at most its last second (the
    # graceful stop publishes all, see the test below), so wait for all 31 to be out.
    wait_until(lambda: value(scrape(process.url), "rpc_gateway_calls_total", **WHOAMI) == 31)
    os.kill(victim, signal.SIGKILL)
    held.close()
    wait_until(lambda: len({whoami() for _ in range(10)} - {victim}) == 2)
    wait_until(lambda: value(scrape(process.url), "rpc_gateway_open_connections") == 1)
    samples = scrape(process.url)
    assert value(samples, "rpc_gateway_calls_total", **WHOAMI) >= 31
    assert process.stop() == 0


def test_calls_both_workers_answered_reach_a_scrape_and_survive_a_graceful_stop(daemon):
    process = daemon("--workers", "2", "--service", "tests.support.services:Counting")
    made, proxies = 0, {}
    for _ in range(60):  # a new connection each, until each worker holds one of them
        proxy = xmlrpc.client.ServerProxy(process.url)
        proxies.setdefault(proxy.whoami(), proxy)
        made += 1
        if len(proxies) == 2:
            break
    assert len(proxies) == 2, "the kernel should have given connections to both workers"
    for pid, proxy in proxies.items():
        for _ in range(20):
            assert proxy.whoami() == pid  # a kept-alive connection stays with its worker
            made += 1
    # Scrapes on one kept-alive connection are answered by one worker: the other
    # worker's calls can only come from its publisher thread.
    host, port = process.address.rsplit(":", 1)
    scraper = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        samples = settled(scraper, "rpc_gateway_calls_total", made, **WHOAMI)
    finally:
        scraper.close()
    assert value(samples, "rpc_gateway_calls_total", **WHOAMI) == made
    victim = next(iter(proxies))
    for _ in range(10):
        proxies[victim].whoami()
        made += 1
    proxies[victim]("close")()
    os.kill(victim, signal.SIGTERM)  # at once: its last calls wait for its next publish
    wait_until(lambda: not _alive(victim))
    deadline = time.monotonic() + 30
    while xmlrpc.client.ServerProxy(process.url).whoami() in proxies:  # until its replacement
        made += 1  # answers: stopping the gateway while a worker starts is another test's
        assert time.monotonic() < deadline, "the stopped worker was not replaced"
    made += 1
    samples = settled(process.url, "rpc_gateway_calls_total", made, **WHOAMI)
    assert value(samples, "rpc_gateway_calls_total", **WHOAMI) == made, (
        "the calls a worker answered before its graceful stop should all be counted")
    assert process.stop() == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_with_workers_upstream_figures_add_up_over_the_workers(daemon):
    """Each worker has its own guard: an unreachable upstream fails once in each (its
    circuit then opens), and a scrape shows both failures and both open circuits."""
    process = daemon("--workers", "2", "--service", "tests.support.services:Counting",
                     "--service", "j=jsonrpc+http://127.0.0.1:1/#methods=add&failures=1"
                     "&retries=0&reset=600")
    who = set()
    for _ in range(60):  # a new connection each, until both workers have tried the upstream
        proxy = xmlrpc.client.ServerProxy(process.url)
        try:
            proxy.j.add(1, 2)
        except xmlrpc.client.Fault as fault:
            assert fault.faultCode == -32000
        who.add(proxy.whoami())
        if len(who) == 2:
            break
    assert len(who) == 2, "the kernel should have given connections to both workers"
    upstream = {"upstream": "j"}
    wait_until(lambda: value(scrape(process.url), "rpc_gateway_upstream_circuit_open",
                             **upstream) == 2)
    samples = scrape(process.url)
    assert value(samples, "rpc_gateway_upstream_failures_total", **upstream) == 2
    assert value(samples, "rpc_gateway_upstream_calls_total", **upstream) == 2
    assert value(samples, "rpc_gateway_upstream_in_flight", **upstream) == 0
    assert process.stop() == 0
