"""The two systemd protocols a daemon needs, in stdlib code: sd_notify and socket activation.

Both do nothing when systemd did not ask for them (no ``NOTIFY_SOCKET``, no
``LISTEN_PID`` equal to our pid), so the same binary runs anywhere.
"""

from __future__ import annotations

import os
import signal
import socket

SD_LISTEN_FDS_START = 3
# What a service manager (or a terminal) sends a daemon: stop (TERM, INT), reload (HUP).
CONTROL_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})


def notify(state: str, environ: dict[str, str] | None = None) -> bool:
    """Send ``state`` (e.g. "READY=1\\nSTATUS=...") to the service manager, if any."""
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET")
    if not address:
        return False
    if address[0] == "@":  # abstract namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            # A manager that stops reading must not stall the main thread (and with it
            # SIGTERM): a STATUS= line is dropped at once when the queue is full, a state
            # change (READY, STOPPING, RELOADING, WATCHDOG) waits at most 2 s.
            sock.settimeout(0.0 if state.startswith("STATUS=") else 2.0)
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
        return True
    except OSError:  # also socket.timeout and BlockingIOError
        return False


def listen_fds(unset_environment: bool = True) -> list[socket.socket]:
    """Sockets passed by systemd (``LISTEN_FDS``), in order; [] when none are for us."""
    try:
        if int(os.environ.get("LISTEN_PID", "0")) != os.getpid():
            return []
        count = int(os.environ.get("LISTEN_FDS", "0"))
    except ValueError:
        return []
    if unset_environment:  # children must not think the sockets are theirs
        for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            os.environ.pop(name, None)
    sockets = []
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count):
        os.set_inheritable(fd, False)
        sockets.append(socket.socket(fileno=fd))
    return sockets


def watchdog_interval() -> float | None:
    """Half of ``WATCHDOG_USEC`` in seconds, when the watchdog is for this process."""
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", "0"))
        pid = int(os.environ.get("WATCHDOG_PID", str(os.getpid())))
    except ValueError:
        return None
    if usec <= 0 or pid != os.getpid():
        return None
    return usec / 2_000_000
