"""The method table's side of upstreams: loading, SIGHUP refresh, /healthz, /metrics, closing."""

from __future__ import annotations

from typing import Any

from gateway.upstream.service import Upstream, UpstreamMethods
from gateway.upstream.urls import parse_spec


def load_upstream(spec: str) -> tuple[str, UpstreamMethods]:
    """``[prefix=]URL`` -> (prefix, the table's view of the upstream); lists its methods."""
    prefix, url = parse_spec(spec)
    upstream = Upstream(url)
    upstream.refresh()
    return prefix, UpstreamMethods(upstream)


def _upstreams(services: list[tuple[str, object]]) -> list[tuple[str, Upstream]]:
    return [(prefix, object.__getattribute__(service, "_upstream"))
            for prefix, service in services if isinstance(service, UpstreamMethods)]


def refresh_upstreams(table: Any) -> None:
    """SIGHUP: re-read every upstream's method list, then rebuild the table's names."""
    found = _upstreams(table.services)
    for _, upstream in found:
        upstream.refresh()
    if found:
        table.reload_methods()


def upstream_health(services: list[tuple[str, object]]) -> dict[str, Any]:
    """``{"upstreams": {prefix or url: state}}`` for /healthz; {} with no upstreams."""
    found = _upstreams(services)
    if not found:
        return {}
    return {"upstreams": {prefix or upstream.name: upstream.health()
                          for prefix, upstream in found}}


def upstream_guards(services: list[tuple[str, object]]) -> list[tuple[str, Any]]:
    """(the name /healthz shows, its Guard) per upstream, for /metrics."""
    return [(prefix or upstream.name, upstream.guard) for prefix, upstream in _upstreams(services)]


def close_upstreams(services: list[tuple[str, object]]) -> None:
    for _, upstream in _upstreams(services):
        upstream.close()
