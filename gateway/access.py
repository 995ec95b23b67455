"""Who may talk to the gateway: client networks, browsers, and call rates.

All are checked on the connection loop, so they cost a lookup, never a thread:
- networks: a client outside every configured CIDR is answered 403 (off by default);
- browsers: see ``browser_refusal``; on by default, because any web page can make a
  user's browser send requests to a gateway on loopback or the LAN;
- rate: a token bucket per client address; an empty bucket means HTTP 429 (off by default).
"""

from __future__ import annotations

import ipaddress
import time
from typing import Mapping

from gateway.http import HTTPError

_MAX_BUCKETS = 10000
_OTHER_SITES = frozenset({"cross-site", "same-site"})


class AccessPolicy:
    def __init__(self, networks: tuple[str, ...], origins: tuple[str, ...], rate: float,
                 burst: int, get_calls: bool = True) -> None:
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]
        self.origins = frozenset(o.rstrip("/").lower() for o in origins)
        self.rate = rate
        self.burst = max(burst, 1)
        self.get_calls = get_calls
        self._buckets: dict[str, tuple[float, float]] = {}

    def client_allowed(self, client: str) -> bool:
        if not self.networks or client == "unix":
            return True
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        if address.version == 6 and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def origin_listed(self, origin: str) -> bool:
        """``origin`` is in ``access.allowed_origins`` (or the list holds ``*``)."""
        return "*" in self.origins or origin.rstrip("/").lower() in self.origins

    def cors_headers(self, origin: str | None) -> dict[str, str]:
        """CORS answer headers: only a listed Origin may read answers cross-origin."""
        if origin is None or not self.origin_listed(origin):
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def browser_refusal(self, method: str, query: str,
                        headers: Mapping[str, str]) -> HTTPError | None:
        """Why this request may not run a method, or None; ``headers`` keys in lower case.

        A browser tells where a request comes from in ``Sec-Fetch-Site`` (every current
        engine) and, for CORS and POST requests, ``Origin``; pages cannot forge either.
        A call from the gateway's own origin, or typed by the user (``none``), runs. A call
        from another site runs only when its Origin is in ``access.allowed_origins`` and
        the browser sent it in ``cors`` mode, which a page gets only through fetch/XHR
        under CORS rules: ``<img>``, ``<script>``, forms, no-cors fetch and navigations
        never run a method, whatever their HTTP method or Content-Type. Clients without
        either header are not browser pages (curl, the RPC libraries) and are not judged.
        A browser too old for Fetch Metadata sends no Origin on GET: ``http.get_calls =
        false`` is the switch for that case.
        """
        if not self.get_calls and method in ("GET", "HEAD") and query:
            return HTTPError(405, "calls by GET are switched off (http.get_calls = false); "
                                  "POST them")
        if method in ("GET", "HEAD") and not query:
            return None  # the index page and /healthz: no method runs
        site = headers.get("sec-fetch-site", "").lower()
        origin = headers.get("origin")
        if site in ("same-origin", "none"):
            return None
        if site in _OTHER_SITES:
            if origin is not None and self.origin_listed(origin) \
                    and headers.get("sec-fetch-mode", "").lower() == "cors":
                return None
            return HTTPError(403, "calls from other web sites are refused (Sec-Fetch-Site: "
                                  f"{site}; see access.allowed_origins)")
        if origin is None or self.origin_listed(origin) \
                or _same_origin(origin, headers.get("host", "")):
            return None  # no Fetch Metadata: the Origin alone decides
        return HTTPError(403, "requests from this Origin are not allowed "
                              "(see access.allowed_origins)")

    def take_token(self, client: str, now: float | None = None) -> float:
        """0.0 when the call may proceed, else the seconds until a token is back."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if len(self._buckets) >= _MAX_BUCKETS and client not in self._buckets:
            self._forget_full_buckets(now)
        self._buckets[client] = (tokens - 1.0, now)
        return 0.0

    def _forget_full_buckets(self, now: float) -> None:
        """Buckets that have refilled carry no information: drop them."""
        refill = self.burst / self.rate
        for client, (_, last) in list(self._buckets.items()):
            if now - last > refill:
                del self._buckets[client]
        if len(self._buckets) >= _MAX_BUCKETS:
            self._buckets.clear()


def _same_origin(origin: str, host: str) -> bool:
    """``Origin: http://HOST:PORT`` naming the authority the request was sent to."""
    scheme, sep, authority = origin.partition("://")
    return bool(sep and host) and scheme.lower() in ("http", "https") \
        and authority.rstrip("/").lower() == host.lower()
