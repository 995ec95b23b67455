"""The loop's thread runs lone calls itself; a standby takes the loop over from slow ones.

Real gateways in this process, real clients on real sockets. Each test can
fail: without the standby's take-over, every quick call below would wait for
the slow one (seconds); without the inline path, a lone call would answer
from a pool thread.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
import xmlrpc.client

import jsonrpclib

SERVICES = ["handlers.calculator:Calculator", "slow=tests.support.services:Slow",
            "threads=tests.support.services:Threads", "exiting=tests.support.services:Exiting"]


def _xml(url: str) -> xmlrpc.client.ServerProxy:
    return xmlrpc.client.ServerProxy(url + "/RPC2")


def _serving(make_gateway):
    server = make_gateway(service__services=SERVICES)
    return server, "http://%s:%d" % server.server_address[:2]


def _slow_call(url: str, seconds: int) -> concurrent.futures.Future:
    """``slow.sleep(seconds)`` from another thread, given 0.2 s to be running."""
    slow = _in_background(_xml(url).slow.sleep, seconds)
    time.sleep(0.2)
    return slow


def _in_background(call, *args) -> concurrent.futures.Future:
    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(call, *args)
    pool.shutdown(wait=False)
    return future


def test_a_lone_call_runs_on_the_loop_thread_and_calls_beside_a_slow_one_on_a_pool(make_gateway):
    server, url = _serving(make_gateway)
    alone = {_xml(url).threads.name() for _ in range(20)}
    assert alone <= {"gateway-loop", "gateway-loop-standby"}, alone
    slow = _in_background(_xml(url).slow.sleep, 2)
    time.sleep(0.3)  # the slow call is running, inline, and the standby has taken over
    beside = {_xml(url).threads.name() for _ in range(5)}
    assert slow.result(timeout=10) == 2
    assert beside and not beside & {"gateway-loop", "gateway-loop-standby"}, beside


def test_quick_calls_beside_a_slow_call_are_not_held_up(make_gateway):
    server, url = _serving(make_gateway)
    slow = _slow_call(url, 3)
    started = time.monotonic()
    xml, json = _xml(url), jsonrpclib.ServerProxy(url + "/jsonrpc")
    sums = [xml.add(i, 1) for i in range(20)] + [json.add(i, 2) for i in range(20)]
    elapsed = time.monotonic() - started
    assert sums == [i + 1 for i in range(20)] + [i + 2 for i in range(20)]
    assert not slow.done(), "the slow call ended early: the test proves nothing"
    assert elapsed < 1.5, f"40 quick calls took {elapsed:.2f} s beside a 3 s call"
    assert slow.result(timeout=10) == 3


def test_a_call_that_holds_the_gil_delays_others_by_milliseconds_not_its_length(make_gateway):
    server, url = _serving(make_gateway)
    spin = _in_background(_xml(url).threads.spin, 2)
    time.sleep(0.2)
    xml = _xml(url)
    started = time.monotonic()
    assert [xml.add(1, i) for i in range(10)] == [1 + i for i in range(10)]
    elapsed = time.monotonic() - started
    assert not spin.done(), "the spinning call ended early: the test proves nothing"
    assert elapsed < 1.5, f"10 quick calls took {elapsed:.2f} s beside a 2 s computation"
    assert spin.result(timeout=10) > 0


def test_many_slow_calls_at_once_are_all_answered_and_quick_ones_still_pass(make_gateway):
    server, url = _serving(make_gateway)
    slow = [_in_background(_xml(url).slow.sleep, 1) for _ in range(12)]
    time.sleep(0.2)
    started = time.monotonic()
    assert [_xml(url).add(2, 3) for _ in range(5)] == [5] * 5
    assert time.monotonic() - started < 0.9
    assert [future.result(timeout=10) for future in slow] == [1] * 12


def test_a_service_calling_sys_exit_gets_an_error_and_the_loop_lives_on(make_gateway):
    server, url = _serving(make_gateway)
    _exit_is_answered_and_survived(server, url)  # run on the loop's thread
    slow = _slow_call(url, 1)
    _exit_is_answered_and_survived(server, url)  # beside a slow call: on a pool thread
    assert slow.result(timeout=10) == 1


def _exit_is_answered_and_survived(server, url: str) -> None:
    try:
        _xml(url).exiting.leave()
    except xmlrpc.client.Fault as fault:
        assert "sys.exit" not in fault.faultString  # described by reference, like any bug
    else:
        raise AssertionError("sys.exit() in a service answered no fault")
    response = jsonrpclib.ServerProxy(url + "/jsonrpc")._run_request(
        '{"jsonrpc": "2.0", "method": "exiting.leave", "id": 1}')
    assert response["error"]["code"] == -32603, response
    assert _xml(url).add(2, 3) == 5
    assert server.loop.wait(0) is False, "the connection loop ended"


def test_a_graceful_stop_answers_the_slow_call_the_loop_thread_was_running(make_gateway):
    server, url = _serving(make_gateway)
    slow = _slow_call(url, 1)
    finished = {}
    stopper = threading.Thread(target=lambda: finished.update(ok=server.shutdown(5)))
    stopper.start()
    assert slow.result(timeout=10) == 1
    stopper.join(10)
    assert finished == {"ok": True}
    assert server.loop.wait(0)


def test_the_loop_stops_at_the_drain_deadline_while_its_thread_is_stuck(make_gateway):
    server, url = _serving(make_gateway)
    slow = _slow_call(url, 4)
    started = time.monotonic()
    server.shutdown(drain_timeout=0.5)
    assert time.monotonic() - started < 3, "the stop waited for the stuck call"
    assert server.loop.wait(0)
    try:
        slow.result(timeout=10)
    except (OSError, xmlrpc.client.ProtocolError, ConnectionError):
        pass  # closed at the deadline, as a pool thread's call would be
