"""Helpers for the zerorpc tests: real clients in subprocesses, a raw DEALER in-process.

The zerorpc client runs on gevent; it is run as a separate Python process so that
no monkey patching or gevent hub ever touches the pytest process. The raw
helpers use plain pyzmq + msgpack, to send what no real client would.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from typing import Any

import msgpack
import zmq

from tests.support.processes import ROOT, Daemon


def endpoint_of(daemon: Daemon) -> str:
    """The bound zerorpc endpoint, from the daemon's READY status line."""
    ready = daemon.wait_for("READY=1")
    match = re.search(r"zerorpc on (\S+?)[;,]", ready)
    assert match, f"no zerorpc endpoint in {ready!r}"
    return match[1]


def run_client(code: str, *args: str, timeout: float = 90) -> str:
    """Run ``code`` in a fresh Python (argv[1:] = ``args``); return stdout, fail on error."""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, f"client failed ({done.returncode}):\n{done.stderr[-3000:]}"
    return done.stdout


def start_client(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


class RawPeer:
    """A DEALER speaking zerorpc by hand; ``close()`` always (tests use ``with``)."""

    def __init__(self, endpoint: str) -> None:
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(endpoint)

    def __enter__(self) -> "RawPeer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.socket.close(linger=0)
        self.context.term()

    def send_frames(self, *frames: bytes) -> None:
        self.socket.send_multipart(list(frames))

    def send_event(self, name: Any, args: Any, message_id: Any = None, **header: Any) -> bytes:
        message_id = message_id or uuid.uuid4().hex.encode()
        head = {"message_id": message_id, "v": 3, **header}
        self.send_frames(b"", msgpack.packb([head, name, args], use_bin_type=True))
        return message_id

    def receive(self, timeout: float = 5.0) -> tuple[dict, str, Any] | None:
        """The next event ([header, name, args]), or None after ``timeout`` seconds."""
        if not self.socket.poll(timeout * 1000):
            return None
        frames = self.socket.recv_multipart()
        assert frames[0] == b"", f"no delimiter frame: {frames!r}"
        header, name, args = msgpack.unpackb(frames[-1], raw=False)
        return header, name, args

    def reply_to(self, message_id: Any, timeout: float = 5.0,
                 skip: tuple[str, ...] = ("_zpc_hb",)) -> tuple[dict, str, Any] | None:
        """The next event answering ``message_id`` (heartbeats skipped)."""
        while True:
            event = self.receive(timeout)
            if event is None or (event[0].get("response_to") == message_id
                                 and event[1] not in skip):
                return event

    def call(self, name: str, args: list, timeout: float = 5.0) -> tuple[str, Any]:
        message_id = self.send_event(name, args)
        event = self.reply_to(message_id, timeout)
        assert event is not None, f"no reply to {name}"
        return event[1], event[2]
