"""The services the gateway serves: plain classes that know nothing of HTTP or RPC."""

from handlers.calculator import Calculator
from handlers.errors import DivisionByZero, InvalidParams, ResultTooLarge, ServiceError
from handlers.streams import is_stream, stream

__all__ = ["Calculator", "DivisionByZero", "InvalidParams", "ResultTooLarge", "ServiceError",
           "is_stream", "stream"]
