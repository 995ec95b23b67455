"""Service-side errors, each carrying the RPC error code it is reported with.

The gateway turns any ``ServiceError`` into an XML-RPC fault or a JSON-RPC
error with ``code`` and ``str(error)``; the codes come from one table, the one
documented in the README.
"""


class ServiceError(Exception):
    """The service refused a call for a reason the caller can act on."""

    code = -32000


class InvalidParams(ServiceError):
    """The parameters are of the right shape but their values are refused."""

    code = -32602


class DivisionByZero(ServiceError):
    """``divide(a, 0)``: reported as a service error, not an internal one."""

    code = -32000


class ResultTooLarge(InvalidParams):
    """The result would exceed the configured size; it is never computed."""
