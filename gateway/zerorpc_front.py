"""The zerorpc front: ROUTER sockets, one loop thread, calls on a bounded thread pool.

zerorpc clients (zerorpc-python, zerorpc-node) call the same method table as
XML-RPC and JSON-RPC, over ZeroMQ with msgpack events. zerorpc's own server runs
every call in one gevent loop, so a busy method starves every heartbeat; here the
loop thread only moves frames: it decodes events, keeps the channels (heartbeats,
flow control) and sends what the worker threads packed. Nothing a peer sends
can block it: sends never wait (a peer that does not read loses its replies, not
the loop), bad input is dropped or answered with ERR and logged once per peer,
and calls past ``threads + queue_size`` get ERR Busy instead of queueing.
"""

from __future__ import annotations

import collections
import logging
import os
import stat
import threading
import time
from typing import Any, Callable

import zmq

from gateway.access import AccessPolicy
from gateway.methods import MethodTable
from gateway.pools import WorkerPoolMixIn
from gateway.zerorpc_calls import Calls, Result, refusal
from gateway.zerorpc_channels import Channel, Channels, TooManyChannels
from gateway.zerorpc_peers import Peers, log_call
from gateway.zerorpc_wire import HEARTBEAT, MORE, BadEvent, Event, decode, encode, error_args

log = logging.getLogger("gateway.zerorpc")

BATCH = 256  # stream items per job, so one stream cannot hold a thread for long
READS_PER_WAKE = 64  # messages read from one socket before looking at the others


class _Pool(WorkerPoolMixIn):
    pass


class ZerorpcFront:
    """Serve zerorpc on ``settings.listen``. Caller API: ``start()``, ``stop(timeout)``,
    ``wait(timeout)``, ``close()``; ``apply(settings)`` on reload; ``endpoints`` are the
    bound addresses (ports resolved)."""

    def __init__(self, settings: Any, table: MethodTable,
                 policy: AccessPolicy | None = None, metrics: Any = None) -> None:
        self.settings = settings
        self.metrics = metrics  # gateway.metrics.Metrics: zerorpc calls beside HTTP ones
        self.calls = Calls(table)
        self.channels = Channels(settings.heartbeat, settings.max_channels_per_peer)
        self.threads = settings.threads  # fixed for the life of the pool
        self.capacity = settings.threads + settings.queue_size
        self.in_flight = 0  # jobs on the pool; the loop thread alone counts them
        self.served = 0
        self.stopping = False
        self._deadline = 0.0
        self._done: collections.deque[Result] = collections.deque()
        self._waiting: collections.deque[Channel] = collections.deque()
        self._wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.peers = Peers(policy)
        self._pool = _Pool()
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
        sock = self.context.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 1000)  # on close, a second to flush the last replies
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # a reply to a gone peer raises, not vanishes
        sock.setsockopt(zmq.MAXMSGSIZE, self.settings.max_message_bytes)
        sock.setsockopt(zmq.SNDHWM, 10000)
        self.sockets.append(sock)
        sock.bind(endpoint.replace(":*", ":0") if endpoint.startswith("tcp://") else endpoint)
        self.endpoints.append(sock.getsockopt_string(zmq.LAST_ENDPOINT))

    # -- lifecycle (any thread) -------------------------------------------------------

    def start(self) -> None:
        self._pool.start_workers(self.threads, "zerorpc")
        self._thread = threading.Thread(target=self._run, name="zerorpc-loop", daemon=True)
        self._thread.start()

    def stop(self, drain_timeout: float) -> None:
        """Refuse new calls, answer those in flight, end open streams; returns at once."""
        self._deadline = time.monotonic() + drain_timeout
        self.stopping = True
        self._signal()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def close(self) -> None:
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
        self.capacity = self.threads + settings.queue_size
        self._signal()

    def _signal(self) -> None:
        try:
            os.eventfd_write(self._wake, 1)
        except (OSError, AttributeError):
            pass

    # -- the loop thread --------------------------------------------------------------

    def _run(self) -> None:
        poller = zmq.Poller()
        for sock in self.sockets:
            poller.register(sock, zmq.POLLIN)
        poller.register(self._wake, zmq.POLLIN)
        next_sweep = time.monotonic()
        try:
            while not (self.stopping and self._drained()):
                wait = max(0.0, next_sweep - time.monotonic())
                for item, _ in poller.poll(wait * 1000):
                    if item == self._wake:
                        self._on_wake()
                    else:
                        self._receive(item)
                now = time.monotonic()
                if now >= next_sweep:
                    self._sweep(now)
                    next_sweep = now + min(1.0, self.channels.heartbeat / 4)
        except Exception:
            log.exception("the zerorpc loop failed")
        finally:
            self._end_remaining()
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

    def _drained(self) -> bool:
        """Stopping: done once no job is running (or the drain time is up)."""
        self._end_streams()
        return self.in_flight == 0 or time.monotonic() > self._deadline

    def _receive(self, sock: zmq.Socket) -> None:
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
                self._send(sock, envelope, encode("ERR", error_args(bad.reply_name, str(bad)),
                                                  bad.message_id))
            return
        if event.response_to is None:
            self._new_call(sock, envelope, event, address)
        else:
            self._on_channel_event(envelope, event)

    def _new_call(self, sock: zmq.Socket, envelope: tuple, event: Event, peer: str) -> None:
        key = (envelope, event.message_id)
        if self.channels.get(key) is not None:
            self.peers.warn(envelope, "duplicate", f"{peer}: a new call reused an open call's "
                            "message_id; dropped")
            return
        refused = None
        if self.stopping:
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
            self._send(sock, envelope, refusal(event.message_id, *refused))
            log_call(peer, event.name, f"refused {refused[0]}", 0, 0.0)
            return
        channel.slots -= 1  # the reply (or first item) takes the peer's initial slot
        self._submit(channel, lambda: self.calls.start(channel, event))

    def _on_channel_event(self, envelope: tuple, event: Event) -> None:
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
                self._produce(channel)
        elif event.name != HEARTBEAT:
            self.peers.warn(envelope, "unexpected", f"{channel.peer}: event {event.name[:40]!r} "
                            "on an open call was ignored")

    # -- jobs -------------------------------------------------------------------------

    def _submit(self, channel: Channel, job: Callable[[], Result]) -> None:
        self.in_flight += 1
        channel.producing = True
        self._pool.submit(lambda: self._run_job(channel, job))

    def _run_job(self, channel: Channel, job: Callable[[], Result]) -> None:
        """On a worker thread: run, hand the result to the loop, wake it."""
        try:
            result = job()
        except Exception:
            log.exception("zerorpc job failed")
            frame = encode("ERR", error_args("InternalError", "internal error"), channel.id)
            result = Result(channel, [frame], True, "error InternalError", 0.0)
        self._done.append(result)
        self._signal()

    def _produce(self, channel: Channel) -> None:
        """Schedule the next items of a stream, as many as the peer has slots for."""
        if channel.slots <= 0 or channel.producing or channel.closed:
            return
        if self.in_flight >= self.capacity:
            self._waiting.append(channel)  # resumed when a worker frees up
            return
        count = min(channel.slots, BATCH)
        channel.slots -= count
        self._submit(channel, lambda: self.calls.produce(channel, count))

    def _on_wake(self) -> None:
        try:
            os.eventfd_read(self._wake)
        except BlockingIOError:
            pass
        done = self._done
        while done:
            self._deliver(done.popleft())
        waiting = self._waiting
        while waiting and self.in_flight < self.capacity:
            self._produce(waiting.popleft())

    def _deliver(self, result: Result) -> None:
        self.in_flight -= 1
        channel = result.channel
        channel.producing = False
        if channel.closed:  # its peer was lost (or the drain ended) while the job ran
            self._close_stream(channel)
            return
        for frame in result.frames:
            if not self._send(channel.socket, channel.key[0], frame):
                self._end(channel, "peer gone")
                return
        channel.sent += result.size
        if channel.stream is not None:
            channel.items += len(result.frames) - result.ended
        if result.ended:
            self._end(channel, result.outcome)
        elif self.stopping:
            self._end_stream(channel)
        else:
            self._produce(channel)

    # -- ending calls -----------------------------------------------------------------

    def _end(self, channel: Channel, outcome: str) -> None:
        if channel.stream is not None:
            outcome = f"{outcome} {channel.items} items"
        self.channels.close(channel)
        self._close_stream(channel)
        self.served += 1
        seconds = time.monotonic() - channel.started
        self._record(channel, outcome, channel.sent, seconds)

    def _record(self, channel: Channel, outcome: str, size: int, seconds: float) -> None:
        """One access-log line and the metrics of a finished call (one clock, one name)."""
        log_call(channel.peer, channel.method, outcome, size, seconds)
        if self.metrics is not None:
            self.metrics.call("zerorpc", channel.method, outcome, seconds)

    def _end_stream(self, channel: Channel) -> None:
        """Stopping: an open stream ends with an ERR the client sees, not a false DONE."""
        self._send(channel.socket, channel.key[0],
                   refusal(channel.id, "GatewayStopping", "the stream ended early"))
        self._end(channel, "stopped")

    def _end_streams(self) -> None:
        for channel in self.channels.all():
            if channel.stream is not None and not channel.producing:
                self._end_stream(channel)

    def _end_remaining(self) -> None:
        """Past the drain time: calls still running get an ERR rather than silence."""
        for channel in self.channels.all():
            self._send(channel.socket, channel.key[0], refusal(
                channel.id, "GatewayStopping", "the call did not finish within drain_timeout"))
            self._end(channel, "stopped")

    def _close_stream(self, channel: Channel) -> None:
        stream, channel.stream = channel.stream, None
        close = getattr(stream, "close", None)
        if close is not None:
            self._pool.submit(close)  # a generator's cleanup runs off the loop

    def _sweep(self, now: float) -> None:
        due, lost = self.channels.sweep(now)
        for channel in due:
            self._send(channel.socket, channel.key[0], encode(HEARTBEAT, [0], channel.id))
        for channel in lost:
            log.warning("zerorpc: lost %s (no heartbeat for %.0f s); its call %s is dropped",
                        channel.peer, 2 * self.channels.heartbeat, channel.method[:100])
            if not channel.producing:
                self._close_stream(channel)
            self.served += 1
            self._record(channel, "error lost", 0, now - channel.started)

    # -- sending ----------------------------------------------------------------------

    def _send(self, sock: zmq.Socket, envelope: tuple, frame: bytes) -> bool:
        """Send without waiting; False when the peer is gone or not reading."""
        try:
            sock.send_multipart([*envelope, b"", frame], zmq.NOBLOCK)
            return True
        except zmq.Again:
            self.peers.warn(envelope, "not-reading", "a peer is not reading its replies; "
                            "replies to it are dropped")
        except zmq.ZMQError as error:
            if error.errno != zmq.EHOSTUNREACH:
                log.warning("zerorpc: send failed: %s", error)
        return False
