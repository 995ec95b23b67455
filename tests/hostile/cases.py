"""The catalogue itself: every class of hostile input issue 4 names, each with its right answer.

Two gateway configurations serve it (see ``tests/test_hostile.py``): "small"
has tight limits so oversized requests stay small and fast; "default" has the
shipped defaults, for the 100,000-level nesting cases that need a big body.
"""

from __future__ import annotations

import gzip
import json
import xmlrpc.client

from tests.hostile.catalogue import (
    INTERNAL, INVALID, NOT_FOUND, PARAMS, PARSE, SERVICE, Case, Expect, billion_laughs,
    bomb, chunk_size_spelled, digits, endless_bytes, endless_chunks, entries, error, hints,
    http, json_call, json_post, json_with_number, multicall, nested, no_answer, result,
    with_content_length, xml_call, xml_post, xml_value, xml_with_ints)
from tests.hostile.wire import chunked, request

DTD_REFUSED = error(PARSE)
ADD = {"methodName": "add", "params": [1, 2]}
ADD_JSON = {"jsonrpc": "2.0", "method": "add", "params": [1, 2], "id": 1}
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"


XML_ENTITIES = [
    Case("billion laughs", lambda t: xml_post(billion_laughs()), DTD_REFUSED),
    Case("billion laughs in UTF-16",
         lambda t: xml_post(billion_laughs().replace("version='1.0'",
                                                     "version='1.0' encoding='utf-16'")
                            .encode("utf-16")), DTD_REFUSED),
    Case("quadratic blowup", lambda t: xml_post(xml_value(
        "<string>" + "&x;" * 1000 + "</string>",
        prolog=f'<!DOCTYPE m [<!ENTITY x "{"y" * 50000}">]>')), DTD_REFUSED),
    Case("external entity file:///etc/passwd", lambda t: xml_post(xml_value(
        "<string>&x;</string>",
        prolog='<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>')), DTD_REFUSED),
    Case("external entity on a loopback URL", lambda t: xml_post(xml_value(
        "<string>&x;</string>", prolog=f'<!DOCTYPE m [<!ENTITY x SYSTEM "{t.trap_url}">]>')),
        DTD_REFUSED),
    Case("external DTD on a loopback URL", lambda t: xml_post(xml_value(
        "<string>1</string>", prolog=f'<!DOCTYPE methodCall SYSTEM "{t.trap_url}">')),
        DTD_REFUSED),
    Case("parameter entity on a loopback URL", lambda t: xml_post(xml_value(
        "<string>1</string>",
        prolog=f'<!DOCTYPE m [<!ENTITY % p SYSTEM "{t.trap_url}"> %p;]>')), DTD_REFUSED),
    Case("internal DTD without entities", lambda t: xml_post(xml_value(
        "<string>1</string>", prolog="<!DOCTYPE methodCall [<!ELEMENT methodCall ANY>]>")),
        DTD_REFUSED),
    Case("undeclared entity", lambda t: xml_post(xml_value("<string>&x;</string>")),
         error(PARSE)),
    Case("XInclude of /etc/passwd", lambda t: xml_post(xml_value(
        "<xi:include xmlns:xi='http://www.w3.org/2001/XInclude' href='file:///etc/passwd' "
        "parse='text'/>")), Expect()),
]

XML_MALFORMED = [
    Case("truncated XML", lambda t: xml_post(xmlrpc.client.dumps((1, 2), "add")[:-25]),
         error(PARSE)),
    Case("not XML at all", lambda t: xml_post("<<<>>>"), error(PARSE)),
    Case("mismatched tags", lambda t: xml_post(xml_value("<string>1</int>")), error(PARSE)),
    Case("invalid UTF-8", lambda t: xml_post(xml_value("<string>x</string>").encode()
                                             .replace(b">x<", b">\xff\xfe<")), error(PARSE)),
    Case("NUL byte", lambda t: xml_post(xml_value("<string>\x00</string>")), error(PARSE)),
    Case("multi-byte encoding expat cannot use", lambda t: xml_post(
        xml_value("<string>1</string>").replace("version='1.0'",
                                                "version='1.0' encoding='utf-7'")),
        error(PARSE)),
    Case("empty body", lambda t: xml_post(b""), error(PARSE)),
    Case("a methodResponse as a call",
         lambda t: xml_post("<?xml version='1.0'?><methodResponse><params><param><value>"
                            "<int>1</int></value></param></params></methodResponse>"),
         error(INVALID)),
    Case("no methodName", lambda t: xml_post("<methodCall><params/></methodCall>"),
         error(INVALID)),
    Case("unknown method", lambda t: xml_call("os.system", "id"), error(NOT_FOUND)),
    Case("private attribute", lambda t: xml_call("_max_int_bits"), error(NOT_FOUND)),
    Case("wrong arity", lambda t: xml_call("add", 1), error(PARAMS)),
    Case("<int> not a number", lambda t: xml_post(xml_value("<int>one</int>")), error(PARAMS)),
    Case("<boolean> 7", lambda t: xml_post(xml_value("<boolean>7</boolean>")), error(PARAMS)),
    Case("<double> not a number", lambda t: xml_post(xml_value("<double>x</double>")),
         error(PARAMS)),
    Case("<dateTime> garbage", lambda t: xml_post(xml_value(
        "<dateTime.iso8601>never</dateTime.iso8601>")), error(PARAMS)),
    Case("<struct> member without a name", lambda t: xml_post(xml_value(
        "<struct><member><value><int>1</int></value></member></struct>")),
        error(INVALID, PARAMS)),
    Case("XML nested one past max_depth",
         lambda t: xml_call("ping", nested(t.limits.max_depth + 1)), error(INVALID)),
    Case("XML nested half of max_depth",
         lambda t: xml_call("ping", nested(8)), result(nested(8))),
    Case("XML 100,000 nested arrays", lambda t: xml_post(xml_value(
        "<array><data>" * 100_000 + "</data></array>" * 100_000)), error(INVALID),
        gateway="default", oversized=True),
    Case("XML 100,000 nested unknown elements", lambda t: xml_post(xml_value(
        "<a>" * 100_000 + "</a>" * 100_000)), error(INVALID, PARSE),
        gateway="default", oversized=True),
]

JSON_MALFORMED = [
    Case("truncated JSON", lambda t: json_post(json.dumps(ADD_JSON).encode()[:-5]),
         error(PARSE)),
    Case("not JSON at all", lambda t: json_post(b"{nope"), error(PARSE)),
    Case("NaN", lambda t: json_with_number("ping", "NaN"), error(PARSE)),
    Case("Infinity", lambda t: json_with_number("ping", "-Infinity"), error(PARSE)),
    Case("invalid UTF-8", lambda t: json_post(b'{"jsonrpc":"2.0","method":"ping",'
                                              b'"params":["\xff"],"id":1}'), error(PARSE)),
    Case("trailing garbage", lambda t: json_post(json.dumps(ADD_JSON).encode() + b" xyz"),
         error(PARSE)),
    Case("empty body", lambda t: json_post(b""), error(PARSE)),
    Case("a bare number", lambda t: json_post(b"42"), error(INVALID)),
    Case("empty batch", lambda t: json_post(b"[]"), error(INVALID)),
    Case("batch of non-objects", lambda t: json_post(b"[1, 2]"), entries(INVALID, INVALID)),
    Case("method is a number", lambda t: json_post({"jsonrpc": "2.0", "method": 1, "id": 1}),
         error(INVALID)),
    Case("params is a string", lambda t: json_call("add", "1,2"), error(INVALID)),
    Case("id is an object", lambda t: json_call("add", [1, 2], rpcid={"a": 1}), error(INVALID)),
    Case('jsonrpc "3.0"', lambda t: json_post({**ADD_JSON, "jsonrpc": "3.0"}), error(INVALID)),
    Case("id overflows a double (1e400)", lambda t: json_post(
        b'{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1e400}'),
        error(INVALID, PARAMS, PARSE)),
    Case("batch entry id 1e400", lambda t: json_post(
        b'[{"jsonrpc":"2.0","method":"add","params":[1,2],"id":-1e400}]'),
        Expect(codes=(None, INVALID, PARAMS, PARSE))),
    Case("param overflows a double (1e400)", lambda t: json_with_number("ping", "1e400"),
         error(PARAMS, PARSE)),
    Case("lone surrogate", lambda t: json_post(b'{"jsonrpc":"2.0","method":"ping",'
                                               b'"params":["\\ud800"],"id":1}'),
         error(PARAMS, PARSE)),
    Case("JSON nested one past max_depth",
         lambda t: json_call("ping", [nested(t.limits.max_depth + 1)]), error(INVALID)),
    Case("JSON nested half of max_depth",
         lambda t: json_call("ping", [nested(8)]), result(nested(8))),
    Case("brackets inside a string are not nesting",
         lambda t: json_call("ping", ["[{" * 20000]), result("[{" * 20000)),
    Case("JSON 100,000 nested arrays", lambda t: json_post(
        b'{"jsonrpc":"2.0","method":"ping","params":' + b"[" * 100_000 + b"]" * 100_000
        + b',"id":1}'), error(INVALID), gateway="default", oversized=True),
    Case("JSON 100,000 unclosed arrays", lambda t: json_post(b"[" * 100_000),
         error(INVALID, PARSE), gateway="default", oversized=True),
]

CONTENT_LENGTH = [
    Case("Content-Length past max_body_bytes",
         lambda t: with_content_length(str(t.limits.max_body_bytes + 1))(t), http(413),
         oversized=True),
    Case("Content-Length of 17 digits", with_content_length("9" * 17), http(413)),
    Case("Content-Length of 30 digits", with_content_length("9" * 30), http(400, 413)),
    Case("Content-Length -1", with_content_length("-1"), http(400)),
    Case("Content-Length abc", with_content_length("abc"), http(400)),
    Case("Content-Length empty", with_content_length(""), http(400)),
    Case("Content-Length superscript two", with_content_length("\xb2"), http(400)),
    Case("Content-Length 1_0", with_content_length("1_0"), http(400)),
    Case("Content-Length +2", with_content_length("+2"), http(400)),
    Case("Content-Length 0x2", with_content_length("0x2"), http(400)),
    Case("duplicate conflicting Content-Length", lambda t: request(
        body=b"{}", content_type="application/json", headers=[("Content-Length", "3")]),
        http(400)),
    Case("Transfer-Encoding and Content-Length", lambda t: request(
        body=chunked(b"{}"), content_type="application/json",
        headers=[("Transfer-Encoding", "chunked")]), http(400)),
    Case("Transfer-Encoding gzip", lambda t: request(
        body=b"{}", content_type="application/json", length=False,
        headers=[("Transfer-Encoding", "gzip")]), http(501)),
    Case("POST without Content-Length", lambda t: request(body=b"", length=False), http(411)),
    Case("Expect 100-continue with an oversized body", lambda t: request(
        content_type="text/xml", length=False, headers=[
            ("Content-Length", str(t.limits.max_body_bytes * 2)),
            ("Expect", "100-continue")]), http(413)),
]

CHUNKED = [
    Case("valid chunked body with extension and trailer", lambda t: request(
        content_type="application/json", length=False,
        headers=[("Transfer-Encoding", "chunked")]) + chunked(
        *[bytes([b]) for b in json.dumps(ADD_JSON).encode()], trailer=b"X-Trailer: 1\r\n")
        .replace(b"1\r\n", b"1;ext=1\r\n", 1), result(3)),
    Case("chunk size not hex", chunk_size_spelled(lambda n: b"zz"), http(400)),
    Case("chunk size negative", chunk_size_spelled(lambda n: b"-%x" % n), http(400)),
    Case("chunk size with 0x prefix", chunk_size_spelled(lambda n: b"0x%x" % n), http(400)),
    Case("chunk size with + sign", chunk_size_spelled(lambda n: b"+%x" % n), http(400)),
    Case("chunk size with underscore", chunk_size_spelled(lambda n: b"0_%x" % n), http(400)),
    Case("chunk larger than max_body_bytes", lambda t: request(
        content_type="text/xml", length=False, headers=[("Transfer-Encoding", "chunked")])
        + b"%x\r\n" % (t.limits.max_body_bytes + 1), http(413), oversized=True),
    Case("chunk data without CRLF", chunk_size_spelled(lambda n: b"%x" % (n - 1)), http(400)),
    Case("endless chunk size line", endless_bytes(request(
        content_type="text/xml", length=False, headers=[("Transfer-Encoding", "chunked")])
        + b"1", b"0"), http(400), oversized=True),
    Case("endless chunks", endless_chunks, http(413), oversized=True),
]

ENCODED = [
    Case("gzip bomb", lambda t: xml_post(bomb(t.limits), [("Content-Encoding", "gzip")]),
         http(413), oversized=True),
    Case("gzip bomb without Content-Type", lambda t: xml_post(
        bomb(t.limits), [("Content-Encoding", "gzip")], content_type=None), http(413),
        oversized=True),
    Case("zlib deflate bomb", lambda t: json_post(bomb(t.limits, "deflate", b"{"),
                                                  [("Content-Encoding", "deflate")]),
         http(413), oversized=True),
    Case("raw deflate bomb", lambda t: json_post(bomb(t.limits, "raw", b"{"),
                                                 [("Content-Encoding", "deflate")]),
         http(413), oversized=True),
    Case("gzip bomb in a chunked body", lambda t: request(
        content_type="text/xml", length=False, headers=[
            ("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")])
        + chunked(bomb(t.limits)), http(413), oversized=True),
    Case("corrupt gzip", lambda t: xml_post(GZIP_HEADER + b"\xff\xff\xff\xff",
                                            [("Content-Encoding", "gzip")]), http(400)),
    Case("truncated gzip", lambda t: xml_post(
        gzip.compress(xmlrpc.client.dumps((1, 2), "add").encode())[:-12],
        [("Content-Encoding", "gzip")]), http(400)),
    Case("unknown Content-Encoding", lambda t: xml_post(b"<x/>", [("Content-Encoding", "br")]),
         http(415)),
    Case("gzip inside gzip", lambda t: xml_post(gzip.compress(gzip.compress(b"<x/>")),
                                                [("Content-Encoding", "gzip, gzip")]),
         http(400, 413, 415)),
    Case("valid gzip body", lambda t: json_post(gzip.compress(json.dumps(ADD_JSON).encode()),
                                                [("Content-Encoding", "gzip")]), result(3)),
    Case("neither XML nor JSON", lambda t: request(body=b"hello", content_type="text/plain"),
         http(415)),
]

HEAD = [
    Case("request line past max_request_line", lambda t: request(
        "GET", "/" + "a" * (t.limits.max_request_line + 1), content_type=None, length=False),
        http(414)),
    Case("request line past max_header_bytes", lambda t: request(
        "GET", "/" + "a" * (t.limits.max_header_bytes * 2), content_type=None, length=False),
        http(414), oversized=True),
    Case("endless request line", endless_bytes(b"GET /", b"a"), http(414), oversized=True),
    Case("header past max_header_bytes", lambda t: request(
        "GET", "/healthz", content_type=None, length=False,
        headers=[("X-Big", "b" * t.limits.max_header_bytes)]), http(431), oversized=True),
    Case("one header more than max_headers", lambda t: request(
        "GET", "/healthz", content_type=None, length=False,
        headers=[(f"X-{i}", "1") for i in range(t.limits.max_headers + 1)]), http(431)),
    Case("endless headers", endless_bytes(b"GET /healthz HTTP/1.1\r\n", b"X-A: 1\r\n"),
         http(431), oversized=True),
    Case("header without colon", lambda t: b"GET /healthz HTTP/1.1\r\nX-A 1\r\n\r\n", http(400)),
    Case("space before colon", lambda t: b"GET /healthz HTTP/1.1\r\nX-A : 1\r\n\r\n",
         http(400)),
    Case("obsolete line folding", lambda t: b"GET /healthz HTTP/1.1\r\nX-A: 1\r\n 2\r\n\r\n",
         http(400)),
    Case("unknown method", lambda t: b"BREW /RPC2 HTTP/1.1\r\n\r\n", http(501)),
    Case("HTTP/2.0", lambda t: b"GET / HTTP/2.0\r\n\r\n", http(505)),
    Case("TLS hello on the plain port", lambda t: b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03"
                                                  b"\x03\r\n\r\n", http(400)),
    Case("PUT on an RPC path", lambda t: request("PUT", body=b"x"), http(405)),
    Case("GET add with a 5,000-digit int", lambda t: request(
        "GET", f"/?a={digits(5000)}&b=1", content_type=None, length=False), http(400),
        gateway="default"),
    Case("GET jsonrpc with a 5,000-digit int", lambda t: request(
        "GET", f"/jsonrpc?method=add&params=[{digits(5000)},1]&id=1", content_type=None,
        length=False), Expect(codes=(INVALID, PARAMS, PARSE)), gateway="default"),
    Case("GET call to a rebound host name (DNS rebinding)",
         lambda t: b"GET /?a=1&b=2 HTTP/1.1\r\nHost: rebound.example:8080\r\n\r\n", http(403),
         gateway="default"),
]

AT_ONCE_400 = Expect(status=(400,), within=1.0)

FRAMING = [  # issue 9: judged the moment a line ends, never after a wait
    Case("HTTP/0.9 GET without a version", lambda t: b"GET /\r\n", AT_ONCE_400),
    Case("HTTP/0.9 POST without a version", lambda t: b"POST /RPC2\r\n", AT_ONCE_400),
    Case("HTTP/0.9 line ended by a bare LF", lambda t: b"GET /\n", AT_ONCE_400),
    Case("bare LF line endings, JSON call", lambda t: json_call("add", [1, 2])
         .replace(b"\r\n", b"\n"), Expect(codes=(None,), result=3, within=1.0)),
    Case("bare LF line endings, XML call", lambda t: xml_call("add", 1, 2)
         .replace(b"\r\n", b"\n"), Expect(codes=(None,), result=3, within=1.0)),
    Case("lone CR line endings", lambda t: b"GET /healthz HTTP/1.1\rHost: x\r", AT_ONCE_400),
    Case("bare CR inside a header value", lambda t: b"GET / HTTP/1.1\r\nX-A: 1\r2\r\n\r\n",
         AT_ONCE_400),
    Case("ESC in the User-Agent", lambda t: request(
        "GET", "/", content_type=None, length=False,
        headers=[("User-Agent", "\x1b[2J\x1b[31mred")]), AT_ONCE_400),
    Case("NUL in a header value", lambda t: request(
        "GET", "/", content_type=None, length=False, headers=[("X-A", "a\x00b")]), AT_ONCE_400),
    Case("DEL in a header value", lambda t: request(
        "GET", "/", content_type=None, length=False, headers=[("X-A", "a\x7fb")]), AT_ONCE_400),
    Case("control byte in a header name", lambda t: request(
        "GET", "/", content_type=None, length=False, headers=[("X\x01A", "1")]), AT_ONCE_400),
    Case("ESC in the request target", lambda t: b"GET /\x1b[31m HTTP/1.1\r\n\r\n",
         AT_ONCE_400),
    Case("NUL in the request target", lambda t: b"GET /RPC2\x00 HTTP/1.1\r\n\r\n",
         AT_ONCE_400),
    Case("tab in the request target", lambda t: b"GET /\tx HTTP/1.1\r\n\r\n", AT_ONCE_400),
    Case("bare LF in chunked framing", lambda t: request(
        content_type="application/json", length=False,
        headers=[("Transfer-Encoding", "chunked")]) + b"2\n{}\n0\n\n", AT_ONCE_400),
]

CLASS_HINTS = [
    Case("class hints in params are refused", lambda t: json_call("ping", [hints(t)]),
         error(PARAMS)),
    Case("class hints as named params", lambda t: json_call("ping", {"x": hints(t)}),
         error(PARAMS)),
    Case("class hint as the whole request", lambda t: json_post(
        {"__jsonclass__": ["os.system", [f"touch {t.marker}"]], "jsonrpc": "2.0",
         "method": "ping", "params": [1], "id": 1}), error(PARAMS)),
    Case("class hint as method name", lambda t: json_post(
        {"jsonrpc": "2.0", "method": {"__jsonclass__": ["os.system", ["true"]]}, "id": 1}),
        error(INVALID)),
]

CALCULATOR = [
    Case("pow(10, 10**9) over JSON", lambda t: json_call("pow", [10, 10**9]),
         error(PARAMS, within=1.0)),
    Case("pow(10, 10**9) over XML", lambda t: xml_call("pow", 10, 10**9),
         error(PARAMS, within=1.0)),
    Case("getpow(2, 10**7)", lambda t: json_call("getpow", [2, 10**7]),
         error(PARAMS, within=1.0)),
    Case("pow(2, 10**400): an exponent beyond a double", lambda t: json_with_number(
        "pow", "2", "1" + "0" * 400), error(PARAMS, within=1.0)),
    Case("multiply two 4,000-digit ints", lambda t: json_with_number(
        "multiply", "7" * 4000, "7" * 4000), error(PARAMS, within=1.0)),
    Case("multiply two 10,000-digit ints over JSON", lambda t: json_with_number(
        "multiply", digits(10_000), digits(10_000)), error(PARAMS, within=1.0)),
    Case("multiply two 10,000-digit ints over XML", lambda t: xml_with_ints(
        "multiply", digits(10_000), digits(10_000)), error(PARAMS, within=1.0)),
    Case("5,000-digit int in JSON", lambda t: json_with_number("ping", digits(5000)),
         error(PARAMS)),
    Case("5,000-digit int in XML <int>", lambda t: xml_with_ints("ping", digits(5000)),
         error(PARAMS)),
    Case("4,000-digit int echoed over XML", lambda t: xml_with_ints("ping", digits(4000)),
         error(PARAMS)),
    Case("pow(10.0, 400) float overflow", lambda t: json_call("pow", [10.0, 400]),
         error(PARAMS)),
    Case("pow(1e308, 2) float overflow over XML", lambda t: xml_call("pow", 1e308, 2),
         error(PARAMS)),
    Case("pow(0, -1)", lambda t: json_call("pow", [0, -1]), error(SERVICE)),
    Case("pow(-8, 0.5) complex", lambda t: json_call("pow", [-8, 0.5]), error(PARAMS)),
    Case("pow with a 2,000-digit exponent and a 4,000-digit modulus", lambda t: json_with_number(
        "pow", "3", "7" * 2000, "7" * 3999 + "1"), Expect(codes=(None, PARAMS), within=1.0)),
    Case("add(1e308, 1e308) over JSON", lambda t: json_call("add", [1e308, 1e308]),
         error(PARAMS)),
    Case("add(1e308, 1e308) over XML", lambda t: xml_call("add", 1e308, 1e308), error(PARAMS)),
    Case("divide(1e308, 1e-10) over JSON", lambda t: json_call("divide", [1e308, 1e-10]),
         error(PARAMS)),
    Case("add a float to a 4,000-digit int", lambda t: json_with_number(
        "add", "1.5", "7" * 4000), error(PARAMS)),
    Case("multiply 1e308 by a 4,000-digit int", lambda t: json_with_number(
        "multiply", "1e308", "7" * 4000), error(PARAMS)),
    Case("divide by zero", lambda t: json_call("divide", [1, 0]), error(SERVICE)),
]

BATCHES = [
    Case("JSON batch past max_calls", lambda t: json_post(
        [ADD_JSON] * (t.limits.max_calls + 1)), error(INVALID), oversized=True),
    Case("multicall past max_calls", lambda t: multicall([ADD] * (t.limits.max_calls + 1)),
         error(INVALID), oversized=True),
    Case("multicall of exactly max_calls", lambda t: multicall([ADD] * t.limits.max_calls),
         Expect(codes=(None,), check=lambda out, t: out.result == [[3]] * t.limits.max_calls)),
    Case("multicall nested in multicall", lambda t: multicall([{
        "methodName": "system.multicall", "params": [[ADD]]}, ADD]), entries(INVALID, None)),
    Case("multicall nested over JSON", lambda t: json_call("system.multicall", [[{
        "methodName": "system.multicall", "params": [[ADD]]}]]), entries(INVALID)),
    Case("JSON batch nested in a batch", lambda t: json_post([[ADD_JSON], ADD_JSON]),
         entries(INVALID, None)),
    Case("multicall carrying a value nested past max_depth", lambda t: multicall(
        [{"methodName": "ping", "params": [nested(t.limits.max_depth + 1)]}]),
        error(INVALID)),
]

SECRETS = [
    Case("a method raising with a path and a password, XML", lambda t: xml_call("broken.crash"),
         error(INTERNAL)),
    Case("a method raising with a path and a password, JSON",
         lambda t: json_call("broken.crash", []), error(INTERNAL)),
    Case("the same inside a multicall", lambda t: multicall([{"methodName": "broken.crash",
                                                              "params": []}]),
         entries(INTERNAL)),
    Case("the same inside a batch", lambda t: json_post(
        [{"jsonrpc": "2.0", "method": "broken.crash", "id": 1}]), entries(INTERNAL)),
    Case("the same as a notification", lambda t: json_post(
        {"jsonrpc": "2.0", "method": "broken.crash"}), no_answer()),
    Case("the same through GET", lambda t: request(
        "GET", "/jsonrpc?method=broken.crash&id=1", content_type=None, length=False),
        error(INTERNAL)),
]

CATALOGUE = (XML_ENTITIES + XML_MALFORMED + JSON_MALFORMED + CONTENT_LENGTH + CHUNKED
             + ENCODED + HEAD + FRAMING + CLASS_HINTS + CALCULATOR + BATCHES + SECRETS)
