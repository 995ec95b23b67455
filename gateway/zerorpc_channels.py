"""zerorpc channels: one per call, with its heartbeat clock and its flow-control slots.

A channel lives from a call's first event until its reply (or its stream's end),
keyed by (peer envelope, message_id). Only the front's loop thread touches this
table, so it needs no lock; worker threads read a channel's immutable fields.

Heartbeats follow zerorpc's rule: every ``heartbeat`` seconds each open channel
gets ``_zpc_hb``; the first tick starts the peer's clock, and a peer not heard on
the channel for two periods after that is gone: the channel is dropped, its
stream closed and its buffers freed, and a call still running has its result
discarded. Flow control: the peer opens slots with ``_zpc_more n``, taken as
"you may now send n more" (zerorpc-node's meaning; it never exceeds what a
zerorpc-python client adds, so it is safe for both).
"""

from __future__ import annotations

from typing import Any, Iterator

MAX_GRANT = 1000  # a peer asking for more slots than this gets this many


class Channel:
    __slots__ = ("key", "envelope", "socket", "id", "method", "peer", "started",
                 "beat_due", "heard", "slots", "stream", "producing", "items", "sent", "closed")

    def __init__(self, key: tuple, socket: Any, method: str, peer: str, now: float,
                 heartbeat: float) -> None:
        self.key = key
        self.envelope: list[bytes] = list(key[0])
        self.socket = socket
        self.id = key[1]  # echoed as response_to, same type as received
        self.method = method
        self.peer = peer
        self.started = now
        self.beat_due = now + heartbeat
        self.heard: float | None = None  # set at the first tick (zerorpc's rule)
        self.slots = 1  # the peer's one initial slot, for the first reply
        self.stream: Iterator[Any] | None = None
        self.producing = False  # a worker is producing the next items
        self.items = 0  # stream items sent
        self.sent = 0  # bytes sent, for the access log
        self.closed = False

    def grant(self, args: list) -> None:
        """``_zpc_more [n]``: the peer may now take n more (set, not add: see above)."""
        try:
            count = int(args[0])
        except (IndexError, TypeError, ValueError, OverflowError):
            return
        self.slots = max(0, min(count, MAX_GRANT))


class TooManyChannels(Exception):
    pass


class Channels:
    """The open channels, bounded per peer, with the heartbeat sweep."""

    def __init__(self, heartbeat: float, max_per_peer: int) -> None:
        self.heartbeat = heartbeat
        self.max_per_peer = max_per_peer
        self._open: dict[tuple, Channel] = {}
        self._per_peer: dict[tuple, int] = {}

    def __len__(self) -> int:
        return len(self._open)

    def get(self, key: tuple) -> Channel | None:
        return self._open.get(key)

    def open(self, key: tuple, socket: Any, method: str, peer: str, now: float) -> Channel:
        envelope = key[0]
        count = self._per_peer.get(envelope, 0)
        if count >= self.max_per_peer:
            raise TooManyChannels(f"this connection has {count} calls open; the limit is "
                                  f"{self.max_per_peer}")
        channel = Channel(key, socket, method, peer, now, self.heartbeat)
        self._open[key] = channel
        self._per_peer[envelope] = count + 1
        return channel

    def close(self, channel: Channel) -> None:
        """Forget the channel; its stream, if any, is the caller's to close."""
        if channel.closed:
            return
        channel.closed = True
        if self._open.pop(channel.key, None) is not None:
            envelope = channel.key[0]
            left = self._per_peer.get(envelope, 1) - 1
            if left > 0:
                self._per_peer[envelope] = left
            else:
                self._per_peer.pop(envelope, None)

    def sweep(self, now: float) -> tuple[list[Channel], list[Channel]]:
        """(channels due a heartbeat, channels whose peer is gone); the lost are closed."""
        due, lost = [], []
        period = self.heartbeat
        for channel in list(self._open.values()):
            if channel.heard is not None and now > channel.heard + 2 * period:
                self.close(channel)
                lost.append(channel)
            elif now >= channel.beat_due:
                if channel.heard is None:
                    channel.heard = now  # the first tick starts the peer's clock
                due.append(channel)
                channel.beat_due = now + period
        return due, lost

    def all(self) -> list[Channel]:
        return list(self._open.values())
