"""zerorpc events on the wire: msgpack ``[header, name, args]``, protocol version 3.

Decoding is strict about shape and lenient about nothing else: a payload that is
not msgpack, not a 3-element array, or has no usable ``message_id`` cannot be
answered and is dropped (``BadEvent.answerable`` is False); a well-framed event
with a wrong version, name or args can be answered with ``ERR``. Encoding always
writes ``v: 3``, a fresh ``message_id`` and the channel's id as ``response_to``
with the exact msgpack type it arrived with (python clients send bin, node str),
because both clients key their channels by it.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import msgpack

VERSION = 3
HEARTBEAT = "_zpc_hb"
MORE = "_zpc_more"
MAX_ID_LENGTH = 256  # a message_id is an opaque token; real clients send 32-36 chars
MAX_NAME_LENGTH = 256
MAX_DEPTH = 64  # nesting allowed in a result's maps and arrays (checked before packing)

_PREFIX = os.urandom(12).hex().encode()
_counter = itertools.count()


class BadEvent(ValueError):
    """An event we refuse. ``kind`` names the problem for the log; ``message_id`` is set
    when the event can still be answered with ERR (``reply_name``)."""

    def __init__(self, kind: str, message: str, message_id: Any = None,
                 reply_name: str = "InvalidRequest") -> None:
        super().__init__(message)
        self.kind = kind
        self.message_id = message_id
        self.reply_name = reply_name

    @property
    def answerable(self) -> bool:
        return self.message_id is not None


class Event:
    """One decoded event; ``response_to`` is None for the first event of a call."""

    __slots__ = ("message_id", "response_to", "name", "args")

    def __init__(self, message_id: Any, response_to: Any, name: str, args: list) -> None:
        self.message_id = message_id
        self.response_to = response_to
        self.name = name
        self.args = args


def decode(payload: Any) -> Event:
    """Unpack one payload frame into an Event, or raise BadEvent."""
    try:
        unpacked = msgpack.unpackb(payload, raw=False)
    except Exception as error:  # msgpack raises ValueError subclasses, TypeError, StackError
        raise BadEvent("not-msgpack", f"the payload is not msgpack ({type(error).__name__})")
    if not isinstance(unpacked, (list, tuple)) or len(unpacked) != 3:
        raise BadEvent("shape", "an event is a msgpack array [header, name, args]")
    header, name, args = unpacked
    if not isinstance(header, dict):
        raise BadEvent("header", "the event header is not a map")
    message_id = _token(header.get("message_id"))
    if message_id is None:
        raise BadEvent("message-id", "the event has no usable message_id")
    response_to = header.get("response_to")
    if response_to is not None and _token(response_to) is None:
        raise BadEvent("response-to", "response_to is not a string or bytes")
    version = header.get("v")
    if version != VERSION or isinstance(version, bool):
        raise BadEvent("version", f"protocol version {str(version)[:20]!r} is not spoken; "
                       "only version 3", message_id, "UnsupportedVersion")
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_LENGTH:
        raise BadEvent("name", "the event name must be a string of 1 to 256 characters",
                       message_id)
    if not isinstance(args, (list, tuple)):
        raise BadEvent("args", "the event args must be an array", message_id)
    return Event(message_id, response_to, name, list(args))


def _token(value: Any) -> Any:
    if isinstance(value, (bytes, str)) and 0 < len(value) <= MAX_ID_LENGTH:
        return value
    return None


def new_message_id() -> bytes:
    """32 ASCII bytes like zerorpc-python's: an 8-hex counter, then 24 hex of randomness."""
    return b"%08x%s" % (next(_counter) & 0xFFFFFFFF, _PREFIX)


def encode(name: str, args: Any, response_to: Any) -> bytes:
    """Pack one reply event; raises ValueError/OverflowError/TypeError for what msgpack
    cannot carry (``check_encodable`` first for what it would carry but clients refuse)."""
    header = {"message_id": new_message_id(), "v": VERSION, "response_to": response_to}
    return msgpack.packb([header, name, args], use_bin_type=True)


def error_args(name: str, message: str) -> list[str]:
    """ERR args: exactly three strings (node requires 3); the third stands in for the
    traceback, which python's RemoteError prints, so it is never empty and holds no path."""
    return [name, message, f"{name}: {message}"]


def check_encodable(value: Any, depth: int = 0) -> None:
    """Refuse maps with keys other than str/bytes (msgpack packs them, but both clients'
    unpackers drop such a reply and the call would time out) and over-deep nesting."""
    if depth > MAX_DEPTH:
        raise ValueError(f"the result is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, bytes)):
                raise ValueError(f"a map key is {type(key).__name__}; only strings can be "
                                 "map keys in zerorpc")
            if isinstance(item, (dict, list, tuple)):
                check_encodable(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, (dict, list, tuple)):
                check_encodable(item, depth + 1)


def describe_unencodable(error: Exception) -> str:
    if isinstance(error, OverflowError):
        return "an integer in the result is beyond msgpack's 64 bits"
    if isinstance(error, TypeError):
        return f"the result holds a value msgpack cannot carry ({str(error)[:80]})"
    return str(error)[:200]
