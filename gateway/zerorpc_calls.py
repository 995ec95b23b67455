"""zerorpc calls as jobs for the worker threads: run a method, pack its reply events.

A job never touches a socket: it returns a ``Result`` (packed frames, whether the
channel is finished, an outcome for the access log) that the front's loop thread
sends. A plain call's job packs one ``OK`` or ``ERR``. A streaming method's first
job opens its iterable and produces the first item into the peer's initial slot;
later jobs produce as many items as the peer has opened slots for, and the
``STREAM_DONE`` or ``ERR`` that ends the stream takes a slot like an item.
Every exception becomes an ``ERR`` named from the one error table: no traceback,
no path, and a result msgpack cannot carry is an error, never a lost reply.
"""

from __future__ import annotations

import time
from typing import Any

from gateway import faults
from gateway.methods import MethodTable
from gateway.zerorpc_builtins import Builtins
from gateway.zerorpc_channels import Channel
from gateway.zerorpc_wire import Event, check_encodable, describe_unencodable, encode, error_args

UNENCODABLE = (OverflowError, TypeError, ValueError)


class Unencodable(Exception):
    """The method answered, but msgpack (or a zerorpc client) cannot carry the answer."""


class Result:
    """What a job hands back to the loop for one channel."""

    __slots__ = ("channel", "frames", "ended", "outcome", "seconds", "size")

    def __init__(self, channel: Channel, frames: list[bytes], ended: bool, outcome: str,
                 seconds: float) -> None:
        self.channel = channel
        self.frames = frames
        self.ended = ended
        self.outcome = outcome
        self.seconds = seconds
        self.size = sum(len(frame) for frame in frames)


class Calls:
    """Runs calls against the method table (and zerorpc's built-ins)."""

    def __init__(self, table: MethodTable) -> None:
        self.table = table
        self.builtins = Builtins(table)

    def start(self, channel: Channel, event: Event) -> Result:
        """The first job of a call: its whole reply, or a stream's first item."""
        started = time.perf_counter()
        try:
            method = self.builtins.get(event.name) or self.table.lookup(event.name)
            value = self.table.invoke(method, event.args)
            if method.streams:
                channel.stream = iter(value)
                return self.produce(channel, 1, started)
            frame = _pack_result("OK", [value], channel)
        except Exception as error:
            return _failed(channel, error, event.name, started)
        return Result(channel, [frame], True, "ok", time.perf_counter() - started)

    def produce(self, channel: Channel, count: int, started: float | None = None) -> Result:
        """Up to ``count`` events of an open stream (the end counts as one)."""
        started = time.perf_counter() if started is None else started
        frames: list[bytes] = []
        stream, reply_to = channel.stream, channel.id
        try:
            for _ in range(count):
                try:
                    item = next(stream)
                except StopIteration:
                    frames.append(encode("STREAM_DONE", [], reply_to))
                    return Result(channel, frames, True, "ok", time.perf_counter() - started)
                frames.append(_pack_result("STREAM", item, channel))
        except Exception as error:
            failed = _failed(channel, error, channel.method, started)
            failed.frames[:0] = frames
            return failed
        return Result(channel, frames, False, "ok", time.perf_counter() - started)


def _pack_result(name: str, args: Any, channel: Channel) -> bytes:
    try:
        if isinstance(args, (list, tuple, dict)):
            check_encodable(args)
        return encode(name, args, channel.id)
    except UNENCODABLE as error:
        raise Unencodable(f"{channel.method}: {describe_unencodable(error)}") from None


def _failed(channel: Channel, error: Exception, method: str, started: float) -> Result:
    if isinstance(error, Unencodable):
        name, message = "ResultNotEncodable", str(error)
    else:
        name, message = faults.zerorpc_error(error, method[:100])
    frame = encode("ERR", error_args(name, message), channel.id)
    return Result(channel, [frame], True, f"error {name}", time.perf_counter() - started)


def refusal(channel_id: Any, name: str, detail: str = "") -> bytes:
    """An ERR the front sends itself (Busy, TooManyChannels, ...), from the one table."""
    message = faults.ZERORPC_REFUSALS[name] + (f": {detail}" if detail else "")
    return encode("ERR", error_args(name, message), channel_id)
