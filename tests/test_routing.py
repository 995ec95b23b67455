"""Routing: which path answers, and which protocol a request goes to.

The rule under test (README table): the media type decides, any case,
parameters ignored; any other or no Content-Type is decided by the body's
first non-blank byte after an optional UTF-8 BOM; neither ``<`` nor ``{``/``[``
is HTTP 415 with a one-line explanation. Paths ``/``, ``/RPC2``, ``/jsonrpc``,
``/xmlrpc`` answer with or without a trailing slash or query; others are 404.
"""

from __future__ import annotations

import http.client
import json
import xmlrpc.client
from urllib.parse import urlsplit

import pytest

JSON_CALL = b'{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}'
XML_CALL = (b"<?xml version='1.0'?><methodCall><methodName>add</methodName><params>"
            b"<param><value><int>1</int></value></param>"
            b"<param><value><int>2</int></value></param></params></methodCall>")


def request(url: str, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPResponse, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response, response.read()
    finally:
        connection.close()


def post(url: str, body: bytes, content_type: str | None, path: str = "/"):
    return request(url, "POST", path, body, {"Content-Type": content_type} if content_type else {})


def assert_json_answer(status: int, response: http.client.HTTPResponse, body: bytes) -> None:
    assert status == 200, body
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(body) == {"jsonrpc": "2.0", "result": 3, "id": 1}


def assert_xml_answer(status: int, response: http.client.HTTPResponse, body: bytes) -> None:
    assert status == 200, body
    assert response.getheader("Content-Type") == "text/xml; charset=utf-8"
    assert xmlrpc.client.loads(body)[0] == (3,)


# -- paths -------------------------------------------------------------------------------------

RPC_PATHS = ["/", "/RPC2", "/RPC2/", "/jsonrpc", "/jsonrpc/", "/xmlrpc", "/xmlrpc/",
             "/?x=1", "/RPC2?token=abc", "/RPC2/?a=b&c=d", "/jsonrpc?", "/xmlrpc/?q"]


@pytest.mark.parametrize("path", RPC_PATHS)
def test_rpc_paths_answer_both_protocols(url, path):
    assert_json_answer(*post(url, JSON_CALL, "application/json", path))
    assert_xml_answer(*post(url, XML_CALL, "text/xml", path))


@pytest.mark.parametrize("path", ["/other", "/RPC2x", "/rpc2", "/RPC2/extra", "/json", "/RPC3",
                                  "/jsonrpc/x", "/index.html"])
def test_other_paths_are_404(url, path):
    status, response, body = post(url, JSON_CALL, "application/json", path)
    assert status == 404
    assert int(response.getheader("Content-Length")) == len(body)
    status, _, _ = post(url, XML_CALL, "text/xml", path)
    assert status == 404


def test_a_404_for_an_xml_client_is_still_text_xml(url):
    # Ruby's client only reads text/xml; a 404 explains itself in its own protocol.
    status, response, _ = post(url, XML_CALL, "text/xml", "/nowhere")
    assert status == 404
    assert response.getheader("Content-Type") == "text/xml; charset=utf-8"


# -- the Content-Type table --------------------------------------------------------------------

XML_TYPES = ["text/xml", "application/xml", "TEXT/XML", "Application/XML",
             "text/xml; charset=utf-8", "text/xml;charset=UTF-8",
             "application/xml; charset=\"utf-8\"",
             "text/xml ; charset=iso-8859-1"]
JSON_TYPES = ["application/json", "application/json-rpc", "application/jsonrequest",
              "APPLICATION/JSON", "application/json; charset=utf-8", "Application/Json-RPC",
              "application/jsonrequest;charset=utf-8"]
SNIFFED = ["text/plain", "application/x-www-form-urlencoded", None, "application/octet-stream",
           "text/plain; charset=utf-8", ""]


@pytest.mark.parametrize("content_type", XML_TYPES)
def test_xml_media_types_go_to_xmlrpc(url, content_type):
    assert_xml_answer(*post(url, XML_CALL, content_type))


@pytest.mark.parametrize("content_type", XML_TYPES)
def test_xml_media_types_win_over_a_json_body(url, content_type):
    # The declared type decides: a JSON body sent as XML is an XML parse error.
    status, response, body = post(url, JSON_CALL, content_type)
    assert status == 200 and response.getheader("Content-Type") == "text/xml; charset=utf-8"
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc.client.loads(body)
    assert fault.value.faultCode == -32700


@pytest.mark.parametrize("content_type", JSON_TYPES)
def test_json_media_types_go_to_jsonrpc(url, content_type):
    assert_json_answer(*post(url, JSON_CALL, content_type))


@pytest.mark.parametrize("content_type", JSON_TYPES)
def test_json_media_types_win_over_an_xml_body(url, content_type):
    status, response, body = post(url, XML_CALL, content_type)
    assert status == 200 and response.getheader("Content-Type") == "application/json"
    assert json.loads(body)["error"]["code"] == -32700


@pytest.mark.parametrize("content_type", SNIFFED, ids=repr)
@pytest.mark.parametrize("prefix", [b"", b"\xef\xbb\xbf", b" \r\n\t ", b"\xef\xbb\xbf\n  "],
                         ids=["bare", "bom", "blanks", "bom-blanks"])
def test_other_types_are_sniffed(url, content_type, prefix):
    assert_json_answer(*post(url, prefix + JSON_CALL, content_type))
    # An XML declaration must open the document, so blanks go before a bare <methodCall>.
    xml = XML_CALL if not prefix.strip(b"\xef\xbb\xbf") else XML_CALL.split(b"?>", 1)[1]
    assert_xml_answer(*post(url, prefix + xml, content_type))


def test_a_json_batch_is_sniffed_by_its_bracket(url):
    status, response, body = post(url, b"[" + JSON_CALL + b"]", "text/plain")
    assert status == 200 and response.getheader("Content-Type") == "application/json"
    assert json.loads(body) == [{"jsonrpc": "2.0", "result": 3, "id": 1}]


def test_bom_before_declared_json_is_accepted(url):
    assert_json_answer(*post(url, b"\xef\xbb\xbf" + JSON_CALL, "application/json"))


@pytest.mark.parametrize("body", [b"hello", b"a=1&b=2", b"", b"   ", b"\xef\xbb\xbf",
                                  b"method=add", b"\x00\x01"], ids=repr)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          None], ids=repr)
def test_neither_xml_nor_json_is_415_with_one_line(url, body, content_type):
    status, response, reply = post(url, body, content_type)
    assert status == 415
    text = reply.decode()
    assert text.endswith("\n") and text.count("\n") == 1, text
    assert "text/xml" in text and "application/json" in text  # says what to send instead
    assert int(response.getheader("Content-Length")) == len(reply)


# -- GET: the notes' plain-HTTP example, JSON-RPC in a query, the method page ------------------

def test_get_add_query_answers_like_the_notes_http_server(url):
    status, response, body = request(url, "GET", "/?a=1&b=2")
    assert status == 200
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(body) == {"result": 3}


def test_get_jsonrpc_query(url):
    status, response, body = request(url, "GET", "/jsonrpc?method=add&params=[1,2]&id=1")
    assert status == 200
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(body) == {"jsonrpc": "2.0", "result": 3, "id": 1}


def test_get_jsonrpc_query_percent_encoded_with_string_id(url):
    status, _, body = request(url, "GET",
                              "/jsonrpc?method=hello&params=%5B%22web%22%5D&id=%22q1%22")
    assert json.loads(body) == {"jsonrpc": "2.0", "result": "Hello, web", "id": "q1"}


def test_get_jsonrpc_query_error_is_a_jsonrpc_error(url):
    status, _, body = request(url, "GET", "/jsonrpc?method=nope&id=2")
    assert status == 200
    assert json.loads(body)["error"]["code"] == -32601


@pytest.mark.parametrize("path", ["/", "/RPC2", "/jsonrpc/", "/xmlrpc"])
def test_get_without_query_is_an_html_page_listing_the_methods(url, path):
    status, response, body = request(url, "GET", path)
    assert status == 200
    assert response.getheader("Content-Type").startswith("text/html")
    page = body.decode("utf-8")
    for name in xmlrpc.client.ServerProxy(url).system.listMethods():
        assert name in page, name
    assert "Return a + b." in page  # the help text
    assert "text/xml" in page and "application/json" in page  # both protocols explained


def test_head_of_the_page_has_no_body(url):
    status, response, body = request(url, "HEAD", "/")
    assert status == 200 and body == b""
    assert int(response.getheader("Content-Length")) > 0


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_http_methods_are_405_with_allow(url, method):
    status, response, _ = request(url, method, "/RPC2", b"{}")
    assert status == 405
    assert "POST" in response.getheader("Allow")


def test_get_add_query_on_a_service_without_add_is_a_clear_404(make_gateway):
    """The notes' GET /?a=1&b=2 example needs an add method; without one: 404, not 500."""
    server = make_gateway(service__services=["tests.support.services:Slow"])
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request("GET", "/?a=1&b=2")
    reply = connection.getresponse()
    body = json.loads(reply.read())
    assert reply.status == 404
    assert body["error"]["code"] == -32601
