"""What can go wrong between the gateway and an upstream, each with the code callers see.

-32000 "upstream unavailable" is the one a caller can retry later (the circuit
is open, nothing listens, every slot is busy); -32001 says the call may have
run but no answer came in time; -32002 that an answer came and was unusable.
Faults the upstream itself sends keep their own code and message.
"""

from __future__ import annotations

from gateway.faults import RPCError

UPSTREAM_UNAVAILABLE = -32000
UPSTREAM_TIMEOUT = -32001
UPSTREAM_BAD_ANSWER = -32002


class UpstreamUnavailable(RPCError):
    """The upstream could not be reached; the call did not run there."""

    code = UPSTREAM_UNAVAILABLE

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"upstream unavailable: {name}: {why}")


class NotSent(UpstreamUnavailable):
    """Failed before a byte of the call left (e.g. connection refused): safe to retry."""


class UpstreamTimeout(RPCError):
    code = UPSTREAM_TIMEOUT

    def __init__(self, name: str, seconds: float) -> None:
        super().__init__(f"upstream timed out: {name} gave no complete answer in {seconds:g} s "
                         "(the call may have run there)")


class BadAnswer(RPCError):
    """The upstream answered something that is not a usable answer."""

    code = UPSTREAM_BAD_ANSWER

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"upstream answered badly: {name}: {why}")


class UpstreamFault(RPCError):
    """A fault or error object the upstream sent: passed on with its code and message."""
