"""zerorpc peers: their addresses, whether [access] admits them, and logging about them.

A ROUTER socket names a peer by an identity, not an address; libzmq gives the
address as a message property, so it is read once per peer and remembered
(bounded). Bad input is logged once per peer and kind, so a flood of garbage
costs one log line, not a log flood; each call gets one access-log line.
"""

from __future__ import annotations

import logging
from typing import Any

import zmq

from gateway.access import AccessPolicy
from gateway.accesslog import escape

log = logging.getLogger("gateway.zerorpc")
access_log = logging.getLogger("gateway.access")

MAX_REMEMBERED = 10000  # peers' addresses and log-once keys kept


class Peers:
    def __init__(self, policy: AccessPolicy | None) -> None:
        self.policy = policy
        self._known: dict[tuple, tuple[str, bool]] = {}
        self._warned: set[tuple[str, str]] = set()

    def reset(self, policy: AccessPolicy | None) -> None:
        """A reload: a new policy, so every peer is looked at again."""
        self.policy = policy
        self._known = {}

    def lookup(self, envelope: tuple, frame: zmq.Frame) -> tuple[str, bool]:
        """(address, admitted) for the peer that sent ``frame``."""
        known = self._known.get(envelope)
        if known is None:
            if len(self._known) >= MAX_REMEMBERED:
                self._known.clear()
            try:
                address = frame.get("Peer-Address") or "local"
            except zmq.ZMQError:
                address = "local"  # ipc:// peers have no address
            allowed = self.policy is None or address == "local" or \
                self.policy.client_allowed(address)
            known = self._known[envelope] = (address, allowed)
        return known

    def warn(self, envelope: Any, kind: str, message: str) -> None:
        """Log one kind of bad input once per peer."""
        peer = self._known.get(envelope, ("unknown",))[0] if isinstance(envelope, tuple) \
            else "unknown"
        key = (peer, kind)
        if key in self._warned:
            return
        if len(self._warned) >= MAX_REMEMBERED:
            self._warned.clear()
        self._warned.add(key)
        log.warning("zerorpc: %s (logged once per peer)", message)


def log_call(peer: str, method: str, outcome: str, size: int, seconds: float) -> None:
    """One access-log line, shaped like the HTTP ones, with protocol ``zerorpc``."""
    if access_log.isEnabledFor(logging.INFO):  # a peer's method name is escaped: one line
        method = escape(method[:100])
        access_log.info('%s "CALL %s zerorpc/3" - %d zerorpc %s %s %.1fms "-"', peer,
                        method, size, method[:64], outcome, seconds * 1000)
