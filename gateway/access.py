"""Who may talk to the gateway: client networks, browsers, and call rates.

All are checked on the connection loop, so they cost a lookup, never a thread:
- networks: a client outside every configured CIDR is answered 403 (off by default);
- browsers: see ``browser_refusal``; on by default, because any web page can make a
  user's browser send requests to a gateway on loopback or the LAN, and a page whose
  name the attacker re-points at the gateway (DNS rebinding) counts as its own origin;
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
    """The ``[access]`` keys (and ``http.get_calls``), each under its configuration name."""

    def __init__(self, allow_networks: tuple[str, ...], allowed_origins: tuple[str, ...],
                 rate: float, burst: int, get_calls: bool = True,
                 allowed_hosts: tuple[str, ...] = ()) -> None:
        self.allow_networks = [ipaddress.ip_network(n, strict=False) for n in allow_networks]
        self.allowed_origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)
        self.allowed_hosts = frozenset(h.strip().rstrip(".").lower() for h in allowed_hosts)
        self.rate = rate
        self.burst = max(burst, 1)
        self.get_calls = get_calls
        self._buckets: dict[str, tuple[float, float]] = {}

    def client_allowed(self, client: str) -> bool:
        if not self.allow_networks or client == "unix":
            return True
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        if address.version == 6 and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self.allow_networks)

    def origin_listed(self, origin: str) -> bool:
        """``origin`` is in ``access.allowed_origins`` (or the list holds ``*``)."""
        return "*" in self.allowed_origins or origin.rstrip("/").lower() in self.allowed_origins

    def cors_headers(self, origin: str | None) -> dict[str, str]:
        """CORS answer headers: only a listed Origin may read answers cross-origin."""
        if origin is None or not self.origin_listed(origin):
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def host_trusted(self, host: str) -> bool:
        """The ``Host`` a request named is the gateway's: an IP address, localhost, or listed.

        After DNS rebinding, a page of ``attacker.example`` reaches the gateway as its own
        origin, and only the Host header still says which name the browser used.
        """
        name = _host_name(host)
        if not name:
            return False
        if name == "localhost" or name.endswith(".localhost") or "*" in self.allowed_hosts \
                or name in self.allowed_hosts:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

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

        DNS rebinding makes an attacker's page the gateway's own origin, and browsers
        send Fetch Metadata only to https and localhost, so a rebound page's GET looks
        like curl's: calls by GET, and browser calls of the gateway's own origin, run only
        when ``Host`` names the gateway (``host_trusted``).
        """
        if method in ("GET", "HEAD"):
            if not query:
                return None  # the index page and /healthz: no method runs
            if not self.get_calls:
                return HTTPError(405, "calls by GET are switched off (http.get_calls = false); "
                                      "POST them")
            if not self.host_trusted(headers.get("host", "")):
                return _rebound()  # a GET to a plain-HTTP name carries no browser header
        site = headers.get("sec-fetch-site", "").lower()
        origin = headers.get("origin")
        if site == "none":  # typed, a bookmark: no page chose the request
            return None
        if site == "same-origin":
            return None if self.host_trusted(headers.get("host", "")) else _rebound()
        if site in _OTHER_SITES:
            if origin is not None and self.origin_listed(origin) \
                    and headers.get("sec-fetch-mode", "").lower() == "cors":
                return None
            return HTTPError(403, "calls from other web sites are refused (Sec-Fetch-Site: "
                                  f"{site}; see access.allowed_origins)")
        if origin is None or self.origin_listed(origin):
            return None  # no Fetch Metadata: the Origin alone decides
        if _same_origin(origin, headers.get("host", "")):
            return None if self.host_trusted(headers.get("host", "")) else _rebound()
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


def _rebound() -> HTTPError:
    return HTTPError(403, "calls by GET and browser calls to this host name are refused "
                          "(DNS rebinding?); list the name in access.allowed_hosts")


def _host_name(host: str) -> str:
    """``Host: name:port`` or ``[v6]:port`` without the port, lower case, no trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0].rstrip(".") if ":" in host else host.rstrip(".")


def _same_origin(origin: str, host: str) -> bool:
    """``Origin: http://HOST:PORT`` naming the authority the request was sent to."""
    scheme, sep, authority = origin.partition("://")
    return bool(sep and host) and scheme.lower() in ("http", "https") \
        and authority.rstrip("/").lower() == host.lower()
