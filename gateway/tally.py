"""The hot path of the metrics: plain Python numbers under one lock, published later.

A prometheus_client value takes a lock per value, and with ``workers = N`` it
is also a write into a memory-mapped file: a call's observation (a bucket and
the sum) cost 2.3 µs there, enough to lose ~10 % of calls/s at 16 connections.
Here a call is one dict look-up, a bisect and two additions under one lock;
``changes`` hands what moved since the last publish to ``gateway.metrics``,
which copies it into prometheus_client's metric objects (and so into the
shared files) about once a second and before every scrape.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from typing import Hashable


class Tally:
    """Histogram rows and counts since this process started; never reset."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.lock = threading.Lock()
        # (protocol, label) -> calls per bucket (the last one +Inf), then their seconds.
        self.rows: dict[tuple[str, str], list] = {}
        self.counts: dict[Hashable, int] = {}  # any key -> how many times it was counted
        self._published_rows: dict[tuple[str, str], list] = {}
        self._published_counts: dict[Hashable, int] = {}

    def observe(self, key: tuple[str, str], seconds: float) -> None:
        """One call of ``key`` that took ``seconds``: the only work a successful call does."""
        with self.lock:
            row = self.rows.get(key)
            if row is None:
                row = self.rows[key] = self.empty_row()
            row[bisect_left(self.bounds, seconds)] += 1  # the first bound >= seconds, as `le`
            row[-1] += seconds

    def count(self, key: Hashable) -> None:
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1

    def empty_row(self) -> list:
        return [0] * (len(self.bounds) + 1) + [0.0]

    def changes(self) -> tuple[dict[tuple[str, str], list], dict[Hashable, int]]:
        """(rows, counts) that differ from the previous call's, whole.

        The caller must not run two of these at once (and must write the results
        in the order it got them), or an older figure could overwrite a newer one.
        """
        with self.lock:  # copies only: the hot path waits microseconds, not a file write
            rows = {key: row.copy() for key, row in self.rows.items()}
            counts = self.counts.copy()
        changed_rows = {key: row for key, row in rows.items()
                        if self._published_rows.get(key) != row}
        changed_counts = {key: n for key, n in counts.items()
                          if self._published_counts.get(key) != n}
        self._published_rows.update(changed_rows)
        self._published_counts.update(changed_counts)
        return changed_rows, changed_counts
