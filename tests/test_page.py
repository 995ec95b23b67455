"""The front door (GET /): what it serves, every method, examples that work when pasted,
live figures, escaping; and a real headless Chromium that renders it without a console
message, with screenshots kept in tests/artifacts/."""

from __future__ import annotations

import base64
import html
import http.client
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import xmlrpc.client
from html.parser import HTMLParser
from pathlib import Path

import pytest

from gateway.metrics import Metrics
from gateway.methods import MethodTable
from gateway.page import FrontDoor
from handlers.calculator import Calculator
from tests.support.chromium import CHROMIUM, Chromium

ARTIFACTS = Path(__file__).parent / "artifacts"
ROOT = Path(__file__).resolve().parents[1]


def page(url: str, host: str | None = None) -> str:
    address = url.removeprefix("http://")
    conn = http.client.HTTPConnection(*address.rsplit(":", 1), timeout=15)
    try:
        conn.request("GET", "/", headers={"Host": host or address})
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/html; charset=utf-8"
        return response.read().decode("utf-8")
    finally:
        conn.close()


class Blocks(HTMLParser):
    """The text of each <pre> under its <h3> title, and every tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.examples: dict[str, str] = {}
        self.tags: list[tuple[str, dict]] = []
        self._title = self._text = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("h3", "pre"):
            self._text = []

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "h3":
            self._title = "".join(self._text)
        elif tag == "pre" and self._title:
            self.examples.setdefault(self._title, "".join(self._text))
        self._text = None


def parse(text: str) -> Blocks:
    parser = Blocks()
    parser.feed(text)
    return parser


def test_it_lists_endpoints_and_every_method_with_signature_and_help(url, gateway):
    text = page(url)
    for endpoint in ("/RPC2", "/jsonrpc", "/healthz", "/metrics", "rpc.discover"):
        assert endpoint in text
    for name in gateway.table.names():
        assert f'id="{name}"' in text
    assert html.escape("add(a: number, b: number) -> number") in text
    assert html.escape("pow(x: number, y: number, z: integer | null = null) -> number") in text
    assert "Return |a - b| (the legacy semantics: never negative)." in text
    assert '<meta name="viewport"' in text
    # Self-contained: nothing is fetched from anywhere, and the browser is told so.
    assert not [t for t in parse(text).tags if {"src", "href"} & set(t[1])
                and not (t[1].get("src") or t[1].get("href")).startswith("data:")]
    assert "default-src 'none'" in text


def test_the_examples_work_when_pasted(url):
    examples = parse(page(url)).examples
    assert set(examples) == {"Python, xmlrpc.client", "Python, jsonrpclib", "curl, JSON-RPC",
                             "curl, XML-RPC"}
    for title in ("Python, xmlrpc.client", "Python, jsonrpclib"):
        result = subprocess.run([sys.executable, "-c", examples[title]], capture_output=True,
                                text=True, timeout=30)
        assert result.stdout.strip() == "4", (title, result.stderr)
    json_answer = subprocess.run(["bash", "-c", examples["curl, JSON-RPC"]],
                                 capture_output=True, text=True, timeout=30).stdout
    assert '"result":4' in json_answer
    xml_answer = subprocess.run(["bash", "-c", examples["curl, XML-RPC"]],
                                capture_output=True, text=True, timeout=30).stdout
    assert "<int>4</int>" in xml_answer


def test_figures_are_live_and_from_the_metrics_registry(url, gateway):
    proxy = xmlrpc.client.ServerProxy(url)
    for _ in range(3):
        proxy.add(1, 2)
    with pytest.raises(xmlrpc.client.Fault):
        proxy.divide(1, 0)
    settle(gateway, "divide", 1)  # counted just after the answer is sent
    text = page(url)
    add = text.split('id="add"', 1)[1].split("</section>", 1)[0]
    assert re.search(r"3 calls, 0 errors, p50 [\d.]+ ms, p99 [\d.]+ ms", add), add
    divide = text.split('id="divide"', 1)[1].split("</section>", 1)[0]
    assert "1 calls, 1 errors" in divide
    figures = gateway.metrics.figures()
    assert figures["add"][0] == 3 and figures["divide"][1] == 1


def settle(gateway, method: str, calls: int) -> None:
    deadline = time.monotonic() + 10
    while gateway.metrics.figures().get(method, (0,))[0] != calls:
        assert time.monotonic() < deadline, f"{method} never reached {calls} calls"
        time.sleep(0.02)


def test_everything_from_the_service_and_the_request_is_escaped(make_gateway):
    server = make_gateway(service__services=["tests.support.services:Hostile"])
    host, port = server.server_address[:2]
    text = page(f"http://{host}:{port}", host='"><script>alert(1)</script>')
    assert "<script" not in text and "<img" not in text and "<b>" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    assert html.escape("shout(text: string) -> string") in text  # no quoted annotations
    assert "http://127.0.0.1:8080/RPC2" in text  # a hostile Host is not echoed


def test_zerorpc_endpoints_are_shown_only_when_given():
    table = MethodTable([("", Calculator())])
    metrics = Metrics(table.names(), lambda: (0, 0))
    plain = FrontDoor(table, metrics).render("gw:8080").decode()
    assert "zerorpc" not in plain
    with_zerorpc = FrontDoor(table, metrics, zerorpc=["tcp://gw:4242"]).render("gw:8080").decode()
    examples = parse(with_zerorpc).examples
    assert 'client.connect("tcp://gw:4242")' in examples["Python, zerorpc"]
    assert "print(client.add(2, 2))" in examples["Python, zerorpc"]


def test_with_metrics_off_the_page_says_so(make_gateway):
    server = make_gateway(metrics__enabled=False)
    host, port = server.server_address[:2]
    text = page(f"http://{host}:{port}")
    assert "metrics are off" in text and "GET /metrics" not in text


# -- a real browser -----------------------------------------------------------------------

class Browser(Chromium):
    """The shared CDP client, keeping every console message and uncaught exception."""

    def __init__(self) -> None:
        super().__init__()
        self.console: list[str] = []

    def _wait(self, wanted, what: str) -> dict:
        return super()._wait(lambda message: self._note(message) or wanted(message), what)

    def _note(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            self.console.append(f"console.{params['type']}: {params.get('args')}")
        elif method == "Runtime.exceptionThrown":
            self.console.append(f"exception: {params['exceptionDetails']}")
        elif method == "Log.entryAdded":
            self.console.append(f"{params['entry']['level']}: {params['entry']['text']}")

    def show(self, url: str, width: int, height: int, mobile: bool) -> None:
        """Like ``open``, with the console listened to before the page starts loading."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.call("Target.attachToTarget",
                                  {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=self._session)
        self.call("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
            session=self._session)
        self.call("Emulation.setScrollbarsHidden", {"hidden": True}, session=self._session)
        self.call("Page.navigate", {"url": url}, session=self._session)
        self._wait_event("Page.loadEventFired", self._session)

    def screenshot(self, path: Path) -> None:
        shot = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport":
                                                    True}, session=self._session)
        path.write_bytes(base64.b64decode(shot["data"]))


@pytest.fixture
def browser():
    assert os.access(CHROMIUM, os.X_OK) or shutil.which("chromium"), \
        "chromium (Debian package chromium) is not installed; tests/run.sh installs it"
    instance = Browser()
    try:
        yield instance
    finally:
        instance.close()


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_a_page_with_errors_is_caught(browser, tmp_path):
    """The browser check can fail: a script error and a blocked fetch both show up."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><p>x</p><img src='http://127.0.0.1:9/nothing.png'>"
                   "<script>console.error('boom'); undefinedFunction()</script>")
    browser.show(bad.as_uri(), 412, 915, True)
    text = "\n".join(browser.console)
    assert "boom" in text and "undefinedFunction" in text, text


@pytest.mark.parametrize("name, width, height", [("phone", 412, 915), ("desktop", 1280, 900)])
def test_it_renders_in_headless_chromium_without_console_messages(gateway, url, browser, name,
                                                                  width, height):
    xmlrpc.client.ServerProxy(url).add(2, 2)
    settle(gateway, "add", 1)
    browser.show(url + "/", width, height, name == "phone")
    methods = len(gateway.table.names())  # every method has its section
    assert browser.evaluate("document.querySelectorAll('section.method').length") == methods
    signature = browser.evaluate("document.querySelector('#add .sig').innerText")
    assert signature == "add(a: number, b: number) -> number"
    assert "1 calls" in browser.evaluate("document.querySelector('#add .figures').innerText")
    # Readable on a phone: nothing wider than the screen but the scrolling code blocks.
    assert browser.evaluate("document.documentElement.scrollWidth") <= width
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"front-page-{name}.png"
    browser.screenshot(shot)
    assert png_size(shot)[0] == width and png_size(shot)[1] > height  # the whole page
    assert browser.console == []
