"""zerorpc replies: an admitted call's jobs, what they pack sent as the peer allows, its end.

The front's loop thread receives and admits calls; everything sent back on a
channel goes through here. A call's first job runs it on the worker pool; a
stream's later jobs produce only as many items as the peer has opened slots for
(at most ``BATCH`` per job, so one stream cannot hold a thread for long) and wait
for a free worker when the pool is full. Workers never touch a socket: a job's
``Result`` is queued and the loop woken, and the loop sends it. Each call ends
here once (answered, stopped, or its peer gone or lost), with one access-log
line and its metrics. Only the loop thread calls this class, except ``_run_job``.
"""

from __future__ import annotations

import collections
import logging
import time
from typing import Any, Callable

import zmq

from gateway.pools import WorkerPoolMixIn
from gateway.zerorpc_calls import Calls, Result, refusal
from gateway.zerorpc_channels import Channel, Channels
from gateway.zerorpc_peers import Peers, log_call
from gateway.zerorpc_wire import HEARTBEAT, Event, encode, error_args

log = logging.getLogger("gateway.zerorpc")

BATCH = 256  # stream items per job, so one stream cannot hold a thread for long


class Replies:
    """Runs admitted calls on the pool and sends their events; counts what is in flight."""

    def __init__(self, calls: Calls, channels: Channels, peers: Peers, pool: WorkerPoolMixIn,
                 wake: Callable[[], None], capacity: int, metrics: Any = None) -> None:
        self.calls = calls
        self.channels = channels
        self.peers = peers
        self.pool = pool
        self.wake = wake  # from a worker: the loop has a result to send
        self.metrics = metrics  # gateway.metrics.Metrics: zerorpc calls beside HTTP ones
        self.capacity = capacity  # jobs running or queued; past it new calls get ERR Busy
        self.in_flight = 0  # jobs on the pool; the loop thread alone counts them
        self.served = 0
        self.stopping = False  # set by the front's stop(): streams end instead of going on
        self._done: collections.deque[Result] = collections.deque()
        self._waiting: collections.deque[Channel] = collections.deque()

    # -- jobs -------------------------------------------------------------------------

    def begin(self, channel: Channel, event: Event) -> None:
        """Run a new call; its reply (or first item) takes the peer's initial slot."""
        channel.slots -= 1
        self._submit(channel, lambda: self.calls.start(channel, event))

    def _submit(self, channel: Channel, job: Callable[[], Result]) -> None:
        """Counted before it runs, so admission sees it; one job per channel at a time."""
        self.in_flight += 1
        channel.producing = True
        self.pool.submit(lambda: self._run_job(channel, job))

    def _run_job(self, channel: Channel, job: Callable[[], Result]) -> None:
        """On a worker thread: run, hand the result to the loop, wake it."""
        try:
            result = job()
        except Exception:
            log.exception("zerorpc job failed")
            frame = encode("ERR", error_args("InternalError", "internal error"), channel.id)
            result = Result(channel, [frame], True, "error InternalError", 0.0)
        self._done.append(result)
        self.wake()

    def produce(self, channel: Channel) -> None:
        """Schedule the next items of a stream, as many as the peer has slots for."""
        if channel.slots <= 0 or channel.producing or channel.closed:
            return
        if self.in_flight >= self.capacity:
            self._waiting.append(channel)  # resumed when a worker frees up
            return
        count = min(channel.slots, BATCH)
        channel.slots -= count
        self._submit(channel, lambda: self.calls.produce(channel, count))

    def deliver(self) -> None:
        """The loop was woken: send what the workers finished, then resume waiting streams."""
        done = self._done
        while done:
            self._deliver(done.popleft())
        waiting = self._waiting
        while waiting and self.in_flight < self.capacity:
            self.produce(waiting.popleft())

    def _deliver(self, result: Result) -> None:
        """Send one job's frames, then end the call, end the stream (stopping) or go on."""
        self.in_flight -= 1
        channel = result.channel
        channel.producing = False
        if channel.closed:  # its peer was lost (or the drain ended) while the job ran
            self._close_stream(channel)
            return
        for frame in result.frames:
            if not self.send(channel.socket, channel.key[0], frame):
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
            self.produce(channel)

    # -- ending calls -----------------------------------------------------------------

    def _end(self, channel: Channel, outcome: str) -> None:
        """Forget the channel, free its stream, and count and log the call once."""
        logged = outcome if channel.stream is None else f"{outcome} {channel.items} items"
        self.channels.close(channel)
        self._close_stream(channel)
        self.served += 1
        seconds = time.monotonic() - channel.started
        self._record(channel, outcome, channel.sent, seconds, logged)

    def _record(self, channel: Channel, outcome: str, size: int, seconds: float,
                logged: str | None = None) -> None:
        """One access-log line and the metrics of a finished call (one clock, one name).

        The log may say more (a stream's item count) than a metric label may carry.
        """
        log_call(channel.peer, channel.method, logged or outcome, size, seconds)
        if self.metrics is not None:
            self.metrics.call("zerorpc", channel.method, outcome, seconds)

    def refuse(self, sock: zmq.Socket, envelope: tuple, event: Event, peer: str, name: str,
               detail: str) -> None:
        """A call refused at admission (Busy, TooManyChannels, GatewayStopping): its ERR,
        its access-log line, and its metrics: a call answered with the error ``name``."""
        self.send(sock, envelope, refusal(event.message_id, name, detail))
        log_call(peer, event.name, f"refused {name}", 0, 0.0)
        if self.metrics is not None:
            self.metrics.call("zerorpc", event.name, f"error {name}", 0.0)

    def _end_stream(self, channel: Channel) -> None:
        """Stopping: an open stream ends with an ERR the client sees, not a false DONE."""
        self.send(channel.socket, channel.key[0],
                  refusal(channel.id, "GatewayStopping", "the stream ended early"))
        self._end(channel, "stopped")

    def end_streams(self) -> None:
        """Stopping: end every stream no worker is producing for (the others end on delivery)."""
        for channel in self.channels.all():
            if channel.stream is not None and not channel.producing:
                self._end_stream(channel)

    def end_remaining(self) -> None:
        """Past the drain time: calls still running get an ERR rather than silence."""
        for channel in self.channels.all():
            self.send(channel.socket, channel.key[0], refusal(
                channel.id, "GatewayStopping", "the call did not finish within drain_timeout"))
            self._end(channel, "stopped")

    def _close_stream(self, channel: Channel) -> None:
        """Drop the stream so its buffers go; its ``close()`` may run user code, so a worker."""
        stream, channel.stream = channel.stream, None
        close = getattr(stream, "close", None)
        if close is not None:
            self.pool.submit(close)  # a generator's cleanup runs off the loop

    def sweep(self, now: float) -> None:
        """Heartbeats on the channels due one; a lost peer's call ends here, logged once."""
        due, lost = self.channels.sweep(now)
        for channel in due:
            self.send(channel.socket, channel.key[0], encode(HEARTBEAT, [0], channel.id))
        for channel in lost:
            log.warning("zerorpc: lost %s (no heartbeat for %.0f s); its call %s is dropped",
                        channel.peer, 2 * self.channels.heartbeat, channel.method[:100])
            if not channel.producing:
                self._close_stream(channel)
            self.served += 1
            self._record(channel, "error lost", 0, now - channel.started)

    # -- sending ----------------------------------------------------------------------

    def send(self, sock: zmq.Socket, envelope: tuple, frame: bytes) -> bool:
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
