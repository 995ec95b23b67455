"""Per-upstream protection: bounded calls in flight, and a circuit breaker.

A dead or hung upstream must not take the gateway's worker threads with it:
at most ``max_in_flight`` calls wait on it at once, and after ``failures``
failed calls in a row the circuit opens, so callers get an immediate -32000
instead of a timeout each. After ``reset`` seconds one trial call goes
through ("half open"); its success closes the circuit, its failure re-opens it.
Only failures of the upstream count (unreachable, timeouts, unusable answers),
never a fault it sends: a fault is a healthy upstream saying no.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from gateway.upstream.errors import BadAnswer, UpstreamTimeout, UpstreamUnavailable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
FAILURES = (UpstreamUnavailable, UpstreamTimeout, BadAnswer)


class Guard:
    """Admits, counts and times the calls to one upstream."""

    def __init__(self, name: str, max_in_flight: int, wait: float, failures: int,
                 reset: float) -> None:
        self.name = name
        self.wait = wait
        self.threshold = failures
        self.reset = reset
        self.state = CLOSED
        self.failed_in_row = 0
        self.opened_at = 0.0
        self.last_error = ""
        self.calls = self.errors = self.in_flight = 0
        self.refused = 0  # calls never sent: circuit open, or every slot taken too long
        self.seconds = 0.0
        self._max = max_in_flight
        self._lock = threading.Lock()
        self._slot_freed = threading.Condition(self._lock)  # waited on only when all are taken
        self._trial = False

    def run(self, call: Callable[[], Any]) -> Any:
        """Run ``call`` if the circuit and the in-flight bound allow it."""
        trial = self._admit()
        self._take_slot(trial)
        start = time.perf_counter()
        try:
            result = call()
        except FAILURES as error:
            self._record(start, error, trial)
            raise
        except Exception:
            self._record(start, None, trial)
            raise
        self._record(start, None, trial)
        return result

    def _take_slot(self, trial: bool) -> None:
        with self._lock:
            if self.in_flight >= self._max and not self._slot_freed.wait_for(
                    lambda: self.in_flight < self._max, self.wait):
                self._trial = self._trial and not trial
                self.refused += 1
                raise UpstreamUnavailable(self.name, f"{self._max} calls already in flight")
            self.in_flight += 1

    def _admit(self) -> bool:
        """True when this call is the half-open trial; raises while the circuit is open."""
        with self._lock:
            if self.state == CLOSED:
                return False
            if self.state == OPEN and time.monotonic() - self.opened_at >= self.reset:
                self.state = HALF_OPEN
            if self.state == HALF_OPEN and not self._trial:
                self._trial = True
                return True
            self.refused += 1
        raise UpstreamUnavailable(self.name, f"circuit open after {self.failed_in_row} failed "
                                             f"calls (last: {self.last_error})")

    def _record(self, start: float, error: Exception | None, trial: bool) -> None:
        with self._lock:
            self.in_flight -= 1
            self._slot_freed.notify()
            self.calls += 1
            self.seconds += time.perf_counter() - start
            if trial:
                self._trial = False
            if error is None:
                self.failed_in_row, self.state = 0, CLOSED
                return
            self.errors += 1
            self.failed_in_row += 1
            self.last_error = str(error)[:200]
            if trial or self.failed_in_row >= self.threshold:
                self.state, self.opened_at = OPEN, time.monotonic()

    def figures(self) -> tuple[int, int, int, float, int, bool]:
        """(calls, failures, refused, seconds, in flight, circuit open) for /metrics."""
        with self._lock:
            return (self.calls, self.errors, self.refused, self.seconds, self.in_flight,
                    self.state != CLOSED)

    def health(self) -> dict[str, Any]:
        with self._lock:
            return {"circuit": self.state, "in_flight": self.in_flight, "calls": self.calls,
                    "errors": self.errors, "refused": self.refused,
                    "failed_in_row": self.failed_in_row,
                    "last_error": self.last_error,
                    "mean_ms": round(1000 * self.seconds / self.calls, 2) if self.calls else 0}
