"""The loop's poll: it spins only briefly after short waits, and an idle gateway sleeps.

Real epoll, a real socket pair; CPU time is the thread's own (time.thread_time).
"""

from __future__ import annotations

import select
import socket
import threading
import time

from gateway.polling import SPIN, SpinningPoll


def _pair_and_poll():
    left, right = socket.socketpair()
    epoll = select.epoll()
    epoll.register(right.fileno(), select.EPOLLIN)
    return left, right, epoll, SpinningPoll(epoll)


def test_an_idle_wait_sleeps_even_after_a_streak_of_short_waits():
    left, right, epoll, poller = _pair_and_poll()
    try:
        for _ in range(200):  # short waits: the next wait starts with a spin
            left.send(b"x")
            assert poller.poll(1.0) == [(right.fileno(), select.EPOLLIN)]
            right.recv(1)
        cpu, wall = time.thread_time(), time.monotonic()
        assert poller.poll(0.3) == []
        assert time.monotonic() - wall >= 0.25, "the wait did not wait"
        assert time.thread_time() - cpu < 0.05, "the wait spun instead of sleeping"
    finally:
        epoll.close()
        left.close()
        right.close()


def test_an_event_during_the_spin_or_the_sleep_is_returned():
    left, right, epoll, poller = _pair_and_poll()
    try:
        for delay in (0.0, SPIN / 4, 0.01, 0.05):
            timer = threading.Timer(delay, left.send, (b"x",))
            timer.start()
            started = time.monotonic()
            assert poller.poll(2.0) == [(right.fileno(), select.EPOLLIN)], delay
            assert time.monotonic() - started < 1.0, delay
            timer.join()
            right.recv(1)
        assert poller.poll(0) == []
    finally:
        epoll.close()
        left.close()
        right.close()
