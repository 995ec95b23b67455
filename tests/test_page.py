"""The front door (GET /): what it serves, every method, examples that work when pasted,
live figures, escaping; and a real headless Chromium that renders it without a console
message, with screenshots kept in tests/artifacts/."""

from __future__ import annotations

import html
import http.client
import os
import re
import shutil
import struct
import subprocess
import sys
import xmlrpc.client
from html.parser import HTMLParser
from pathlib import Path

import pytest

from gateway.metrics import Metrics
from gateway.methods import MethodTable
from gateway.page import FrontDoor
from handlers.calculator import Calculator

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
    text = page(url)
    add = text.split('id="add"', 1)[1].split("</section>", 1)[0]
    assert re.search(r"3 calls, 0 errors, p50 [\d.]+ ms, p99 [\d.]+ ms", add), add
    divide = text.split('id="divide"', 1)[1].split("</section>", 1)[0]
    assert "1 calls, 1 errors" in divide
    figures = gateway.metrics.figures()
    assert figures["add"][0] == 3 and figures["divide"][1] == 1


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

def chromium(target: str, tmp_path: Path, *args: str) -> tuple[str, list[str]]:
    """Run headless Chromium on ``target``: (stdout, console messages)."""
    binary = shutil.which("chromium")
    assert binary, "chromium (Debian package chromium) is not installed; tests/run.sh does"
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    command = [binary, "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr",
               "--v=0", *args, target]
    if os.geteuid() == 0:
        command.insert(2, "--no-sandbox")
    result = subprocess.run(command, capture_output=True, text=True, timeout=90,
                            stdin=subprocess.DEVNULL)
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    return result.stdout, console


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_a_page_with_errors_is_caught(tmp_path):
    """The browser check can fail: a script error shows up as a console message."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><p>x</p><script>undefinedFunction()</script>")
    _, console = chromium(bad.as_uri(), tmp_path, "--dump-dom")
    assert any("undefinedFunction" in line for line in console), console


@pytest.mark.parametrize("name, width, height", [("phone", 412, 915), ("desktop", 1280, 900)])
def test_it_renders_in_headless_chromium_without_console_messages(url, tmp_path, name, width,
                                                                  height):
    xmlrpc.client.ServerProxy(url).add(2, 2)
    dom, console = chromium(url + "/", tmp_path, "--dump-dom")
    assert console == []
    assert "add(a: number, b: number) -&gt; number" in dom and "1 calls" in dom
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"front-page-{name}.png"
    shot.unlink(missing_ok=True)
    _, console = chromium(url + "/", tmp_path, f"--screenshot={shot}",
                          f"--window-size={width},{height}", "--hide-scrollbars")
    assert console == []
    assert png_size(shot) == (width, height)
    assert shot.stat().st_size > 20_000  # text was drawn, not a blank page
