"""Scale-out: three real gateways behind a real nginx and a real HAProxy, run from conf/.

What the shipped balancer configurations promise, each proven here for both:
- calls are spread over every gateway;
- a connection refused by a dead gateway moves on to another one: no call fails;
- a call that reached a gateway is never sent to a second one, even when the
  first dies before answering (POST is not idempotent);
- killed mid-load, a gateway costs at most the calls it had in flight; once the
  balancer has noticed, no call fails; no call ever runs twice.
Executions are counted by the gateways themselves in a file (one line per
execution: call id and pid), so "ran twice" and "never ran" are facts, not guesses.
That matters beyond the balancer's own retries: xmlrpc.client and jsonrpclib re-send
a call once when a kept connection closes without an answer, so a balancer that
closes instead of answering 502 (HAProxy does, on a kept client connection) makes
calls run twice; only the count file shows it.
"""

from __future__ import annotations

import collections
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.scaleout.balancers import Balancer, start_balancer, wait_until
from tests.scaleout.load import Call, Load, make_call, proxy_for
from tests.scaleout.services import COUNT_FILE_ENV

SERVICE = "tests.scaleout.services:CountingThenWait"
GATEWAYS = 3
CLIENT_THREADS = 6


class Cluster:
    """Three gateway processes, one balancer in front, one count file they all append to."""

    def __init__(self, balancer: Balancer, gateways: list, count_file: Path) -> None:
        self.balancer = balancer
        self.gateways = gateways
        self.count_file = count_file
        self.url = balancer.url
        self.pids = {gateway.process.pid for gateway in gateways}

    def executions(self) -> dict[str, list[int]]:
        """Call id -> pids of the gateways that executed it, in order."""
        executed: dict[str, list[int]] = collections.defaultdict(list)
        for line in self.count_file.read_text().splitlines():
            call_id, pid = line.split()
            executed[call_id].append(int(pid))
        return dict(executed)

    def kill(self, gateway) -> float:
        """SIGKILL ``gateway``, wait until it is gone; return when it was killed."""
        killed = time.monotonic()
        gateway.signal(signal.SIGKILL)
        gateway.process.wait(10)
        return killed

    def gateway_with_pid(self, pid: int):
        return next(gateway for gateway in self.gateways if gateway.process.pid == pid)


@pytest.fixture(params=["nginx", "haproxy"])
def cluster(request, daemon, tmp_path):
    count_file = tmp_path / "executions.txt"
    count_file.touch()
    env = {COUNT_FILE_ENV: str(count_file)}
    gateways = [daemon("--service", SERVICE, env=env) for _ in range(GATEWAYS)]
    balancer = start_balancer(request.param, tmp_path, [gateway.address for gateway in gateways])
    try:
        yield Cluster(balancer, gateways, count_file)
    finally:
        balancer.stop()


def assert_each_success_ran_once_where_it_answered(calls: list[Call],
                                                   executions: dict[str, list[int]]) -> None:
    wrong = {call.call_id: executions.get(call.call_id) for call in calls
             if call.ok and executions.get(call.call_id) != [call.pid]}
    assert not wrong, f"succeeded calls not executed exactly once by the pid that answered: {wrong}"


def assert_nothing_ran_twice(executions: dict[str, list[int]]) -> None:
    twice = {call_id: pids for call_id, pids in executions.items() if len(pids) > 1}
    assert not twice, f"calls executed more than once: {twice}"


def test_calls_are_spread_over_all_three_gateways(cluster):
    calls = Load(cluster.url, CLIENT_THREADS, budget=300, prefix="spread").start().join(60)

    assert len(calls) == 300
    assert [call for call in calls if not call.ok] == []
    served = collections.Counter(call.pid for call in calls)
    assert set(served) == cluster.pids, f"answered by {served}, gateways are {cluster.pids}"
    assert min(served.values()) >= 300 // 10, f"one gateway got almost nothing: {served}"
    executions = cluster.executions()
    assert_nothing_ran_twice(executions)
    assert_each_success_ran_once_where_it_answered(calls, executions)
    assert len(executions) == 300


def test_a_refused_connection_moves_on_to_another_gateway(cluster):
    dead = cluster.gateways[0]
    cluster.kill(dead)

    calls = Load(cluster.url, threads=3, budget=30, prefix="refused").start().join(30)

    assert [call for call in calls if not call.ok] == []
    assert dead.process.pid not in {call.pid for call in calls}
    assert cluster.balancer.refused_by(dead.address) >= 1, (
        "the balancer never tried the dead gateway, so nothing was moved on: "
        + cluster.balancer.logs()[-2000:])
    executions = cluster.executions()
    assert_nothing_ran_twice(executions)
    assert_each_success_ran_once_where_it_answered(calls, executions)


def test_a_call_cut_off_by_a_dying_gateway_is_not_sent_to_another(cluster):
    outcome: list[Call] = []
    caller = threading.Thread(target=lambda: outcome.append(
        make_call(proxy_for(cluster.url, "xmlrpc"), "xmlrpc", "cut-off", 8.0)))
    caller.start()
    try:
        pids = wait_until(lambda: cluster.executions().get("cut-off"), 10,
                          "the slow call to be executed")
        cluster.kill(cluster.gateway_with_pid(pids[0]))
    finally:
        caller.join(20)
    assert not caller.is_alive(), "the call neither failed nor finished"

    [call] = outcome
    assert not call.ok, f"the call succeeded: it was re-sent to gateway {call.pid}"
    assert call.status == 502, call.error
    assert cluster.executions()["cut-off"] == pids, "executed by a second gateway"


def test_killing_a_gateway_mid_load_fails_few_calls_and_repeats_none(cluster, record_property):
    victim = cluster.gateways[0]
    load = Load(cluster.url, CLIENT_THREADS, wait=0.02, prefix="kill").start()
    try:
        wait_until(lambda: load.finished() >= 100, 30, "100 calls before the kill")
        killed = cluster.kill(victim)
        wait_until(lambda: cluster.balancer.noticed_down(victim.address), 15,
                   f"{cluster.balancer.kind} to notice the dead gateway")
        noticed = time.monotonic()
        wait_until(lambda: load.finished(started_after=noticed) >= 150, 30,
                   "150 calls after the balancer noticed")
    finally:
        calls = load.stop()

    executions = cluster.executions()
    assert_nothing_ran_twice(executions)
    assert_each_success_ran_once_where_it_answered(calls, executions)
    failed = [call for call in calls if not call.ok]
    after_notice = [call for call in calls if call.started > noticed]
    assert [call for call in after_notice if not call.ok] == []
    assert len(failed) <= CLIENT_THREADS, f"more failures than calls in flight: {failed}"
    victim_pid = victim.process.pid
    lost_in_flight = [call for call in failed if executions.get(call.call_id) == [victim_pid]]
    not_executed = [call for call in failed if call.call_id not in executions]
    assert len(lost_in_flight) + len(not_executed) == len(failed), (
        f"a failed call was executed by a live gateway: {failed}")
    assert all(call.status == 502 for call in failed), failed
    survivors = {call.pid for call in after_notice}
    assert survivors == cluster.pids - {victim_pid}
    report = (f"{cluster.balancer.kind}: {len(calls)} calls; kill noticed after "
              f"{noticed - killed:.2f} s; {len(failed)} failed ({len(lost_in_flight)} executed "
              f"by the killed gateway, answer lost; {len(not_executed)} not executed); "
              f"0 executed twice; {len(after_notice)} calls after the notice, all succeeded")
    record_property("kill_report", report)
    print("\n" + report)
