"""One raw HTTP request with http.client: the status, the response object and its body."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit


def request(url: str, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None,
            ) -> tuple[int, http.client.HTTPResponse, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response, response.read()
    finally:
        connection.close()


def post(url: str, body: bytes, content_type: str | None, path: str,
         ) -> tuple[int, http.client.HTTPResponse, bytes]:
    return request(url, "POST", path, body, {"Content-Type": content_type} if content_type else {})
