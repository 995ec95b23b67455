"""Waiting for events: a short spin before sleeping, when the last wait was short.

A thread that sleeps in ``epoll_wait`` and is woken by the next request pays
the kernel's (and the hypervisor's) wake-up: measured here, that costs more
than the whole gap between two calls of a client on one kept-alive connection,
and it is paid on every call. So when the previous wait ended within ``SPIN``
seconds, the loop first polls without sleeping for up to ``SPIN``: the next
event usually comes as soon. A client slower than that (or none) makes the
waits long, and the loop sleeps at once again: it never spins for nothing twice
in a row, and an idle gateway sleeps.
"""

from __future__ import annotations

import select
import time

SPIN = 50e-6  # seconds polled without sleeping before a sleep, after a short wait


class SpinningPoll:
    def __init__(self, epoll: select.epoll) -> None:
        self._epoll = epoll
        self._short = False  # the last wait for events ended within SPIN

    def poll(self, timeout: float) -> list[tuple[int, int]]:
        poll, clock = self._epoll.poll, time.perf_counter
        events = poll(0)
        if events or timeout <= 0:
            return events
        start = clock()
        if self._short:
            until = start + SPIN
            while clock() < until:
                events = poll(0)
                if events:
                    return events
        slept = clock()
        events = poll(timeout)
        self._short = clock() - slept < SPIN
        return events
