"""The zerorpc front: ROUTER sockets, one loop thread, calls on a bounded thread pool.

zerorpc clients (zerorpc-python, zerorpc-node) call the same method table as
XML-RPC and JSON-RPC, over ZeroMQ with msgpack events. zerorpc's own server runs
every call in one gevent loop, so a busy method starves every heartbeat; here the
loop thread only moves frames: it decodes events, keeps the channels (heartbeats,
flow control) and sends what the worker threads packed. Nothing a peer sends
can block it: sends never wait (a peer that does not read loses its replies, not
the loop), bad input is dropped or answered with ERR and logged once per peer,
and calls past ``threads + queue_size`` get ERR Busy instead of queueing. This
module is the receiving side (sockets, the loop, admission); what is sent back,
and how a call ends, is :mod:`gateway.zerorpc_replies`.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from typing import Any

import zmq

from gateway.access import AccessPolicy
from gateway.methods import MethodTable
from gateway.pools import WorkerPoolMixIn
from gateway.zerorpc_calls import Calls
from gateway.zerorpc_channels import Channels, TooManyChannels
from gateway.zerorpc_peers import Peers
from gateway.zerorpc_replies import Replies
from gateway.zerorpc_wire import HEARTBEAT, MORE, BadEvent, Event, decode, encode, error_args

log = logging.getLogger("gateway.zerorpc")

READS_PER_WAKE = 64  # messages read from one socket before looking at the others


class _Pool(WorkerPoolMixIn):
    pass


class ZerorpcFront:
    """Serve zerorpc on ``settings.listen``. Caller API: ``start()``, ``stop(timeout)``,
    ``wait(timeout)``, ``close()``; ``apply(settings, policy)`` on reload; ``endpoints`` are
    the bound addresses (ports resolved); ``served``, ``in_flight`` and ``capacity`` are
    the figures /healthz shows."""

    def __init__(self, settings: Any, table: MethodTable,
                 policy: AccessPolicy | None = None, metrics: Any = None) -> None:
        self.settings = settings
        self.channels = Channels(settings.heartbeat, settings.max_channels_per_peer)
        self.threads = settings.threads  # fixed for the life of the pool
        self._deadline = 0.0
        self._wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.peers = Peers(policy)
        self._pool = _Pool()
        self.replies = Replies(Calls(table), self.channels, self.peers, self._pool, self._signal,
                               settings.threads + settings.queue_size, metrics)
        self._thread: threading.Thread | None = None
        self._sockets_closed = False
        self.context = zmq.Context(io_threads=1)
        self.sockets: list[zmq.Socket] = []
        self.endpoints: list[str] = []
        try:
            for endpoint in settings.listen:
                self._bind(endpoint)
        except zmq.ZMQError as error:
            self.close()
            raise OSError(f"cannot bind zerorpc endpoint {endpoint}: {error}") from None

    def _bind(self, endpoint: str) -> None:
        """One ROUTER socket; its options make a slow or gone peer cost us nothing."""
        sock = self.context.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 1000)  # on close, a second to flush the last replies
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # a reply to a gone peer raises, not vanishes
        sock.setsockopt(zmq.MAXMSGSIZE, self.settings.max_message_bytes)
        sock.setsockopt(zmq.SNDHWM, 10000)
        self.sockets.append(sock)
        sock.bind(endpoint.replace(":*", ":0") if endpoint.startswith("tcp://") else endpoint)
        self.endpoints.append(sock.getsockopt_string(zmq.LAST_ENDPOINT))

    @property
    def in_flight(self) -> int:
        """Calls' jobs on the pool, for /healthz and the tests."""
        return self.replies.in_flight

    @property
    def capacity(self) -> int:
        """Jobs running or queued before a new call gets ERR Busy."""
        return self.replies.capacity

    @property
    def served(self) -> int:
        """Calls ended (answered, stopped or lost), for /healthz."""
        return self.replies.served

    # -- lifecycle (any thread) -------------------------------------------------------

    def start(self) -> None:
        """Workers first, so the loop's first call has a thread to run on."""
        self._pool.start_workers(self.threads, "zerorpc")
        self._thread = threading.Thread(target=self._run, name="zerorpc-loop", daemon=True)
        self._thread.start()

    def stop(self, drain_timeout: float) -> None:
        """Refuse new calls, answer those in flight, end open streams; returns at once."""
        self._deadline = time.monotonic() + drain_timeout
        self.replies.stopping = True
        self._signal()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the loop has ended (drained, streams ended, sockets closed)."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def close(self) -> None:
        """Free the sockets, context and eventfd; a no-op while the loop still runs."""
        if self._thread is not None and self._thread.is_alive():
            return  # the loop still owns the sockets; it closes them as it ends
        self._close_sockets()
        self.context.term()
        if hasattr(self, "_wake"):
            os.close(self._wake)
            del self._wake
        if self._thread is not None:
            self._pool.stop_workers(timeout=1.0)

    def apply(self, settings: Any, policy: AccessPolicy | None) -> None:
        """Reload: limits and heartbeat now; endpoints, threads and the message size limit
        (libzmq copies it into a listener when it binds) on restart."""
        self.settings = settings
        self.peers.reset(policy)
        self.channels.heartbeat = settings.heartbeat
        self.channels.max_per_peer = settings.max_channels_per_peer
        self.replies.capacity = self.threads + settings.queue_size
        self._signal()

    def _signal(self) -> None:
        """Wake the loop from any thread (a write after close() is harmless)."""
        try:
            os.eventfd_write(self._wake, 1)
        except (OSError, AttributeError):
            pass

    # -- the loop thread --------------------------------------------------------------

    def _run(self) -> None:
        """The loop thread: poll, read, sweep heartbeats; it alone touches the sockets."""
        poller = zmq.Poller()
        for sock in self.sockets:
            poller.register(sock, zmq.POLLIN)
        poller.register(self._wake, zmq.POLLIN)
        next_sweep = time.monotonic()
        try:
            while not (self.replies.stopping and self._drained()):
                wait = max(0.0, next_sweep - time.monotonic())
                for item, _ in poller.poll(wait * 1000):
                    if item == self._wake:
                        self._on_wake()
                    else:
                        self._receive(item)
                now = time.monotonic()
                if now >= next_sweep:
                    self.replies.sweep(now)
                    next_sweep = now + min(1.0, self.channels.heartbeat / 4)
        except Exception:
            log.exception("the zerorpc loop failed")
        finally:
            self.replies.end_remaining()
            self._close_sockets()

    def _close_sockets(self) -> None:
        """Close (flushing for up to a second) and remove our ipc socket files, once."""
        if self._sockets_closed:
            return
        self._sockets_closed = True
        for sock in self.sockets:
            sock.close(linger=1000)
        for endpoint in self.endpoints:
            if endpoint.startswith("ipc://"):
                path = endpoint[len("ipc://"):]
                try:
                    if stat.S_ISSOCK(os.lstat(path).st_mode):
                        os.unlink(path)
                except OSError:
                    pass

    def _on_wake(self) -> None:
        """A worker finished a job (or stop/apply changed something): send what is ready."""
        try:
            os.eventfd_read(self._wake)
        except BlockingIOError:
            pass
        self.replies.deliver()

    def _drained(self) -> bool:
        """Stopping: done once no job is running (or the drain time is up)."""
        self.replies.end_streams()
        return self.in_flight == 0 or time.monotonic() > self._deadline

    def _receive(self, sock: zmq.Socket) -> None:
        """A bounded batch per wake-up, so one busy socket cannot starve the others."""
        for _ in range(READS_PER_WAKE):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                self._on_message(sock, frames)
            except Exception:  # a bug must cost one message, never the loop
                log.exception("zerorpc: message handling failed")

    def _on_message(self, sock: zmq.Socket, frames: list[zmq.Frame]) -> None:
        """Check framing, access and the event; bad input is dropped (or ERR), logged once."""
        if len(frames) < 3 or frames[-2].bytes != b"":
            self.peers.warn((frames[0].bytes,) if frames else (), "frames",
                            "a message without [identity, empty delimiter, payload] was dropped")
            return
        envelope = tuple(frame.bytes for frame in frames[:-2])
        address, allowed = self.peers.lookup(envelope, frames[-1])
        if not allowed:
            self.peers.warn(envelope, "access", f"{address} is not in access.allow_networks; "
                            "its zerorpc messages are dropped")
            return
        try:
            event = decode(frames[-1].buffer)
        except BadEvent as bad:
            self.peers.warn(envelope, bad.kind, f"{address}: {bad} (dropped"
                            f"{', answered ERR' if bad.answerable else ''})")
            if bad.answerable:
                answer = encode("ERR", error_args(bad.reply_name, str(bad)), bad.message_id)
                self.replies.send(sock, envelope, answer)
            return
        if event.response_to is None:
            self._new_call(sock, envelope, event, address)
        else:
            self._on_channel_event(envelope, event)

    def _new_call(self, sock: zmq.Socket, envelope: tuple, event: Event, peer: str) -> None:
        """Admit a call or refuse it at once with an ERR: nothing queues without bound."""
        key = (envelope, event.message_id)
        if self.channels.get(key) is not None:
            self.peers.warn(envelope, "duplicate", f"{peer}: a new call reused an open call's "
                            "message_id; dropped")
            return
        refused = None
        if self.replies.stopping:
            refused = ("GatewayStopping", "")
        elif self.in_flight >= self.capacity:
            refused = ("Busy", f"{self.capacity} calls running or queued")
        else:
            try:
                channel = self.channels.open(key, sock, event.name, peer, time.monotonic())
            except TooManyChannels as error:
                self.peers.warn(envelope, "flood", f"{peer}: {error}; its new calls get ERR")
                refused = ("TooManyChannels", str(error))
        if refused:
            self.replies.refuse(sock, envelope, event, peer, *refused)
            return
        self.replies.begin(channel, event)

    def _on_channel_event(self, envelope: tuple, event: Event) -> None:
        """Heartbeats keep a channel alive; ``_zpc_more`` lets a stream go on."""
        channel = self.channels.get((envelope, event.response_to))
        if channel is None:  # late heartbeats and grants for ended calls are normal
            if event.name not in (HEARTBEAT, MORE):
                self.peers.warn(envelope, "unroutable", f"an event {event.name[:40]!r} for no "
                                "open call was dropped")
            return
        channel.heard = time.monotonic()
        if event.name == MORE:
            channel.grant(event.args)
            if channel.stream is not None and not channel.producing:
                self.replies.produce(channel)
        elif event.name != HEARTBEAT:
            self.peers.warn(envelope, "unexpected", f"{channel.peer}: event {event.name[:40]!r} "
                            "on an open call was ignored")
