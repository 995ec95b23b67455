"""Giving memory back after a burst of large requests (glibc malloc).

First, nothing may keep a request alive after its answer: a pool thread waiting
for its next job still holds its last one (jsonrpclib's pool and ours both keep
it in a local variable), so each idle thread pinned a whole request body; 29 of
them held 116 MiB after a burst. Jobs are therefore handed to pools wrapped in
``Once``, which lets go of the job as it runs.

Then the C heap: a 4 MiB body is copied a few times on its way (read buffer,
body, decoded values, the answer), on whichever thread handles it. glibc keeps
what those threads free in per-thread arenas and raises its mmap threshold after
the first large free, so after 50 such bodies the process kept ~300 MiB it no
longer used, for good. Two measures, both in-process:

- at start-up, ``mallopt`` fixes the mmap and trim thresholds (a fixed value also
  turns glibc's dynamic raising off) and caps the arena count. glibc reads these
  parameters at each allocation, and arenas made later obey the cap, so calling
  it before any server thread starts is as good as the ``MALLOC_*`` variables,
  without asking every unit file and test to set them;
- a trimmer thread calls ``malloc_trim(0)``, which hands the free pages of every
  arena back to the kernel, once the resident size has grown by ``GROWTH`` since
  the last trim and stopped growing (the burst is over). It wakes once a second
  and reads /proc, so an idle gateway pays nothing measurable.

Both do nothing where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
from typing import Any, Callable

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
MMAP_THRESHOLD = 1 << 20  # larger blocks are mapped, and unmapped when freed; the
# 256 KiB read buffer stays below it, so small requests never pay an mmap per read
TRIM_THRESHOLD = 1 << 20  # free memory above this at the heap's top is returned at once
ARENA_MAX = 4
GROWTH = 32 << 20  # bytes of resident growth that make a trim worth it
INTERVAL = 1.0  # seconds between looks at the resident size


class Once:
    """A job that drops its reference to the callable (and all it holds) when run."""

    __slots__ = ("_job",)

    def __init__(self, job: Callable[[], Any]) -> None:
        self._job: Callable[[], Any] | None = job

    def __call__(self) -> Any:
        job, self._job = self._job, None
        return job() if job is not None else None


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.malloc_trim, libc.mallopt  # glibc only
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def tune_malloc() -> bool:
    """Fix glibc's thresholds and arena cap; call before starting server threads."""
    if _LIBC is None:
        return False
    return all(_LIBC.mallopt(param, value) == 1 for param, value in (
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
        (M_ARENA_MAX, ARENA_MAX)))


def resident_bytes() -> int:
    """This process's resident set size (0 if /proc cannot say)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class Trimmer(threading.Thread):
    """Calls ``malloc_trim(0)`` once the resident size has grown and then settled."""

    def __init__(self, growth: int = GROWTH, interval: float = INTERVAL) -> None:
        super().__init__(name="gateway-memory", daemon=True)
        self.growth = growth
        self.interval = interval
        self.trims = 0
        self._stop = threading.Event()

    def run(self) -> None:
        baseline = previous = resident_bytes()
        while not self._stop.wait(self.interval):
            now = resident_bytes()
            if now - baseline > self.growth and now <= previous:
                _LIBC.malloc_trim(0)
                self.trims += 1
                baseline = now = resident_bytes()
                log.debug("returned free memory to the kernel: resident %d MiB", now >> 20)
            baseline = min(baseline, now)
            previous = now

    def stop(self) -> None:
        self._stop.set()


def start_trimmer() -> Trimmer | None:
    """The trimmer thread, started; None where malloc_trim does not exist."""
    if _LIBC is None:
        return None
    trimmer = Trimmer()
    trimmer.start()
    return trimmer
