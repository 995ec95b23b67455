"""The calculator: the union of the methods in the reference notes, served once.

Results are bounded before they are computed: an integer result may have at
most ``max_int_bits`` bits, so ``pow(10, 10**9)`` is refused in microseconds
instead of holding a thread for minutes and then failing to serialise.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from handlers.errors import DivisionByZero, InvalidParams, ResultTooLarge

Number = int | float

MODPOW_WORK = 1 << 36  # bits(y) * bits(z) ** 2 for pow(x, y, z): at most ~0.2 s of CPU
DEFAULT_MAX_INT_BITS = 14_000  # a little under Python's 4300-digit str() limit


class Calculator:
    """Arithmetic and echo methods; every public method is an RPC method."""

    def __init__(self, max_int_bits: int = DEFAULT_MAX_INT_BITS) -> None:
        self.max_int_bits = max_int_bits  # limits.max_int_bits; a reload sets it anew

    def add(self, a: Number, b: Number) -> Number:
        """Return a + b."""
        return _finite("add", lambda: _number(a) + _number(b))

    def subtract(self, a: Number, b: Number) -> Number:
        """Return |a - b| (the legacy semantics: never negative)."""
        return _finite("subtract", lambda: abs(_number(a) - _number(b)))

    def multiply(self, a: Number, b: Number) -> Number:
        """Return a * b."""
        a, b = _number(a), _number(b)
        if isinstance(a, int) and isinstance(b, int):
            self._check_bits(_bits(a) + _bits(b), "multiply")
        return _finite("multiply", lambda: a * b)

    def divide(self, a: Number, b: Number) -> float:
        """Return a / b as a float; dividing by zero is a service error."""
        a, b = _number(a), _number(b)
        if b == 0:
            raise DivisionByZero("division by zero")
        return _finite("divide", lambda: a / b)

    def pow(self, x: Number, y: Number, z: int | None = None) -> Number:
        """Return x ** y, or x ** y % z with three arguments (like the builtin)."""
        x, y = _number(x), _number(y)
        if z is not None:
            if not all(isinstance(v, int) for v in (x, y, z)):
                raise InvalidParams("pow: all three arguments must be integers")
            if z == 0:
                raise DivisionByZero("pow: modulus is zero")
            self._check_bits(_bits(z), "pow")  # the result is smaller than the modulus
            if _bits(y) * _bits(z) ** 2 > MODPOW_WORK:
                raise ResultTooLarge("pow: exponent and modulus are too large to compute")
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
            # |x| >= 2, so the result has more than y bits; refuse a huge y before it meets
            # a float (int too large to convert). Else |x| ** y has floor(y*log2|x|)+1 bits.
            if y > self.max_int_bits:
                raise ResultTooLarge(f"{name}: result would have more than "
                                     f"{self.max_int_bits} bits")
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
        if bits > self.max_int_bits:
            raise ResultTooLarge(
                f"{name}: result would have about {bits} bits, more than the limit of "
                f"{self.max_int_bits}"
            )


def _finite(name: str, compute: Callable[[], Number]) -> Number:
    """A float overflow or a non-finite result is refused, never returned."""
    try:
        result = compute()
    except OverflowError:
        raise ResultTooLarge(f"{name}: result is too large for a double") from None
    if isinstance(result, float) and not math.isfinite(result):
        raise ResultTooLarge(f"{name}: the result is not a finite number")
    return result


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
