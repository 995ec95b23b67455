"""An upstream as a service of the method table, beside the in-process ones.

The table takes a service's public callables by name; an ``Upstream``'s are
the upstream's own methods (``aria2.addUri``, ``supervisor.getState``), from its
introspection or from ``#methods=``, each a ``BridgedMethod`` that calls through
the guard (circuit, in-flight bound), retrying only a call that never left.
``refresh`` re-reads the method list (at start and on SIGHUP); when the
upstream cannot be asked, the last known list stays and the problem is logged
and shown in /healthz.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from gateway.upstream.circuit import Guard
from gateway.upstream.credentials import authorization
from gateway.upstream.errors import NotSent
from gateway.upstream.jsonrpc_upstream import JSONRPCUpstream
from gateway.upstream.urls import UpstreamURL
from gateway.upstream.xmlrpc_upstream import XMLRPCUpstream

log = logging.getLogger("gateway.upstream")
RETRY_PAUSE = 0.05  # seconds before retrying a call that was refused


def _client_class(protocol: str) -> type:
    if protocol == "zerorpc":  # pyzmq is imported only by a gateway that bridges zerorpc
        from gateway.upstream.zerorpc_upstream import ZerorpcUpstream
        return ZerorpcUpstream
    return {"xmlrpc": XMLRPCUpstream, "jsonrpc": JSONRPCUpstream}[protocol]


STREAM_MARKER = "__rpc_stream__"  # handlers.streams.MARKER: the zerorpc front streams these


class BridgedMethod:
    """One upstream method; named parameters pass to JSON-RPC upstreams only."""

    def __init__(self, upstream: "Upstream", name: str, help_text: str) -> None:
        self._upstream = upstream
        self._name = name
        self.__doc__ = help_text or f"{name} on {upstream.url.display}"
        if name in upstream.url.option("streams"):
            setattr(self, STREAM_MARKER, True)  # its answer is a (bounded) list of the items

    def __call__(self, *params: Any, **named: Any) -> Any:
        return self._upstream.call(self._name, named if named else params)


class Upstream:
    """One upstream service: its client, its guard, its current method list."""

    def __init__(self, url: UpstreamURL) -> None:
        self.url = url
        self.name = url.display
        self.client = _client_class(url.protocol)(url, authorization(url))
        self.guard = Guard(self.name, url.option("max_in_flight"), url.option("connect_timeout"),
                           url.option("failures"), url.option("reset"))
        self.methods: dict[str, BridgedMethod] = {}
        self.refreshed = ""
        self.refresh_error = ""

    def call(self, method: str, params: Any) -> Any:
        attempts = 1 + self.url.option("retries")
        for attempt in range(attempts):
            start = time.perf_counter()
            try:
                result = self.guard.run(lambda: self._one(method, params))
            except NotSent:
                if attempt + 1 == attempts:
                    raise
                time.sleep(RETRY_PAUSE)
                continue
            log.debug("upstream %s %s %.1fms", self.name, method,
                      1000 * (time.perf_counter() - start))
            return result
        raise AssertionError("unreachable")

    def _one(self, method: str, params: Any) -> Any:
        if (method == "system.multicall" and self.url.protocol == "jsonrpc"
                and isinstance(params, (list, tuple)) and len(params) == 1):
            return self.client.multicall(params[0])  # one JSON-RPC batch
        return self.client.call(method, params)

    def refresh(self) -> bool:
        """Re-read the method list; False (old list kept, reason logged) when it fails."""
        listed = self.url.option("methods")
        try:
            found = {name: "" for name in listed} if listed else self._discover()
        except Exception as error:  # anything: the gateway must start and keep serving
            self.refresh_error = str(error)[:300]
            log.error("upstream %s: cannot list its methods (%s); keeping %d known",
                      self.name, self.refresh_error, len(self.methods))
            return False
        if self.url.protocol == "jsonrpc":  # answered as one batch (see _one), listed or not
            found.setdefault("system.multicall", "Several calls in one request: sent to the "
                                                 "upstream as one JSON-RPC batch.")
        self.methods = {name: BridgedMethod(self, name, text) for name, text in found.items()
                        if isinstance(name, str) and name and not name.startswith("_")}
        self.refreshed, self.refresh_error = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                           time.gmtime()), ""
        log.info("upstream %s: %d methods", self.name, len(self.methods))
        return True

    def _discover(self) -> dict[str, str]:
        return self.guard.run(self.client.discover)

    def health(self) -> dict[str, Any]:
        return {"url": self.name, "methods": len(self.methods), "refreshed": self.refreshed,
                **({"refresh_error": self.refresh_error} if self.refresh_error else {}),
                **self.guard.health()}

    def close(self) -> None:
        self.client.close()


class UpstreamMethods:
    """What the method table sees: exactly the upstream's method names, nothing else public."""

    def __init__(self, upstream: Upstream) -> None:
        object.__setattr__(self, "_upstream", upstream)

    def __dir__(self) -> list[str]:
        return sorted(self._upstream.methods)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._upstream.methods[name]
        except KeyError:
            raise AttributeError(name) from None
