"""Logging to stderr, one line per event, in the form journald understands.

Under journald (``JOURNAL_STREAM`` names our stderr) each line starts with a
``<N>`` syslog priority and carries no timestamp, since journald adds one;
elsewhere lines carry a timestamp and the level name.
"""

from __future__ import annotations

import logging
import os
import sys

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
             logging.CRITICAL: 2}


class JournalFormatter(logging.Formatter):
    """``<3>message``: journald turns the prefix into PRIORITY=3."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        priority = _PRIORITY.get(record.levelno, 6)
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines())


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
    handler = logging.StreamHandler(sys.stderr)
    if stderr_is_journal():
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
    logging.getLogger("gateway.access").disabled = not access_log
