"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe).

Enough of CDP for the browser tests: open a tab, navigate, and evaluate a script that
may return a promise. Messages are JSON objects separated by NUL bytes on fds 3 (to the
browser) and 4 (from it). Every wait is bounded; ``close()`` always ends the process.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from typing import Any

# The Debian launcher script is skipped: it does not pass fds 3 and 4 through.
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium",) if os.access(p, os.X_OK)),
                shutil.which("chromium") or "chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--remote-debugging-pipe"]


class CDPError(AssertionError):
    pass


class Chromium:
    def __init__(self, timeout: float = 60.0, flags: tuple[str, ...] = ()) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="gateway-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Above 4, so that putting them on 3 and 4 cannot close one of them first.
        to_browser_r, from_browser_w = (_above_four(fd) for fd in (to_browser_r, from_browser_w))
        # bash (dash takes fds up to 9 only) puts the pipe ends on fds 3 and 4, then execs.
        script = f'exec "$@" 3<&{to_browser_r} 4>&{from_browser_w} {to_browser_r}<&- ' \
                 f'{from_browser_w}>&-'
        self.process = subprocess.Popen(
            ["/bin/bash", "-c", script, "bash", CHROMIUM, *FLAGS,
             *flags, f"--user-data-dir={self.profile}", "about:blank"],
            pass_fds=(to_browser_r, from_browser_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._session: str | None = None

    def open(self, url: str) -> None:
        """A fresh tab at ``url``, waiting for its load event."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.call("Target.attachToTarget",
                                  {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable", session=self._session)
        self.call("Page.navigate", {"url": url}, session=self._session)
        self._wait_event("Page.loadEventFired", self._session)

    def evaluate(self, expression: str) -> Any:
        """The value of ``expression`` in the tab (a promise is awaited)."""
        reply = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                               "returnByValue": True}, session=self._session)
        if "exceptionDetails" in reply:
            raise CDPError(f"script failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method,
                                   "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        reply = self._wait(lambda m: m.get("id") == self._next_id, method)
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def _wait_event(self, name: str, session: str | None) -> dict:
        return self._wait(lambda m: m.get("method") == name and m.get("sessionId") == session,
                          name)

    def _wait(self, wanted, what: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if wanted(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise CDPError(f"no answer from Chromium for {what} in {self.timeout} s")
            data = os.read(self._from_browser, 1 << 20)
            if not data:
                raise CDPError(f"Chromium exited while waiting for {what}")
            self._buffer += data

    def close(self) -> None:
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.profile, ignore_errors=True)


def _above_four(fd: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high
