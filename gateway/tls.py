"""TLS for the listeners, from ``certfile``/``keyfile``: TLS 1.2 or newer, stdlib ssl."""

from __future__ import annotations

import ssl


def server_context(certfile: str, keyfile: str) -> ssl.SSLContext | None:
    """A server context, or None when TLS is not configured (both paths empty)."""
    if not certfile:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile or None)
    context.set_alpn_protocols(["http/1.1"])
    return context
