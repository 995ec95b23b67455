"""Who may talk to the gateway: client networks, browser origins, and call rates.

All three are off by default (loopback use needs none of them) and are
checked on the connection loop, so they cost a lookup, never a thread:
- networks: a client outside every configured CIDR is answered 403;
- origins: a request carrying an ``Origin`` not in the list is refused 403,
  because text/plain and form POSTs are CORS "simple requests" that any web
  page can send to a gateway on a user's loopback or LAN;
- rate: a token bucket per client address; an empty bucket means HTTP 429.
"""

from __future__ import annotations

import ipaddress
import time

_MAX_BUCKETS = 10000


class AccessPolicy:
    def __init__(self, networks: tuple[str, ...], origins: tuple[str, ...], rate: float,
                 burst: int) -> None:
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]
        self.origins = frozenset(o.rstrip("/").lower() for o in origins)
        self.rate = rate
        self.burst = max(burst, 1)
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

    def origin_allowed(self, origin: str | None) -> bool:
        """Requests without Origin are not from a browser page: allowed."""
        return origin is None or "*" in self.origins or origin.rstrip("/").lower() in self.origins

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
