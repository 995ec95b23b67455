"""Logging to stderr, one line per event, in the form journald understands.

Under journald (``JOURNAL_STREAM`` names our stderr) each line starts with a
``<N>`` syslog priority and carries no timestamp, since journald adds one;
elsewhere lines carry a timestamp and the level name. Access lines take
their own, cheaper path (gateway.accesslog) to the same stderr; this module's
handler drains them before each line it writes, so the stream stays in order.
"""

from __future__ import annotations

import logging
import os
import sys

from gateway import accesslog

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
             logging.CRITICAL: 2}


class JournalFormatter(logging.Formatter):
    """``<3>message``: journald turns the prefix into PRIORITY=3."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        priority = _PRIORITY.get(record.levelno, 6)
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines())


class OrderedStderrHandler(logging.StreamHandler):
    """A stderr handler that first writes the access lines still pending, so that a
    line logged after a call (such as "stopped after N calls") comes after its line."""

    def emit(self, record: logging.LogRecord) -> None:
        with accesslog.ACCESS_LOG.lock:  # no access batch is written in the middle of it
            accesslog.flush()
            super().emit(record)


def stderr_is_journal(environ: dict[str, str] | None = None) -> bool:
    stream = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    try:
        device, inode = (int(part) for part in stream.split(":"))
        info = os.fstat(sys.stderr.fileno())
    except (ValueError, OSError):
        return False
    return (info.st_dev, info.st_ino) == (device, inode)


def configure(level: str, access_log: bool) -> None:
    """Install the one stderr handler; only ``__main__`` calls this."""
    handler = OrderedStderrHandler(sys.stderr)
    journal = stderr_is_journal()
    accesslog.ACCESS_LOG.configure(sys.stderr.fileno(), journal)
    if journal:
        handler.setFormatter(JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    apply_levels(level, access_log)


def apply_levels(level: str, access_log: bool) -> None:
    logging.getLogger().setLevel(level.upper())
    access = logging.getLogger("gateway.access")
    access.disabled = not access_log
    accesslog.ACCESS_LOG.enabled = access.isEnabledFor(logging.INFO)
