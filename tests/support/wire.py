"""One raw HTTP POST with http.client: the status, the response object and its body."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit


def post(url: str, body: bytes, content_type: str | None, path: str,
         ) -> tuple[int, http.client.HTTPResponse, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        headers = {"Content-Type": content_type} if content_type else {}
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response, response.read()
    finally:
        connection.close()
