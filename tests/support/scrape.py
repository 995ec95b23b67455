"""Scraping a test gateway's ``GET /metrics``: samples by name and labels, and waiting for them."""

from __future__ import annotations

import http.client
import time

from prometheus_client.parser import text_string_to_metric_families


def url_of(server) -> str:
    """The base URL of an in-process GatewayServer."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def get(url: str, path: str, headers: dict[str, str] | None = None):
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response, response.read()
    finally:
        conn.close()


def scrape(url: str | http.client.HTTPConnection) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from the text format, on a new connection or
    on a kept-alive one (with ``workers = N``, always the same worker answers it)."""
    if isinstance(url, str):
        status, _, body = get(url, "/metrics")
    else:
        url.request("GET", "/metrics")
        response = url.getresponse()
        status, body = response.status, response.read()
    assert status == 200, body
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode())
            for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def settled(url: str | http.client.HTTPConnection, name: str, expected: float, **labels: str) -> dict:
    """A scrape once ``name{labels}`` reached ``expected``.

    A call is counted as its answer is handed to the connection loop, and with
    ``workers = N`` the workers that do not answer the scrape publish their figures
    about once a second: a client can scrape before its own last calls show.
    """
    samples = scrape(url)
    deadline = time.monotonic() + 10
    while value(samples, name, **labels) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
        samples = scrape(url)
    return samples


def wait_until(check, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)
