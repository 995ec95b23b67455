"""The fast way to read a large, regular ``methodCall``: a C-built tree, walked once.

Most of the stdlib's parsing time goes into calling Python for every start
tag, end tag and text run. ElementTree's C parser builds the whole tree
without calling Python at all, and walking that tree costs a fraction of
the callbacks. The walk accepts only the regular shapes the spec describes
(``<value>`` holding one typed element or bare text, ``<array><data>``,
``<struct>`` of ``<member><name/><value/></member>``); for anything else it
returns None and the caller reads the document with the event reader, whose
semantics (the stdlib's) are the reference. So this module changes speed,
never answers.

It must only see bodies whose prolog defusedxml's parser has accepted (so
no DTD, hence no entity declarations and no external references, which XML
allows nowhere else). The walk recurses once per array or struct, at most
``max_depth`` deep.
"""

from __future__ import annotations

import binascii
import xml.etree.ElementTree as ElementTree
from decimal import Decimal
from typing import Any, Callable

from gateway.xmldates import parse_datetime

APACHE_NAMESPACE = "http://ws.apache.org/xmlrpc/namespaces/extensions"  # its ex: types


class Irregular(Exception):
    """The document is not in the regular shape: read it with the event reader."""


def _boolean(text: str) -> bool:
    if text == "1" or text == "true":
        return True
    if text == "0" or text == "false":
        return False
    raise Irregular  # the event reader raises the same fault as everywhere else


def _nil(text: str) -> None:
    return None


def _array(element: ElementTree.Element, room: int) -> list:
    """``room``: how many more arrays/structs may nest here, counting this one."""
    if len(element) != 1 or element[0].tag != "data" or room <= 0:
        raise Irregular
    values: list = []
    append = values.append
    for item in element[0]:  # plain <value><int> inline: arrays of ints are the common big case
        if len(item) == 1 and item.tag == "value":
            typed = item[0]
            if typed.tag == "int" and not len(typed):
                append(int(typed.text))
                continue
        append(_value(item, room - 1))
    return values


def _struct(element: ElementTree.Element, room: int) -> dict:
    if room <= 0:
        raise Irregular
    members = {}
    for member in element:
        if member.tag != "member" or len(member) != 2:
            raise Irregular
        name, value = member
        if name.tag != "name" or len(name):
            raise Irregular
        members[name.text or ""] = _value(value, room - 1)
    return members


# Readers of the text of a type element without children. An empty <array/>
# or <struct/> is an empty container, as for the stdlib. ElementTree names
# elements of Apache's extensions namespace "{namespace}local".
_LEAVES: dict[str, Callable[[str], Any]] = {
    "int": int, "i4": int, "i8": int, "string": str, "double": float, "boolean": _boolean,
    "nil": _nil, "base64": lambda text: binascii.a2b_base64(text.encode("ascii")),
    "dateTime.iso8601": parse_datetime, "array": lambda text: [], "struct": lambda text: {},
    **{f"{{{APACHE_NAMESPACE}}}{local}": reader for local, reader in (
        ("i1", int), ("i2", int), ("i8", int), ("biginteger", int), ("float", float),
        ("nil", _nil), ("bigdecimal", Decimal),
        ("dateTime", lambda text: parse_datetime(text, "ex:dateTime")))},
}


def _value(element: ElementTree.Element, room: int) -> Any:
    """One <value>; the common leaf types inline, since this runs once per value."""
    if element.tag != "value":
        raise Irregular
    if len(element) != 1:
        if len(element):
            raise Irregular
        return element.text or ""  # no type element: a string, by the spec
    typed = element[0]
    tag = typed.tag
    if len(typed):
        if tag == "struct":
            return _struct(typed, room)
        if tag == "array":
            return _array(typed, room)
        raise Irregular
    if tag == "int" or tag == "i4":
        return int(typed.text)  # None (empty) is a TypeError: the event reader says why
    if tag == "string":
        return typed.text or ""
    try:
        reader = _LEAVES[tag]
    except KeyError:
        raise Irregular from None
    return reader(typed.text or "")


def read_tree(body: bytes, max_depth: int) -> tuple[str, tuple] | None:
    """(method name, params) of a regular ``methodCall``, or None to use the event reader.

    Arrays and structs nested deeper than ``max_depth`` give None too: the
    event reader refuses them with the fault that names the bound.
    """
    try:
        root = ElementTree.fromstring(body)
        if root.tag != "methodCall" or not 1 <= len(root) <= 2:
            return None
        method = root[0]
        if method.tag != "methodName" or len(method) or not method.text:
            return None
        params: tuple = ()
        if len(root) == 2:
            params = tuple(_param(param, max_depth) for param in _children(root[1], "params"))
        return method.text, params
    except (Irregular, ElementTree.ParseError, ValueError, TypeError, ArithmeticError,
            RecursionError):
        return None  # the event reader reads it again and names the error


def _children(element: ElementTree.Element, tag: str) -> ElementTree.Element:
    if element.tag != tag:
        raise Irregular
    return element


def _param(param: ElementTree.Element, max_depth: int) -> Any:
    if param.tag != "param" or len(param) != 1:
        raise Irregular
    return _value(param[0], max_depth)
