"""The access log: one escaped line per call, written in batches off the request path.

Why not ``logging``: a ``StreamHandler`` formats a LogRecord, takes its lock,
writes and flushes for every line, on the thread that answers the call; that
was 70-150 µs of a ~100 µs call. Here the calling thread only formats one
string and appends it to a deque; a writer thread wakes when the first line of
a batch arrives, waits ``INTERVAL`` for more, and writes the batch to stderr
in one ``write``; or, in a worker of ``workers = N`` (processes sharing one
pipe), in as few as fit in ``PIPE_BUF``, so their lines never mix. The line is
formatted on the caller's thread on purpose: formatting a batch on the writer
thread holds the GIL for milliseconds at a time, and the connection loop
waits for it (measured: 8-16 % fewer calls/s than formatting on the caller).

Rules this module keeps:
1. One call = one line: every client-controlled field (path, RPC method name,
   User-Agent, ...) is escaped; control and other non-printable characters
   appear as ``\\xNN`` (``\\uNNNN`` above 0xff), ``"`` and ``\\`` as ``\\"`` and
   ``\\\\``, so no client can split a line, forge a journal entry or send
   terminal escapes.
2. Nothing is lost on a graceful stop: ``flush`` writes what is pending; the
   stderr handler of gateway.logs calls it before each of its own lines (the
   "stopped after N calls" line ends every run), and atexit calls it too.
3. Memory is bounded: past ``MAX_PENDING`` lines (stderr not being read) the
   calling thread writes the batch itself, which blocks as a plain write would.
4. Until ``configure`` is called (the gateway embedded in another program,
   or in-process tests), lines go to the ``gateway.access`` logger instead.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import select
import threading
import time

INTERVAL = 0.05  # seconds a batch collects lines before it is written
MAX_PENDING = 8192  # lines; past it the caller writes (back-pressure, bounded memory)
CHUNK = 4096  # PIPE_BUF: a write this size to a pipe is never interleaved with another's
_LOGGER = logging.getLogger("gateway.access")
_clock = time.time
_SPECIAL = {'"': '\\"', "\\": "\\\\"}


def escape(text: str) -> str:
    """``text`` with nothing that can end a line or drive a terminal (rule 1)."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return text  # the common case: one C-speed scan or three
    out = []
    for char in text:
        if char in _SPECIAL:
            out.append(_SPECIAL[char])
        elif char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


class AccessLog:
    """The process's access log; ``write`` is called on worker and loop threads."""

    def __init__(self) -> None:
        self.enabled = True
        self.fd: int | None = None  # None: not configured, lines go through logging
        self.journal = False
        self._second = self._millisecond = -1
        self._second_text = self._prefix = ""
        self._reset()
        os.register_at_fork(after_in_child=lambda: self._reset(shared=True))

    def _reset(self, shared: bool = False) -> None:
        """Fresh state; also in a forked child, where the parent's thread does not exist
        and stderr is shared with the parent's other children (``shared``)."""
        self._pending: collections.deque[str] = collections.deque()
        self._wake = threading.Event()
        self._signalled = False  # _wake is set, or about to be
        self.lock = threading.RLock()  # every write to stderr in this process, in order
        self._writer: threading.Thread | None = None
        self._chunk = CHUNK if shared else 1 << 62

    def configure(self, fd: int, journal: bool) -> None:
        self.fd, self.journal = fd, journal
        self._millisecond = -1  # the next line builds its prefix for this setting

    def write(self, request, status: int, size: int, protocol: str, method: str,
              outcome: str, seconds: float) -> None:
        if self.fd is None:  # not configured (in-process use): logging decides, as it does
            if _LOGGER.isEnabledFor(logging.INFO):
                _LOGGER.info("%s", line(request, status, size, protocol, method, outcome,
                                        seconds, prefix="")[:-1])
            return
        if not self.enabled:  # the configured fast path: apply_levels keeps this in step
            return
        millisecond = int(_clock() * 1000)
        if millisecond != self._millisecond:
            self._stamp(millisecond)
        pending = self._pending
        pending.append(line(request, status, size, protocol, method, outcome, seconds,
                            self._prefix))
        if len(pending) >= MAX_PENDING:
            self.flush()
        elif not self._signalled:  # a plain attribute: Event.is_set is a Python call
            self._signalled = True
            if self._writer is None:
                self._start_writer()
            self._wake.set()

    def _stamp(self, millisecond: int) -> None:
        """The prefix of this millisecond's lines: ``<6>`` for journald (it adds the
        time), else the time as logging wrote it; built once a millisecond, not a line."""
        self._millisecond = millisecond
        if self.journal:
            self._prefix = "<6>gateway.access: "
            return
        second = millisecond // 1000
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        self._prefix = f"{self._second_text},{millisecond % 1000:03d} INFO gateway.access: "

    def _start_writer(self) -> None:
        with self.lock:
            if self._writer is None:
                self._writer = threading.Thread(target=self._run_writer, daemon=True,
                                                name="access-log")
                self._writer.start()

    def _run_writer(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(INTERVAL)  # let the batch fill; a sleeping thread costs nothing
            # The event, then the flag: a line appended once the flag is down sets the
            # event again, so no line waits for a writer that is not coming.
            self._wake.clear()
            self._signalled = False
            self.flush()

    def flush(self) -> None:
        """Write every pending line now (rule 2); safe from any thread."""
        if self.fd is None:
            return
        with self.lock:
            pending = self._pending
            lines = [pending.popleft() for _ in range(len(pending))]
            if lines:
                self._write_lines(lines)

    def _write_lines(self, lines: list[str]) -> None:
        """One encode for the batch, then one write, or (shared stderr) writes of at most
        CHUNK bytes ending at a newline. Each write releases the GIL and waits to take
        it back from the loop: fewer writes, fewer waits."""
        data = "".join(lines).encode("utf-8", "backslashreplace")
        start, chunk = 0, self._chunk
        while len(data) - start > chunk:
            end = data.rfind(b"\n", start, start + chunk) + 1
            if end <= start:  # one line longer than CHUNK (cannot happen: fields are cut)
                end = start + chunk
            self._write_all(data[start:end])
            start = end
        self._write_all(data[start:])

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                try:
                    view = view[os.write(self.fd, view):]
                except BlockingIOError:  # an inherited non-blocking stderr that is full
                    select.select([], [self.fd], [], 1.0)
        except OSError:  # stderr closed or broken: nothing to tell it with
            pass


def line(request, status: int, size: int, protocol: str, method: str, outcome: str,
         seconds: float, prefix: str) -> str:
    """One call's line. A kept-alive client repeats its head and mostly its call too, so
    the text from the request line to the outcome is kept in the head's ``memo`` (shared
    by the reader's twins of one connection) and rebuilt when a field of it changes."""
    call = (status, size, protocol, method, outcome)
    parts = request.memo.get("access")
    if parts is None or parts[0] != call:
        parts = request.memo["access"] = _parts(request, call, parts)
    return f"{prefix}{request.client} {parts[1]}{seconds * 1000:.1f}ms{parts[2]}"


def _parts(request, call: tuple, old: tuple | None) -> tuple:
    """(call, the text from the request line to the outcome, the text after the duration,
    the request line's text): the head's parts are cut and escaped once (rule 1)."""
    if old is None:
        path, agent = request.path[:200], request.headers.get("user-agent", "-")[:100]
        start, end = f'"{request.method} {escape(path)} {request.version}" ', \
            f' "{escape(agent)}"\n'
    else:
        start, end = old[3], old[2]
    status, size, protocol, method, outcome = call
    return (call, f"{start}{status} {size} {protocol} {escape(method)} {escape(outcome)} ",
            end, start)


ACCESS_LOG = AccessLog()
write = ACCESS_LOG.write
flush = ACCESS_LOG.flush
atexit.register(flush)
