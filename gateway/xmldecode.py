"""Reading an XML-RPC ``methodCall`` into (method name, params), safely and fast.

Two readers, one answer. The event reader is the reference: expat events
from defusedxml's parser (DTDs, entity declarations and external references
refused) go into a value stack with the stdlib ``Unmarshaller``'s semantics
(untyped ``<value>`` is a string, namespace prefixes are ignored, a struct
is built from name/value pairs), with less work per element than the
stdlib: character data goes to ``list.append`` directly, expat buffers text
runs, and end tags dispatch through one module-level table. Large bodies
(where the per-element Python callbacks are the whole cost) are read by
:mod:`gateway.xmltree` instead, after defusedxml's parser has checked the
prolog, the only place XML allows a DTD; any layout the tree reader does
not know goes back to the event reader. Before either, the common small
call of plain scalars is matched whole by :mod:`gateway.xmlsimple`.

Dialects read here beyond the stdlib's: ``<boolean>`` as ``true``/``false``,
the ``dateTime.iso8601`` forms of :mod:`gateway.xmldates`, Apache's
``ex:dateTime``, and UTF-16 surrogate pairs written as two character
references (Java clients), which expat alone refuses. A request that
declares Apache's extensions namespace is answered in that dialect.
"""

from __future__ import annotations

import binascii
import re
from itertools import accumulate
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, Callable, NamedTuple
from xml.parsers import expat

from defusedxml.common import DefusedXmlException
from defusedxml.xmlrpc import DefusedExpatParser

from gateway import faults
from gateway.xmldates import parse_datetime
from gateway.xmlsimple import read_simple
from gateway.xmltree import APACHE_NAMESPACE, read_tree

_APACHE_NAMESPACE_BYTES = APACHE_NAMESPACE.encode("ascii")
_CONTAINERS = frozenset(("array", "struct"))
_TREE_FROM_BYTES = 4096  # below this, building a tree costs more than it saves
_MIN_BYTES_PER_ELEMENT = 8  # the densest XML-RPC: an array of <value/>
_REFUSED = {  # Apache's extensions that carry Java objects or DOM trees, not data
    "serializable": "Apache's ex:serializable (a serialized Java object) is not accepted",
    "dom": "Apache's ex:dom (an XML DOM node) is not accepted",
}
_BOOLEANS = {"1": True, "0": False, "true": True, "false": False}


class Call(NamedTuple):
    """A parsed call; ``apache`` when the request used Apache's extensions namespace."""

    method: str
    params: tuple
    apache: bool = False


class _Reader:
    """The per-document state and the expat handlers that fill it (the stdlib's semantics)."""

    def __init__(self, max_depth: int) -> None:
        self.stack: list[Any] = []
        self.push = self.stack.append
        self.marks: list[int] = []
        self.text: list[str] = []
        self.max_depth = max_depth
        self.in_value = False  # the last start tag was <value>: untyped text is a string
        self.kind: str | None = None  # "params", "methodName" or "fault", as the stdlib tracks
        self.method: str | None = None
        self.apache = False

    def start(self, tag: str, attrs: dict) -> None:
        if ":" in tag:
            tag = tag.rpartition(":")[2]
        if tag in _CONTAINERS:
            self.marks.append(len(self.stack))
            if len(self.marks) > self.max_depth:
                raise faults.InvalidRequest(
                    f"values nested deeper than {self.max_depth} levels")
        self.text.clear()
        if self.in_value and tag not in _ENDS:
            raise faults.InvalidRequest(_REFUSED.get(tag, f"unknown value type <{tag}>"))
        self.in_value = tag == "value"

    def start_noting_namespaces(self, tag: str, attrs: dict) -> None:
        """``start`` for bodies that mention Apache's namespace: is it declared?"""
        if attrs and APACHE_NAMESPACE in attrs.values():
            self.apache = True
        self.start(tag, attrs)

    def end(self, tag: str) -> None:
        handler = _ENDS.get(tag)
        if handler is None:
            if ":" not in tag:
                return  # an element XML-RPC does not define: ignored, as the stdlib does
            handler = _ENDS.get(tag.rpartition(":")[2])
            if handler is None:
                return
        handler(self, "".join(self.text))

    def end_value(self, text: str) -> None:
        if self.in_value:  # an untyped value is a string; the enclosing </value> is not
            self.push(text)
            self.in_value = False

    def end_boolean(self, text: str) -> None:
        try:
            self.push(_BOOLEANS[text.strip().lower()])
        except KeyError:
            raise TypeError("bad boolean value") from None

    def end_array(self, text: str) -> None:
        mark = self.marks.pop()
        self.stack[mark:] = [self.stack[mark:]]

    def end_struct(self, text: str) -> None:
        mark = self.marks.pop()
        items = self.stack[mark:]
        if len(items) % 2:
            raise faults.InvalidRequest("a struct member lacks its name or its value")
        pairs = iter(items)
        self.stack[mark:] = [dict(zip(pairs, pairs))]

    def end_method_name(self, text: str) -> None:
        self.method = text
        self.kind = "methodName"

    def call(self) -> Call:
        if self.kind is None or self.marks or self.kind == "fault":
            raise faults.InvalidRequest("not an XML-RPC methodCall")
        if not isinstance(self.method, str) or not self.method:
            raise faults.InvalidRequest("not an XML-RPC methodCall (no methodName)")
        return Call(self.method, tuple(self.stack), self.apache)


def _converting(convert: Callable[[str], Any]) -> Callable[[_Reader, str], None]:
    return lambda reader, text: reader.push(convert(text))


def _kind(kind: str) -> Callable[[_Reader, str], None]:
    return lambda reader, text: setattr(reader, "kind", kind)


def _base64(text: str) -> bytes:
    return binascii.a2b_base64(text.encode("ascii"))


# End tag (local name) -> handler(reader, text). The stdlib's types, its Apache
# ex: types read by local name (i1, i2, biginteger, float, bigdecimal), and
# Apache's ex:dateTime.
_ENDS: dict[str, Callable[[_Reader, str], None]] = {
    "value": _Reader.end_value, "string": _converting(str), "name": _converting(str),
    "int": _converting(int), "i4": _converting(int), "i8": _converting(int),
    "i1": _converting(int), "i2": _converting(int), "biginteger": _converting(int),
    "double": _converting(float), "float": _converting(float),
    "bigdecimal": _converting(Decimal), "boolean": _Reader.end_boolean,
    "nil": lambda reader, text: reader.push(None), "base64": _converting(_base64),
    "dateTime.iso8601": _converting(parse_datetime),
    "dateTime": _converting(lambda text: parse_datetime(text, "ex:dateTime")),
    "array": _Reader.end_array, "struct": _Reader.end_struct,
    "params": _kind("params"), "fault": _kind("fault"), "methodName": _Reader.end_method_name,
}


def parse_call(body: bytes, max_depth: int) -> Call:
    """Return the call in ``body`` or raise ParseError / InvalidRequest / InvalidParams."""
    simple = read_simple(body)  # the common small call; None: the readers decide
    if simple is not None:
        return Call(*simple)
    return read_call(body, max_depth)


def read_call(body: bytes, max_depth: int) -> Call:
    """``parse_call`` by the readers alone: the reference the shortcut is held to."""
    body = _ascii_declared_as_utf8(body)
    try:
        return _read(body, max_depth)
    except faults.ParseError:
        joined = _join_surrogate_references(body)
        if joined is body:
            raise
        return _read(joined, max_depth)


def _read(body: bytes, max_depth: int) -> Call:
    """Refuse what defusedxml refuses, then read with the tree when that is safe and fast."""
    mentions_apache = _APACHE_NAMESPACE_BYTES in body
    if (len(body) < _TREE_FROM_BYTES or b"\0" in body  # UTF-16/32: the byte checks see nothing
            or _denser_than_xmlrpc(body) or _may_nest_deeper(body, max_depth)):
        return _read_events(body, max_depth, mentions_apache)
    root_attributes = _refuse_what_defusedxml_refuses(body)
    apache = APACHE_NAMESPACE in root_attributes.values()  # where Apache's client declares it
    if mentions_apache and not apache:
        return _read_events(body, max_depth, True)  # declared deeper, or only quoted in a string
    call = read_tree(body, max_depth)
    if call is None:
        return _read_events(body, max_depth, mentions_apache)
    return Call(*call, apache)


class _RootReached(Exception):
    """The prolog is over: no DTD can follow. Carries the root element's attributes."""


def _stop_at_root(tag: str, attrs: dict) -> None:
    raise _RootReached(attrs)


def _refuse_what_defusedxml_refuses(body: bytes) -> dict[str, str]:
    """Run defusedxml's parser over the prolog: the only place a DTD can be.

    XML allows a document type declaration (and with it entity declarations)
    only before the root element, so when defusedxml's parser reaches the root
    start tag without refusing anything, the rest of the document cannot hold
    a DTD or an entity, and the tree reader may parse it. Returns the root
    element's attributes (namespace declarations among them).
    """
    try:
        _expat(SimpleNamespace(start=_stop_at_root, end=None, data=None,
                               xml=lambda *declaration: None), body)
    except _RootReached as root:
        return root.args[0]
    return {}  # no root element: the tree reader finds nothing, the event reader says why


def _read_events(body: bytes, max_depth: int, apache: bool) -> Call:
    reader = _Reader(max_depth)
    start = reader.start_noting_namespaces if apache else reader.start
    _expat(SimpleNamespace(start=start, end=reader.end, data=reader.text.append,
                           xml=lambda *declaration: None), body)
    return reader.call()


def _expat(target: SimpleNamespace, body: bytes) -> None:
    """Parse ``body`` with defusedxml's expat parser into ``target``'s handlers."""
    parser = DefusedExpatParser(target, forbid_dtd=True)
    parser._parser.buffer_text = True  # one data event per text run, not per line or reference
    try:
        parser.feed(body)
        parser.close()
    except faults.RPCError:
        raise
    except DefusedXmlException:
        raise faults.ParseError("DTDs and entity declarations are not accepted") from None
    except expat.ExpatError as error:
        raise faults.ParseError(f"not well-formed XML ({expat.ErrorString(error.code)}, "
                                f"line {error.lineno})") from None
    except ValueError as error:
        if "encoding" in str(error):  # pyexpat: "multi-byte encodings are not supported"
            raise faults.ParseError("the XML declares an encoding that is not supported") \
                from None
        raise faults.InvalidParams("a value does not match its type tag") from None
    except (TypeError, OverflowError, ArithmeticError):
        raise faults.InvalidParams("a value does not match its type tag") from None


def _denser_than_xmlrpc(body: bytes) -> bool:
    """More elements per byte than XML-RPC writes (``<value/>``: 8 bytes each): junk.

    The event reader refuses a body at its first element XML-RPC does not
    define, the tree reader only after building the whole tree. Keeping the
    tree reader to bodies of XML-RPC's density bounds what junk can cost it
    to what a real call of the same size costs the event reader.
    """
    elements = body.count(b"<") - body.count(b"</")  # start and empty-element tags
    return elements * _MIN_BYTES_PER_ELEMENT > len(body)


_CONTAINER_TAG = re.compile(rb"<(/?)(?:array|struct)")
_DEPTH_STEP = {b"": 1, b"/": -1}


def _may_nest_deeper(body: bytes, max_depth: int) -> bool:
    """False when the array/struct tags of ``body`` surely nest at most ``max_depth`` deep.

    The event reader refuses too deep a nesting at the first tag beyond the
    bound; the tree reader would first build the whole tree, so a deeply
    nested body goes to the event reader. The estimate is never below the
    real depth: a self-closed ``<array/>`` counts as an open tag only, and a
    body with prefixed ones (``<x:array>``, which no client sends) goes to
    the event reader.
    """
    if body.count(b"array") + body.count(b"struct") <= max_depth:
        return False  # the usual large call: one big array or struct
    if b":array" in body or b":struct" in body:
        return True
    steps = map(_DEPTH_STEP.__getitem__, _CONTAINER_TAG.findall(body))
    return max(accumulate(steps), default=0) > max_depth


_ASCII_DECLARATION = re.compile(
    rb"""\s*<\?xml\s[^>]*?encoding\s*=\s*["'](us-ascii|ascii)["']""", re.IGNORECASE)


def _ascii_declared_as_utf8(body: bytes) -> bytes:
    """Perl's RPC::XML declares encoding="us-ascii" but writes UTF-8 bytes.

    US-ASCII is a subset of UTF-8, so reading the document as UTF-8 changes
    nothing for a valid one, and gives the caller's text instead of a parse
    error for the others.
    """
    if body.isascii():
        return body
    match = _ASCII_DECLARATION.match(body)
    if match is None:
        return body
    return body[:match.start(1)] + b"utf-8" + body[match.end(1):]


_SURROGATE_PAIR = re.compile(
    rb"&#(?:(5[56]\d\d\d)|[xX]([dD][89abAB][0-9a-fA-F][0-9a-fA-F]));"
    rb"&#(?:(5[67]\d\d\d)|[xX]([dD][c-fC-F][0-9a-fA-F][0-9a-fA-F]));")


def _join_surrogate_references(body: bytes) -> bytes:
    """``&#55357;&#56832;`` (UTF-16 halves, as Java writes them) as ``&#128512;``.

    XML forbids references to surrogates, so expat refuses the document; this
    runs only then, and returns ``body`` itself when there is no pair to join.
    """
    def join(match: re.Match) -> bytes:
        high = int(match[1]) if match[1] else int(match[2], 16)
        low = int(match[3]) if match[3] else int(match[4], 16)
        if not (0xD800 <= high <= 0xDBFF and 0xDC00 <= low <= 0xDFFF):
            return match[0]
        return b"&#%d;" % (0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))

    joined, count = _SURROGATE_PAIR.subn(join, body)
    return joined if count and joined != body else body
