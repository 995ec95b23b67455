"""The calculator service on its own: no sockets, no protocol, just the methods' contract.

The semantics come from the reference notes (subtract is ``abs(a - b)``,
``hello``/``listinfo`` formats, ``pow`` like the builtin); errors are
``ServiceError`` subclasses carrying the code the gateway reports.
"""

from __future__ import annotations

import inspect
import math

import pytest

from handlers import Calculator, DivisionByZero, InvalidParams, ResultTooLarge, ServiceError


@pytest.fixture
def calc() -> Calculator:
    return Calculator()


@pytest.mark.parametrize("a, b, total", [(1, 2, 3), (-5, 5, 0), (0.5, 0.25, 0.75),
                                         (2**70, 1, 2**70 + 1)])
def test_add(calc, a, b, total):
    assert calc.add(a, b) == total
    assert type(calc.add(a, b)) is type(total)


@pytest.mark.parametrize("a, b, difference", [(42, 23, 19), (23, 42, 19), (-3, 4, 7),
                                              (1.5, 4, 2.5), (7, 7, 0)])
def test_subtract_is_the_absolute_difference(calc, a, b, difference):
    assert calc.subtract(a, b) == difference


def test_multiply(calc):
    assert calc.multiply(4, 5) == 20
    assert calc.multiply(-2, 0.5) == -1.0


def test_divide_returns_a_float(calc):
    assert calc.divide(7, 2) == 3.5
    assert calc.divide(6, 3) == 2.0 and isinstance(calc.divide(6, 3), float)


@pytest.mark.parametrize("b", [0, 0.0, -0.0])
def test_divide_by_zero_is_a_service_error(calc, b):
    with pytest.raises(DivisionByZero) as error:
        calc.divide(1, b)
    assert error.value.code == -32000


def test_pow_like_the_builtin(calc):
    assert calc.pow(2, 10) == 1024
    assert calc.pow(3, 4, 5) == pow(3, 4, 5)
    assert calc.pow(2.0, 0.5) == pytest.approx(math.sqrt(2))
    assert calc.pow(2, -1) == 0.5
    assert calc.pow(3, -1, 7) == pow(3, -1, 7)  # modular inverse


@pytest.mark.parametrize("args", [(2.0, 3, 5), (2, 3, 0)], ids=["float-with-modulus",
                                                                "zero-modulus"])
def test_pow_three_argument_errors(calc, args):
    with pytest.raises(ServiceError):
        calc.pow(*args)


def test_pow_without_inverse_is_invalid_params(calc):
    with pytest.raises(InvalidParams) as error:
        calc.pow(2, -1, 4)
    assert error.value.code == -32602


def test_zero_to_a_negative_power_is_a_service_error(calc):
    with pytest.raises(DivisionByZero):
        calc.pow(0, -1)


def test_complex_result_is_refused(calc):
    with pytest.raises(InvalidParams):
        calc.pow(-8, 1 / 3)


def test_getpow(calc):
    assert calc.getpow(2, 5) == 32
    assert calc.getpow(2, 70) == 2**70


def test_float_overflow_is_result_too_large(calc):
    with pytest.raises(ResultTooLarge):
        calc.getpow(10.0, 400)


def test_integer_results_are_bounded_before_they_are_computed():
    small = Calculator(max_int_bits=64)
    with pytest.raises(ResultTooLarge) as error:
        small.getpow(2, 200)
    assert error.value.code == -32602
    with pytest.raises(ResultTooLarge):
        small.multiply(2**40, 2**40)
    with pytest.raises(ResultTooLarge):
        Calculator().pow(10, 10**9)  # refused at once, never computed


@pytest.mark.parametrize("limit, base, exponent", [(64, 2, 63), (14_000, 2, 10_000),
                                                   (14_000, 10, 4_000)])
def test_results_within_the_bit_limit_are_computed(limit, base, exponent):
    # The limit is the result's size in bits: 2**63 has 64, 10**4000 has 13288.
    result = Calculator(max_int_bits=limit).getpow(base, exponent)
    assert result == base ** exponent and result.bit_length() <= limit


def test_ping_returns_anything_unchanged(calc):
    for value in (None, 0, "", [1, {"a": None}], b"\x00", 1.5, True):
        assert calc.ping(value) is value


def test_hello_and_listinfo_formats(calc):
    assert calc.hello("RPC") == "Hello, RPC"
    assert calc.listinfo("this is test string") == "get info : this is test string"


def test_text_methods_accept_bytes_from_base64(calc):
    assert calc.hello(b"Jos\xc3\xa9") == "Hello, José"  # UTF-8
    assert calc.hello(b"Jos\xe9") == "Hello, José"  # Latin-1, as XMLRPC::Lite sends it
    assert calc.listinfo(7) == "get info : 7"


@pytest.mark.parametrize("value", [[1], {"a": 1}, None, float("nan")], ids=repr)
def test_text_methods_refuse_non_text(calc, value):
    with pytest.raises(InvalidParams):
        calc.hello(value)


@pytest.mark.parametrize("method", ["add", "subtract", "multiply", "divide", "getpow"])
@pytest.mark.parametrize("bad", ["1", None, True, [1], {"a": 1}], ids=repr)
def test_arithmetic_refuses_non_numbers(calc, method, bad):
    with pytest.raises(InvalidParams) as error:
        getattr(calc, method)(bad, 1)
    assert error.value.code == -32602
    assert type(bad).__name__ in str(error.value)


def test_every_public_method_has_a_docstring_and_type_hints():
    methods = [name for name, _ in inspect.getmembers(Calculator, inspect.isfunction)
               if not name.startswith("_")]
    assert sorted(methods) == ["add", "divide", "getpow", "hello", "listinfo", "multiply",
                               "ping", "pow", "streaming_range", "subtract"]
    for name in methods:
        function = getattr(Calculator, name)
        assert inspect.getdoc(function), name
        signature = inspect.signature(function)
        assert signature.return_annotation is not inspect.Signature.empty, name
        for parameter in list(signature.parameters.values())[1:]:
            assert parameter.annotation is not inspect.Parameter.empty, (name, parameter)
