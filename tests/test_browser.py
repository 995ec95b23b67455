"""Browsers: a page on another site can never make a user's browser run a method.

First the decision itself (``AccessPolicy.browser_refusal``, no sockets), then real
headless Chromium: a page from a second origin tries every request a page can send
without consent against a gateway whose methods count their calls.
"""

from __future__ import annotations

import http.client
import http.server
import json
import shutil
import threading
import urllib.request

import pytest

from gateway.access import AccessPolicy
from tests.support.processes import ROOT

ATTACK_PAGE = (ROOT / "tests" / "data" / "browser" / "attacker.html").read_text()
LISTED = "https://app.example"


def refusal(method="POST", query="", get_calls=True, origins=(), hosts=(),
            host="127.0.0.1:8080", **headers):
    policy = AccessPolicy((), origins, 0.0, 1, get_calls, hosts)
    headers["host"] = host
    error = policy.browser_refusal(method, query, {k.replace("_", "-"): v
                                                   for k, v in headers.items()})
    return error.status if error else None


@pytest.mark.parametrize("headers", [
    {"sec_fetch_site": "cross-site", "sec_fetch_mode": "no-cors"},  # <img>, no-cors fetch
    {"sec_fetch_site": "cross-site", "sec_fetch_mode": "navigate"},  # a form, a link
    {"sec_fetch_site": "cross-site", "sec_fetch_mode": "cors", "origin": "https://evil.example"},
    {"sec_fetch_site": "same-site", "sec_fetch_mode": "cors", "origin": "http://127.0.0.1:1"},
    {"sec_fetch_site": "cross-site", "sec_fetch_mode": "no-cors", "origin": LISTED},
    {"sec_fetch_site": "cross-site", "sec_fetch_mode": "navigate", "origin": LISTED},
    {"origin": "https://evil.example"},  # a browser without Fetch Metadata
    {"origin": "null"},  # a sandboxed frame or a file: page
])
@pytest.mark.parametrize("method, query", [("POST", ""), ("GET", "a=1&b=2"),
                                           ("GET", "method=add"), ("OPTIONS", "")])
def test_calls_from_other_sites_are_refused(method, query, headers):
    assert refusal(method, query, origins=(LISTED,), **headers) == 403


@pytest.mark.parametrize("headers", [
    {},  # curl, ServerProxy, jsonrpclib: no browser headers at all
    {"sec_fetch_site": "same-origin", "sec_fetch_mode": "cors",
     "origin": "http://127.0.0.1:8080"},
    {"sec_fetch_site": "same-origin", "sec_fetch_mode": "navigate"},  # the gateway's own form
    {"sec_fetch_site": "none", "sec_fetch_mode": "navigate"},  # typed in the address bar
    {"sec_fetch_site": "cross-site", "sec_fetch_mode": "cors", "origin": LISTED},
    {"origin": LISTED},
    {"origin": "http://127.0.0.1:8080"},  # same origin, old browser (Host 127.0.0.1:8080)
])
@pytest.mark.parametrize("method, query", [("POST", ""), ("GET", "a=1&b=2")])
def test_non_browsers_same_origin_and_listed_origins_may_call(method, query, headers):
    assert refusal(method, query, origins=(LISTED,), **headers) is None


@pytest.mark.parametrize("host, hosts, expected", [
    ("rebound.example:8080", (), 403),  # DNS rebinding: the attacker's name, now loopback
    ("rebound.example.:8080", (), 403),
    ("", (), 403),
    ("127.0.0.1:8080", (), None), ("[::1]:8080", (), None), ("10.0.0.7", (), None),
    ("localhost:8080", (), None), ("app.localhost:8080", (), None),
    ("rpc.example:8080", ("rpc.example",), None), ("RPC.Example.", ("rpc.example",), None),
    ("rebound.example:8080", ("rpc.example",), 403), ("rebound.example", ("*",), None),
])
def test_same_origin_browser_calls_need_a_host_name_of_the_gateway(host, hosts, expected):
    """Same-origin by Fetch Metadata, or by an old browser's Origin naming the Host."""
    for headers in ({"sec_fetch_site": "same-origin", "sec_fetch_mode": "cors"},
                    {"origin": f"http://{host}"}):
        for method, query in (("POST", ""), ("GET", "a=1&b=2")):
            assert refusal(method, query, hosts=hosts, host=host, **headers) == expected


def test_posts_without_browser_headers_and_pages_are_not_judged_by_host_name():
    assert refusal(host="rebound.example:8080") is None  # curl, the RPC libraries
    assert refusal(host="rebound.example", sec_fetch_site="none") is None  # typed
    assert refusal("GET", "", host="rebound.example", sec_fetch_site="same-origin") is None


def test_calls_by_get_need_a_host_name_of_the_gateway_from_any_client():
    """A rebound page's GET to a plain-HTTP name carries no Origin nor Fetch Metadata."""
    assert refusal("GET", "a=1&b=2", host="rebound.example:8080") == 403
    assert refusal("HEAD", "method=add", host="rebound.example",
                   sec_fetch_site="none") == 403
    assert refusal("GET", "a=1&b=2", host="rpc.example", hosts=("rpc.example",)) is None


def test_pages_that_run_nothing_stay_readable_by_navigation():
    for site in ("cross-site", "same-site"):
        assert refusal("GET", "", sec_fetch_site=site, sec_fetch_mode="navigate") is None
        assert refusal("HEAD", "", sec_fetch_site=site, sec_fetch_mode="no-cors") is None


def test_get_calls_can_be_switched_off():
    assert refusal("GET", "a=1&b=2", get_calls=False) == 405
    assert refusal("HEAD", "method=add", get_calls=False) == 405
    assert refusal("GET", "", get_calls=False) is None  # the index page stays
    assert refusal("POST", "", get_calls=False) is None


def test_cors_headers_only_for_listed_origins():
    policy = AccessPolicy((), (LISTED,), 0.0, 1)
    assert policy.cors_headers(LISTED)["Access-Control-Allow-Origin"] == LISTED
    assert policy.cors_headers("https://evil.example") == {}
    assert policy.cors_headers(None) == {}


def test_get_calls_false_refuses_get_and_keeps_post(make_gateway):
    server = make_gateway(http__get_calls=False)
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=5)
    conn.request("GET", "/?a=1&b=2")
    refused = conn.getresponse()
    assert refused.status == 405 and b"http.get_calls" in refused.read()
    body = json.dumps({"jsonrpc": "2.0", "method": "add", "params": [1, 2], "id": 1})
    request = urllib.request.Request(f"http://{host}:{port}/jsonrpc", body.encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert json.load(answer)["result"] == 3


# -- real Chromium ---------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="the Debian package chromium is not installed (tests/run.sh installs it)")


@pytest.fixture
def attacker():
    """A second web server: the other site, serving the attack page at /?gateway=URL."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            gateway = self.path.partition("gateway=")[2]
            body = ATTACK_PAGE.replace("__GATEWAY__", urllib.request.unquote(gateway)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def browser():
    from tests.support.chromium import Chromium
    chromium = Chromium()
    yield chromium
    chromium.close()


def _tally_gateway(make_gateway, **settings):
    server = make_gateway(service__services=["tests.support.services:Tally"], **settings)
    host, port = server.server_address[:2]
    return server, server.table.services[0][1], f"http://{host}:{port}"


def _attack(browser, page_url, gateway_url):
    browser.open(f"{page_url}/?gateway={gateway_url}")
    results = browser.evaluate("run()")
    assert results and "timeout" not in results.values(), results
    return results


@needs_chromium
@pytest.mark.parametrize("page_host", ["localhost", "127.0.0.1"])  # cross-site, same-site
def test_a_page_on_another_site_runs_nothing(make_gateway, attacker, browser, page_host):
    server, tally, gateway_url = _tally_gateway(make_gateway)
    results = _attack(browser, f"http://{page_host}:{attacker}", gateway_url)
    assert tally.calls == [], f"a cross-site request ran a method: {tally.calls} ({results})"
    # every attack reached the gateway and was answered: the forms' frames loaded
    assert results["form-post-text-json"] == results["form-get"] == "load", results


@needs_chromium
def test_listed_origin_may_call_by_cors_fetch_only(make_gateway, attacker, browser):
    page = f"http://localhost:{attacker}"
    server, tally, gateway_url = _tally_gateway(make_gateway, access__allowed_origins=[page])
    results = _attack(browser, page, gateway_url)
    assert sorted(tally.calls) == ["cors-get", "cors-post-json", "cors-post-text",
                                   "cors-post-xml"], results
    assert results["fetch-cors-post-json"] == "answered cors", results


@needs_chromium
def test_same_origin_page_and_typed_url_still_call(make_gateway, browser):
    server, tally, gateway_url = _tally_gateway(make_gateway)
    browser.open(f"{gateway_url}/?a=2&b=3")  # typed: Sec-Fetch-Site none
    assert json.loads(browser.evaluate("document.body.innerText")) == {"result": 5}
    browser.open(f"{gateway_url}/")  # the gateway's own page, then calls from it
    script = """(async () => {
        const post = await fetch("/jsonrpc", {method: "POST",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify({jsonrpc: "2.0", method: "record", params: ["same"], id: 7})});
        const get = await fetch("/?a=4&b=5");
        return [await post.json(), await get.json()];
    })()"""
    post, get = browser.evaluate(script)
    assert post == {"jsonrpc": "2.0", "result": 2, "id": 7}
    assert get == {"result": 9}
    assert tally.calls == ["add", "same", "add"]


REBOUND = "rebound.test"  # the attacker's name, its DNS answer switched to 127.0.0.1


@needs_chromium
@pytest.mark.parametrize("listed", [False, True])
def test_a_page_reaching_the_gateway_by_a_rebound_name_cannot_call(make_gateway, listed):
    """DNS rebinding, as the browser sees it once the name points at the gateway: the
    attacker's page and the gateway share an origin. Chromium's resolver rule plays DNS."""
    from tests.support.chromium import Chromium
    settings = {"access__allowed_hosts": [REBOUND]} if listed else {}
    server, tally, gateway_url = _tally_gateway(make_gateway, **settings)
    rebound_url = gateway_url.replace("127.0.0.1", REBOUND)
    browser = Chromium(flags=(f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1",))
    try:
        browser.open(f"{rebound_url}/")  # a page of that origin (any page: no method runs)
        assert REBOUND in browser.evaluate("document.title")
        statuses = browser.evaluate("""(async () => {
            const post = await fetch("/jsonrpc", {method: "POST",
                headers: {"Content-Type": "application/json"},
                body: JSON.stringify({jsonrpc: "2.0", method: "record", params: ["x"], id: 1})});
            const get = await fetch("/?a=4&b=5");
            return [post.status, get.status];
        })()""")
    finally:
        browser.close()
    if listed:  # the operator named it: the gateway's own name, calls run
        assert statuses == [200, 200] and tally.calls == ["x", "add"]
    else:
        assert statuses == [403, 403] and tally.calls == []
