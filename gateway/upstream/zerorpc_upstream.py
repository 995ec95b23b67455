"""Calling a zerorpc upstream with plain pyzmq + msgpack (no gevent), threads welcome.

Each call takes a DEALER socket from a small pool for itself, so sockets are
never shared between threads. ``IMMEDIATE`` makes a send fail at once when no
connection to the upstream exists: the call did not leave, which is the one
case retried (zerorpc has no "connection refused"). Replies are matched by
``response_to`` (late heartbeats of an earlier call on a reused socket are
ignored). A streamed answer (``STREAM`` events) is collected into a list of at
most ``max_items``, with ``_zpc_more`` grants so the upstream keeps sending, and
heartbeats so it does not give the call up. An ``ERR`` keeps the upstream's
error name and message; its traceback is dropped (it holds the upstream's paths).
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import msgpack
import zmq

from gateway import faults
from gateway.upstream.errors import BadAnswer, NotSent, UpstreamFault, UpstreamTimeout
from gateway.upstream.urls import UpstreamURL
from gateway.upstream.values import Rules, check_params, check_result

GRANT = 100  # stream items the upstream may send ahead of us


class _Call:
    """One call's state on its socket: its id, its deadline, the stream so far."""

    def __init__(self, sock: zmq.Socket, timeout: float, heartbeat: float) -> None:
        self.sock = sock
        self.mid = uuid.uuid4().hex.encode()
        self.deadline = time.monotonic() + timeout
        self.heartbeat = heartbeat
        self.next_beat = time.monotonic() + heartbeat
        self.items: list[Any] = []
        self.slots = 1

    def send(self, name: str, args: Any, first: bool = False) -> None:
        header = {"message_id": self.mid if first else uuid.uuid4().hex.encode(), "v": 3}
        if not first:
            header["response_to"] = self.mid
        payload = msgpack.packb([header, name, args], use_bin_type=True)
        self.sock.send_multipart([b"", payload], zmq.NOBLOCK)


class ZerorpcUpstream:
    """One zerorpc upstream: ``call``, ``discover`` and ``close``."""

    protocol = "zerorpc"

    def __init__(self, url: UpstreamURL, authorization: str = "") -> None:
        self.name = url.display
        self.endpoint = (f"ipc://{url.socket_path}" if url.transport == "ipc" else
                         f"tcp://{'[' + url.host + ']' if ':' in url.host else url.host}"
                         f":{url.port}")
        self.timeout = url.option("timeout")
        self.connect_timeout = url.option("connect_timeout")
        self.max_bytes = url.option("max_bytes")
        self.max_items = url.option("max_items")
        self.heartbeat = url.option("heartbeat")
        self.pool_size = url.option("max_in_flight")
        self.rules = Rules("zerorpc", f"the zerorpc upstream {self.name}")
        self._context = zmq.Context.instance()
        self._idle: list[zmq.Socket] = []
        self._lock = threading.Lock()

    def call(self, method: str, params: list | tuple | dict) -> Any:
        if isinstance(params, dict):
            raise faults.InvalidParams(f"cannot send to the zerorpc upstream {self.name}: "
                                       "named parameters (zerorpc has only positional ones)")
        args = check_params(list(params), self.rules)
        sock = self._take()
        try:
            result = self._run(_Call(sock, self.timeout, self.heartbeat), method, args)
        except BaseException:
            sock.close(linger=0)  # its state is unknown: never reuse it
            raise
        self._give_back(sock)
        return check_result(result, self.name)

    def _run(self, call: _Call, method: str, args: list) -> Any:
        if not call.sock.poll(self.connect_timeout * 1000, zmq.POLLOUT):
            raise NotSent(self.name, f"no connection within {self.connect_timeout:g} s")
        try:
            call.send(method, args, first=True)
        except zmq.Again:
            raise NotSent(self.name, "no connection to send on") from None
        while True:
            event = self._receive(call)
            if event is None:
                continue
            done, value = self._handle(call, *event)
            if done:
                return value

    def _receive(self, call: _Call) -> tuple[str, Any] | None:
        """The next event of this call, None for another call's, or a timeout."""
        now = time.monotonic()
        if now >= call.deadline:
            raise UpstreamTimeout(self.name, self.timeout)
        if now >= call.next_beat:
            call.send("_zpc_hb", [0])
            call.next_beat = now + call.heartbeat
        wait = min(call.deadline, call.next_beat) - now
        if not call.sock.poll(max(wait, 0.001) * 1000, zmq.POLLIN):
            return None
        frames = call.sock.recv_multipart(zmq.NOBLOCK)
        try:
            # MAXMSGSIZE bounds the frame; unpackb bounds every length by the frame's.
            header, name, args = msgpack.unpackb(frames[-1], raw=False, strict_map_key=False)
        except (ValueError, TypeError, msgpack.UnpackException):
            raise BadAnswer(self.name, "not a zerorpc event (msgpack [header, name, args])") \
                from None
        if not isinstance(header, dict) or not isinstance(name, str):
            raise BadAnswer(self.name, "a zerorpc event without a header map or a name")
        return (name, args) if header.get("response_to") == call.mid else None

    def _handle(self, call: _Call, name: str, args: Any) -> tuple[bool, Any]:
        if name == "OK":
            if not isinstance(args, list) or not args:
                raise BadAnswer(self.name, "an OK event without its value")
            return True, args[0]
        if name == "ERR":
            raise _remote_error(args, self.name)
        if name == "STREAM":
            return False, self._stream_item(call, args)
        if name == "STREAM_DONE":
            return True, call.items
        if name in ("_zpc_hb", "_zpc_more"):
            return False, None
        raise BadAnswer(self.name, f"an unknown zerorpc event {name[:40]!r}")

    def _stream_item(self, call: _Call, item: Any) -> None:
        call.items.append(item)
        if len(call.items) > self.max_items:
            raise faults.InvalidParams(f"{self.name} streamed more than max_items "
                                       f"({self.max_items}) items; ask for fewer")
        call.slots -= 1
        if call.slots < GRANT // 2:
            call.send("_zpc_more", [GRANT])
            call.slots += GRANT

    def discover(self) -> dict[str, str]:
        """``_zerorpc_inspect`` (names and docs), else ``_zerorpc_list`` (it fails on 3.11)."""
        try:
            found = self.call("_zerorpc_inspect", [])
            methods = found.get("methods") if isinstance(found, dict) else None
            if isinstance(methods, dict):
                return {str(n): str((m or {}).get("doc") or "") for n, m in methods.items()}
        except UpstreamFault:
            pass
        names = self.call("_zerorpc_list", [])
        if not isinstance(names, list):
            raise BadAnswer(self.name, "_zerorpc_list did not answer a list")
        return {str(name): "" for name in names}

    def _take(self) -> zmq.Socket:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        sock = self._context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.setsockopt(zmq.MAXMSGSIZE, self.max_bytes)
        sock.connect(self.endpoint)
        return sock

    def _give_back(self, sock: zmq.Socket) -> None:
        with self._lock:
            if len(self._idle) < self.pool_size:
                self._idle.append(sock)
                return
        sock.close(linger=0)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for sock in idle:
            sock.close(linger=0)


def _remote_error(args: Any, name: str) -> UpstreamFault:
    """``ERR [name, message, traceback]`` -> -32000 "Name: message"; no traceback passed on."""
    if isinstance(args, list) and len(args) >= 2:
        kind, message = str(args[0])[:100], str(args[1])[:1000]
        return UpstreamFault(f"{kind}: {message}" if message else kind, faults.SERVICE_ERROR)
    return UpstreamFault(f"{name} answered an error without a name", faults.SERVICE_ERROR)
