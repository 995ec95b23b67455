"""Each upstream's figures in /metrics: calls, failures, refusals, seconds, circuit.

The guard (``circuit.Guard``) counts them for /healthz already; ``publish`` copies
them into prometheus_client's values with the gateway's other figures (once a
second and before every scrape), so with ``workers = N`` the counters add up
over the workers in a scrape, ``in_flight`` too, and ``circuit_open`` says in
how many workers the circuit is open (each worker has its own). The label is
the name /healthz uses: the prefix, or the upstream's URL without credentials;
only configured upstreams have one, so clients cannot create series.
"""

from __future__ import annotations

from typing import Any, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

Guards = Callable[[], list[tuple[str, Any]]]  # -> [(label, circuit.Guard)]


class UpstreamFigures:
    """The six series, each upstream's row set from its guard at every publish."""

    def __init__(self, guards: Guards, registry: CollectorRegistry | None,
                 set_counter: Callable[[Any, float], None]) -> None:
        self._guards = guards
        self._set_counter = set_counter  # gateway.metrics' setter of a counter's total
        label = ("upstream",)
        self.calls = Counter("rpc_gateway_upstream_calls", "Calls sent to an upstream, "
                             "answered or not", label, registry=registry)
        self.failures = Counter("rpc_gateway_upstream_failures", "Upstream calls that failed "
                                "(unreachable, timed out, unusable answer; a fault is no "
                                "failure)", label, registry=registry)
        self.refused = Counter("rpc_gateway_upstream_refused", "Upstream calls answered "
                               "-32000 without being sent (circuit open, or max_in_flight "
                               "calls waiting)", label, registry=registry)
        self.seconds = Counter("rpc_gateway_upstream_seconds", "Seconds spent in upstream "
                               "calls (divide by calls for the mean)", label, registry=registry)
        self.in_flight = Gauge("rpc_gateway_upstream_in_flight", "Calls waiting on an "
                               "upstream now", label, registry=registry,
                               multiprocess_mode="livesum")
        self.circuit_open = Gauge("rpc_gateway_upstream_circuit_open", "1 while the circuit "
                                  "is open or half open (with workers: how many workers' "
                                  "circuits are)", label, registry=registry,
                                  multiprocess_mode="livesum")
        for name, _ in guards():  # every upstream's series from the start, at 0
            self._series(name)

    def _series(self, name: str) -> tuple:
        return tuple(metric.labels(name) for metric in (
            self.calls, self.failures, self.refused, self.seconds, self.in_flight,
            self.circuit_open))

    def publish(self) -> None:
        for name, guard in self._guards():
            calls, failures, refused, seconds, in_flight, is_open = guard.figures()
            c, f, r, s, waiting, circuit = self._series(name)
            for counter, total in ((c, calls), (f, failures), (r, refused), (s, seconds)):
                self._set_counter(counter, total)
            waiting.set(in_flight)
            circuit.set(1 if is_open else 0)
