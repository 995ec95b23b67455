"""Leader and standby: the thread that reads a call runs it, unless the call is slow.

A call handed to a pool costs two thread wake-ups and the GIL passed across
cores before any work is done: more than the work of a small call. So the
loop's thread (the *leader*) runs the calls it has read itself, at the end of
each loop iteration, writing each answer as it goes. One *standby* thread
makes that safe: while inline calls run it looks every ``WATCH_INTERVAL``,
and when it finds the same call still running it takes the loop over, so a
slow call delays the others by a few milliseconds, never by its own length.
The old leader finishes its call and becomes the standby. Calls go to the
pools as before whenever no standby is free (it is the one stuck in a slow
call) or the gateway is stopping: the pools still bound what runs at once.

Only the leader touches the loop's state; leadership changes hands under
``_lock``, and only between two inline calls or inside one, when the leader
is not touching that state.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

WATCH_INTERVAL = 0.002  # seconds between the standby's looks while inline calls run
QUIET = 1.0  # seconds without an inline call before the standby stops looking

Job = Callable[[], None]


class Leadership:
    """Who leads the loop, the calls it will run inline, and the standby's watch."""

    def __init__(self, on_lead: Callable[[int], None]) -> None:
        self.leader = threading.get_ident()  # the thread that calls ``serve``
        self.ended = False
        self._on_lead = on_lead  # told the new leader's ident (the hand-off's owner)
        self._ready: collections.deque[tuple[Job, Callable[[Job], None]]] = collections.deque()
        self._lock = threading.Lock()
        self._standby_free = False
        self._running = 0  # the inline call running now (a sequence number), 0: none
        self._sequence = 0
        self._last_inline = 0.0
        self._watching = False
        self._armed = threading.Event()  # wakes the standby when inline calls start

    def serve(self, iterate: Callable[[int], bool], end: Callable[[], None]) -> None:
        """Lead from this thread, a standby thread beside it, until ``iterate`` says the
        loop has ended (True); ``end`` then closes what the loop owns."""
        self._on_lead(self.leader)
        threading.Thread(target=self._take_part, args=(iterate, end), daemon=True,
                         name="gateway-loop-standby").start()
        self._take_part(iterate, end)

    def _take_part(self, iterate: Callable[[int], bool], end: Callable[[], None]) -> None:
        me = threading.get_ident()
        while not self.ended:
            if self.leader != me:
                self.stand_by(me)
            elif iterate(me):  # False: the standby took over, this thread stands by
                end()
                self.end()

    # -- the leader ------------------------------------------------------------------

    def offer(self, job: Job, submit: Callable[[Job], None]) -> None:
        """Run ``job`` inline at the end of this iteration if a standby is free, else submit."""
        if self._standby_free:
            self._ready.append((job, submit))
        else:
            submit(job)

    @property
    def has_ready(self) -> bool:
        return bool(self._ready)

    def run_ready(self, me: int) -> bool:
        """Run the offered calls; False once the standby has taken the loop over."""
        ready = self._ready
        while ready:
            with self._lock:
                if self.leader != me:
                    return False
                job, submit = ready.popleft()
                if not self._standby_free:
                    submit(job)
                    continue
                self._sequence += 1
                self._running = self._sequence
                self._last_inline = time.monotonic()
                if not self._watching:
                    self._watching = True
                    self._armed.set()
            try:
                job()
            except Exception:  # a job answers its own errors; this is a last resort
                log.exception("inline call failed")
            self._running = 0
        return self.leader == me

    def submit_all(self) -> None:
        """Stopping: what was offered goes to the pools."""
        while self._ready:
            job, submit = self._ready.popleft()
            submit(job)

    # -- the standby -----------------------------------------------------------------

    def stand_by(self, me: int) -> None:
        """Watch inline calls until this thread leads (a call ran too long) or the loop ends."""
        with self._lock:
            self._standby_free = True
        while not self.ended:
            self._armed.wait()
            if self._watch(me):
                return

    def _watch(self, me: int) -> bool:
        seen = 0
        while not self.ended:
            time.sleep(WATCH_INTERVAL)
            with self._lock:
                running = self._running
                if running and running == seen:  # the same call, a whole interval later
                    self.leader, self._standby_free = me, False
                    self._on_lead(me)
                    return True
                seen = running
                if not running and time.monotonic() - self._last_inline > QUIET:
                    self._watching = False
                    self._armed.clear()
                    return False
        return False

    def end(self) -> None:
        """The loop has ended: the standby returns."""
        self.ended = True
        self._armed.set()
