"""The calculator: the union of the methods in the reference notes, served once.

Results are bounded before they are computed: an integer result may have at
most ``max_int_bits`` bits, so ``pow(10, 10**9)`` is refused in microseconds
instead of holding a thread for minutes and then failing to serialise.
"""

from __future__ import annotations

import math
from typing import Any

from handlers.errors import DivisionByZero, InvalidParams, ResultTooLarge

Number = int | float

DEFAULT_MAX_INT_BITS = 14_000  # a little under Python's 4300-digit str() limit


class Calculator:
    """Arithmetic and echo methods; every public method is an RPC method."""

    def __init__(self, max_int_bits: int = DEFAULT_MAX_INT_BITS) -> None:
        self._max_int_bits = max_int_bits

    def add(self, a: Number, b: Number) -> Number:
        """Return a + b."""
        return _number(a) + _number(b)

    def subtract(self, a: Number, b: Number) -> Number:
        """Return |a - b| (the legacy semantics: never negative)."""
        return abs(_number(a) - _number(b))

    def multiply(self, a: Number, b: Number) -> Number:
        """Return a * b."""
        a, b = _number(a), _number(b)
        if isinstance(a, int) and isinstance(b, int):
            self._check_bits(_bits(a) + _bits(b), "multiply")
        return a * b

    def divide(self, a: Number, b: Number) -> float:
        """Return a / b as a float; dividing by zero is a service error."""
        a, b = _number(a), _number(b)
        if b == 0:
            raise DivisionByZero("division by zero")
        try:
            return a / b
        except OverflowError:
            raise ResultTooLarge("divide: result is too large for a double") from None

    def pow(self, x: Number, y: Number, z: int | None = None) -> Number:
        """Return x ** y, or x ** y % z with three arguments (like the builtin)."""
        x, y = _number(x), _number(y)
        if z is not None:
            if not all(isinstance(v, int) for v in (x, y, z)):
                raise InvalidParams("pow: all three arguments must be integers")
            if z == 0:
                raise DivisionByZero("pow: modulus is zero")
            try:
                return pow(x, y, z)
            except ValueError as error:  # e.g. no inverse for a negative exponent
                raise InvalidParams(f"pow: {error}") from None
        return self._power(x, y, "pow")

    def getpow(self, n: Number, m: Number) -> Number:
        """Return n ** m."""
        return self._power(_number(n), _number(m), "getpow")

    def ping(self, x: Any) -> Any:
        """Return x unchanged, whatever its type."""
        return x

    def hello(self, name: str) -> str:
        """Return "Hello, {name}"."""
        return f"Hello, {_text(name)}"

    def listinfo(self, message: str) -> str:
        """Return "get info : {message}"."""
        return f"get info : {_text(message)}"

    def _power(self, x: Number, y: Number, name: str) -> Number:
        if isinstance(x, int) and isinstance(y, int) and y > 0 and abs(x) > 1:
            # |x| ** y has floor(y * log2|x|) + 1 bits (bit_length * y overshoots up to 2x).
            self._check_bits(math.floor(y * math.log2(abs(x))) + 1, name)
        try:
            result = x ** y
        except ZeroDivisionError:
            raise DivisionByZero(f"{name}: zero cannot be raised to a negative power") from None
        except OverflowError:
            raise ResultTooLarge(f"{name}: result is too large for a double") from None
        if isinstance(result, complex):
            raise InvalidParams(f"{name}: result is not a real number")
        return result

    def _check_bits(self, bits: int, name: str) -> None:
        if bits > self._max_int_bits:
            raise ResultTooLarge(
                f"{name}: result would have about {bits} bits, more than the limit of "
                f"{self._max_int_bits}"
            )


def _number(value: Any) -> Number:
    """Accept ints and floats only; bool is refused although it is an int."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParams(f"expected a number, got {type(value).__name__}")
    return value


def _bits(value: int) -> int:
    return max(abs(value).bit_length(), 1)


def _text(value: Any) -> str:
    """Names may arrive as base64 bytes (XMLRPC::Lite sends Latin-1 that way)."""
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(value).decode("latin-1")
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
        return str(value)
    raise InvalidParams(f"expected a string, got {type(value).__name__}")
