"""Start the real ``rpc-gateway`` as a process, with readiness read from sd_notify."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

import pytest

ROOT = Path(__file__).resolve().parents[2]


class Daemon:
    """A running ``python -m gateway`` with a test-owned NOTIFY_SOCKET.

    ``url`` is known once READY=1 arrives; ``messages`` keeps every datagram.
    ``stop()`` sends SIGTERM and returns the exit status; always called by fixtures.
    """

    def __init__(self, tmp: Path, args: list[str], env: dict[str, str] | None = None,
                 ready_timeout: float = 20.0, preexec_fn: Callable[[], None] | None = None,
                 ) -> None:
        self.notify_path = str(tmp / f"notify-{os.getpid()}-{id(self)}")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.notify.settimeout(ready_timeout)
        self.messages: list[str] = []
        self.stderr_path = tmp / f"stderr-{id(self)}.log"
        self._stderr = open(self.stderr_path, "w")
        full_env = {**os.environ, "NOTIFY_SOCKET": self.notify_path, "PYTHONUNBUFFERED": "1",
                    "PYTHONPATH": str(ROOT), **(env or {})}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway", *args], cwd=ROOT, env=full_env,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr,
            preexec_fn=preexec_fn)
        try:
            ready = self.wait_for("READY=1")
        except AssertionError:  # no fixture holds it yet: it must not outlive the test
            self.process.kill()
            self.process.wait(5)
            self.notify.close()
            self._stderr.close()
            raise
        status = [line for line in ready.splitlines() if line.startswith("STATUS=")][0]
        first = status.split("listening on ", 1)[1].split(";")[0].split(", ")[0]
        self.address = first
        self.url = f"http://{first}"

    def wait_for(self, needle: str) -> str:
        """Return the first notify datagram containing ``needle`` (raises on timeout)."""
        for message in self.messages:
            if needle in message:
                return message
        if self.notify.fileno() < 0:
            raise AssertionError(f"the daemon never sent {needle!r}: {self.messages}")
        deadline = time.monotonic() + self.notify.gettimeout()
        while True:
            if not select.select([self.notify], [], [], 0.1)[0]:
                if self.process.poll() is not None:
                    raise AssertionError(f"the daemon exited ({self.process.returncode}) before "
                                         f"{needle!r}; stderr:\n{self.stderr()}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"no {needle!r} from the daemon; stderr:\n{self.stderr()}")
                continue
            message = self.notify.recv(65536).decode()
            self.messages.append(message)
            if needle in message:
                return message

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text()

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 30.0) -> int:
        if self.notify.fileno() < 0:  # already stopped
            return self.process.returncode
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            raise AssertionError(f"the daemon (pid {self.process.pid}) did not stop within "
                                 f"{timeout} s of SIGTERM; killed")
        finally:
            self._drain_notifications()
            self.notify.close()
            self._stderr.close()

    def _drain_notifications(self) -> None:
        """Keep what the daemon sent before it exited, for wait_for after stop()."""
        self.notify.setblocking(False)
        try:
            while True:
                self.messages.append(self.notify.recv(65536).decode())
        except (BlockingIOError, OSError):
            pass


def stop_all(stops: Iterable[Callable[[], object]]) -> None:
    """Fixture teardown: run every stop, then fail the test if any process would not stop.

    A stop that times out has killed its process and raised AssertionError; the rest
    are still stopped first, so nothing is left running, and the test fails with why.
    """
    stuck = []
    for stop in stops:
        try:
            stop()
        except AssertionError as error:
            stuck.append(str(error))
    if stuck:
        pytest.fail("processes that did not stop: " + "; ".join(stuck))
