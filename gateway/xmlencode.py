"""Writing XML-RPC responses: one list of string pieces, dispatch on exact types.

The output is byte for byte what ``xmlrpc.client.Marshaller`` writes (same
layout, same escaping), with the gateway's rules: ints beyond 32 bits as
``<i8>`` and a fault beyond 64 bits, no non-finite doubles, characters XML
1.0 forbids dropped from strings and names. It is faster because the common
types (str, int, bool, float, None, list, tuple, dict) are written inline
without a method dispatch per value, and an array of plain 32-bit ints is
written with one ``str.join``. Anything else (bytes, datetimes, wrappers,
arbitrary objects) goes through the stdlib Marshaller for that value.

In Apache's dialect (a request that declared its extensions namespace) the
types Apache's client reads only in that namespace are written there:
``<ex:i8>``, ``<ex:nil/>``, ``<ex:biginteger>`` beyond 64 bits,
``<ex:bigdecimal>``, and the response declares the namespace.
"""

from __future__ import annotations

import base64
import datetime
from math import isfinite
import re
import xmlrpc.client
from decimal import Decimal
from typing import Any, Callable

from gateway import faults
from gateway.xmldates import WireDateTime
from gateway.xmldecode import APACHE_NAMESPACE

INT_MIN, INT_MAX = xmlrpc.client.MININT, xmlrpc.client.MAXINT
I8_MIN, I8_MAX = -(2**63), 2**63 - 1
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NEEDS_WORK = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_HEAD = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n"
_APACHE_HEAD = (f"<?xml version='1.0'?>\n<methodResponse xmlns:ex=\"{APACHE_NAMESPACE}\">\n"
                "<params>\n<param>\n")
_TAIL = "</param>\n</params>\n</methodResponse>\n"
_INTS_JOIN = "</int></value>\n<value><int>"
_JUST_INT = {int}


def text(value: str) -> str:
    """``value`` escaped for element content, XML-forbidden characters dropped."""
    if _NEEDS_WORK.search(value) is None:
        return value
    if XML_FORBIDDEN.search(value) is not None:
        value = XML_FORBIDDEN.sub("", value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def dump_response(result: Any, apache: bool = False) -> bytes:
    out = [_APACHE_HEAD if apache else _HEAD]
    _Writer(out.append, apache).dump(result)
    out.append(_TAIL)
    return "".join(out).encode("utf-8", "xmlcharrefreplace")


def dump_fault(code: int, message: str) -> bytes:
    fault = xmlrpc.client.Fault(code, XML_FORBIDDEN.sub("", message))
    return xmlrpc.client.dumps(fault, methodresponse=True).encode("utf-8", "xmlcharrefreplace")


class _Writer:
    """Writes one value tree through ``write``; refuses recursive containers."""

    def __init__(self, write: Callable[[str], Any], apache: bool) -> None:
        self.write = write
        self.apache = apache
        self.open: set[int] = set()  # ids of the containers being written

    def dump(self, value: Any) -> None:
        kind = type(value)
        if kind is str:
            self.write(f"<value><string>{text(value)}</string></value>\n")
        elif kind is int:
            self.write(self.integer(value))
        elif kind is dict:
            self.struct(value)
        elif kind is list or kind is tuple:
            self.array(value)
        elif kind is float:
            self.write(f"<value><double>{double(value)}</double></value>\n")
        elif kind is bool:
            self.write("<value><boolean>1</boolean></value>\n" if value else
                       "<value><boolean>0</boolean></value>\n")
        elif value is None:
            self.write("<value><ex:nil/></value>" if self.apache else "<value><nil/></value>")
        else:
            self.other(value)

    def integer(self, value: int) -> str:
        if INT_MIN <= value <= INT_MAX:
            return f"<value><int>{value}</int></value>\n"
        tag = "ex:i8" if self.apache else "i8"
        if I8_MIN <= value <= I8_MAX:
            return f"<value><{tag}>{value}</{tag}></value>\n"
        if self.apache:
            return f"<value><ex:biginteger>{value}</ex:biginteger></value>\n"
        raise faults.RPCError(
            "the result is an integer beyond 64 bits, which XML-RPC cannot carry; "
            "use JSON-RPC for it", faults.INVALID_PARAMS)

    def array(self, values: list | tuple) -> None:
        key, open_ = id(values), self.open
        if key in open_:
            raise TypeError("cannot marshal recursive sequences")
        open_.add(key)
        write, plain = self.write, _NEEDS_WORK.search
        write("<value><array><data>\n")
        if len(values) > 8 and _all_plain_ints(values):
            # A list's repr writes every int in C: "[1, 2]" becomes the digits we need.
            digits = repr(values if type(values) is list else list(values))[1:-1]
            write(f"<value><int>{digits.replace(', ', _INTS_JOIN)}</int></value>\n")
        else:
            for value in values:  # the common scalars inline: this runs once per item
                kind = type(value)
                if kind is str and plain(value) is None:
                    write(f"<value><string>{value}</string></value>\n")
                elif kind is int and INT_MIN <= value <= INT_MAX:
                    write(f"<value><int>{value}</int></value>\n")
                else:
                    self.dump(value)
        write("</data></array></value>\n")
        open_.discard(key)

    def struct(self, members: dict) -> None:
        key, open_ = id(members), self.open
        if key in open_:
            raise TypeError("cannot marshal recursive dictionaries")
        open_.add(key)
        write, plain = self.write, _NEEDS_WORK.search
        write("<value><struct>\n")
        for name, value in members.items():
            if type(name) is not str and not isinstance(name, str):
                raise TypeError("dictionary key must be string")
            head = f"<member>\n<name>{name if plain(name) is None else text(name)}</name>\n"
            kind = type(value)
            if kind is str and plain(value) is None:
                write(f"{head}<value><string>{value}</string></value>\n</member>\n")
            elif kind is int and INT_MIN <= value <= INT_MAX:
                write(f"{head}<value><int>{value}</int></value>\n</member>\n")
            elif kind is bool:
                write(f"{head}<value><boolean>{int(value)}</boolean></value>\n</member>\n")
            elif kind is float and isfinite(value):
                write(f"{head}<value><double>{value!r}</double></value>\n</member>\n")
            else:
                write(head)
                self.dump(value)
                write("</member>\n")
        write("</struct></value>\n")
        open_.discard(key)

    def other(self, value: Any) -> None:
        """The rarer types: base64, dateTime, Apache's bigdecimal, stdlib wrappers, objects."""
        kind = type(value)
        if kind is bytes or kind is bytearray:
            self.write("<value><base64>\n%s</base64></value>\n"
                       % base64.encodebytes(value).decode("ascii"))
        elif kind is WireDateTime and value.text is not None:
            tag = value.tag if self.apache else "dateTime.iso8601"
            self.write(f"<value><{tag}>{text(value.text)}</{tag}></value>\n")
        elif kind is Decimal:
            if not self.apache:
                raise faults.RPCError("the result is a decimal (ex:bigdecimal), which only "
                                      "Apache's extensions carry", faults.INVALID_PARAMS)
            self.write(f"<value><ex:bigdecimal>{value}</ex:bigdecimal></value>\n")
        elif kind is datetime.datetime or kind is WireDateTime:  # the spec's form, naive
            self.write("<value><dateTime.iso8601>%04d%02d%02dT%02d:%02d:%02d"
                       "</dateTime.iso8601></value>\n" % value.timetuple()[:6])
        else:
            body = GatewayMarshaller("utf-8", allow_none=True).dumps((value,))
            self.write(body[len("<params>\n<param>\n"):-len("</param>\n</params>\n")])


def _all_plain_ints(values: list | tuple) -> bool:
    """True when every item is an int (not a bool) that fits ``<int>``."""
    return (set(map(type, values)) == _JUST_INT
            and INT_MIN <= min(values) and max(values) <= INT_MAX)


def double(value: float) -> str:
    if not isfinite(value):
        raise faults.RPCError("the result is not a finite number", faults.INVALID_PARAMS)
    return repr(value)


class GatewayMarshaller(xmlrpc.client.Marshaller):
    """The stdlib Marshaller with the gateway's rules, for the types written rarely.

    Values inside an arbitrary object's ``__dict__`` (which the stdlib writes
    as a struct) come through here too, so ints, strings and doubles keep the
    same rules as everywhere else.
    """

    dispatch = dict(xmlrpc.client.Marshaller.dispatch)

    def dump_int(self, value: int, write: Any) -> None:
        write(_Writer(write, False).integer(value))

    dispatch[int] = dump_int

    def dump_str(self, value: str, write: Any) -> None:
        write(f"<value><string>{text(value)}</string></value>\n")

    dispatch[str] = dump_str

    def dump_double(self, value: float, write: Any) -> None:
        write(f"<value><double>{double(value)}</double></value>\n")

    dispatch[float] = dump_double
