"""Prometheus metrics: what is called, how often, how fast, and what fails.

One ``Metrics`` per gateway process, fed by one call per finished request
(``record``, with the same method name and the same measured seconds as the
access log line) and read by ``GET /metrics``, the front page and nothing else.

Label values are bounded: only registered methods get their own ``method``
label; anything a client invents is counted as ``unknown`` (and a JSON-RPC
batch refused whole as ``batch``), so a client cannot create series. The calls
inside a batch or a system.multicall count each under its own method: the
protocol servers hand them back (gateway/outcomes.py) beside the request's.

Two halves, so that counting costs a call as little as it can:
- the hot path counts into a ``Tally`` (gateway/tally.py): plain numbers under
  one lock, 0.6 µs a call, where a prometheus_client observation costs 0.7 µs
  in one process and 2 µs with workers (a memory-mapped file write per value);
- ``publish`` copies what changed into prometheus_client's metric objects,
  which keep the output names, types and formats, and the multiprocess files.
  A scrape (and the front page) publishes this process's figures first.

With ``workers = N`` the master creates one directory per start
(``shared_directory``); every worker's prometheus_client values are files
there (its multiprocess mode), written by its publisher thread once every
``PUBLISH_EVERY`` second, before the worker answers a scrape, and at a
graceful stop (``close``). Whichever worker answers a scrape reads all the
files (``MultiProcessCollector``): its own figures are the latest, the other
workers' at most a second old. A worker that died keeps its counts (its files
stay; a SIGKILL loses what it counted since its last publish) but not its
gauges. The directory is removed when the master stops.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import shutil
import tempfile
import threading
from typing import Any, Callable, Iterable, Iterator

from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram,
                               disable_created_metrics, values)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from gateway import __version__
from gateway.access import AccessPolicy
from gateway.http import HTTPError
from gateway.outcomes import Outcomes
from gateway.reply import Reply
from gateway.tally import Tally
from gateway.upstream.figures import Guards, UpstreamFigures

log = logging.getLogger(__name__)

SHARED_ENV = "PROMETHEUS_MULTIPROC_DIR"  # the variable prometheus_client's own docs name
PROTOCOLS = ("xmlrpc", "jsonrpc", "http")
# Calls take tens of microseconds to a few seconds: the default buckets start at 5 ms.
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
           0.5, 1.0, 2.5, 5.0, 10.0)
PUBLISH_EVERY = 1.0  # seconds between a worker's publishes (figures and gauges)
_owner_pid: int | None = None  # the prefork master's pid, inherited by its workers
_reloads: Counter | None = None
disable_created_metrics()  # *_created series double the output; multiprocess mode has none


class Metrics:
    """The gateway's figures; ``record`` is the hot path, everything else is scrape time."""

    def __init__(self, methods: Iterable[str], live: Callable[[], tuple[int, int]],
                 enabled: bool = True, allow_networks: Iterable[str] = (),
                 upstreams: Guards = lambda: []) -> None:
        self.enabled = enabled
        self._upstream_guards = upstreams
        self.methods = frozenset(methods)
        self.live = live  # () -> (calls in flight, open connections) of this process
        self.configure(allow_networks)
        self.shared = os.environ.get(SHARED_ENV) if enabled else None
        if self.shared:
            _use_shared_values()
        self.registry = CollectorRegistry(auto_describe=True)
        self._define(self.registry if not self.shared else None)
        self.registry.register(_ReloadCollector())
        self.tally = Tally(BUCKETS)
        for protocol in ("xmlrpc", "jsonrpc"):  # every registered method's series, at 0
            for method in self.methods:
                self.tally.rows[(protocol, method)] = self.tally.empty_row()
        self._publishing = threading.Lock()
        self._stopping = threading.Event()
        self._publisher: threading.Thread | None = None
        self.publish()
        if self.shared:
            self._publisher = threading.Thread(target=self._publish_forever,
                                               name="metrics-publisher", daemon=True)
            self._publisher.start()

    def _define(self, registry: CollectorRegistry | None) -> None:
        labels = ("protocol", "method")
        self.errors = Counter("rpc_gateway_call_errors", "RPC calls answered with an error "
                              "or fault, by code", (*labels, "code"), registry=registry)
        self.latency = Histogram("rpc_gateway_call_duration_seconds", "Seconds from the "
                                 "start of a call to its answer being sent", labels,
                                 buckets=BUCKETS, registry=registry)
        self.http_errors = Counter("rpc_gateway_http_errors", "HTTP 4xx and 5xx answers, "
                                   "by status", ("status",), registry=registry)
        self.auth_failures = Counter("rpc_gateway_auth_failures", "Requests refused "
                                     "with 401 (missing or wrong credentials)", registry=registry)
        self.rate_limited = Counter("rpc_gateway_rate_limited", "Requests refused with 429 "
                                    "by access.rate", registry=registry)
        self.in_flight = Gauge("rpc_gateway_in_flight", "Calls being answered or queued",
                               registry=registry, multiprocess_mode="livesum")
        self.connections = Gauge("rpc_gateway_open_connections", "Open client connections",
                                 registry=registry, multiprocess_mode="livesum")
        info = Gauge("rpc_gateway_build_info", "The running build; always 1",
                     ("version", "python"), registry=registry, multiprocess_mode="max")
        info.labels(__version__, platform.python_version()).set(1)
        self.upstreams = UpstreamFigures(self._upstream_guards, registry, _set_counter)

    def configure(self, allow_networks: Iterable[str]) -> None:
        """Who may scrape, on top of access.allow_networks; empty = as /healthz."""
        self.scrapers = AccessPolicy(tuple(allow_networks), (), 0.0, 1)

    # -- the hot path ---------------------------------------------------------------------

    def record(self, http_method: str, protocol: str, method: str, outcome: str, status: int,
               seconds: float, calls: Outcomes | None = None) -> None:
        """One finished HTTP request, as its access log line sees it; a batch's or a
        multicall's ``calls`` each count under their own method, with its duration."""
        if not self.enabled:
            return
        if status >= 400:
            self._count_status(status)
        if method != "-" or outcome.startswith(("fault ", "error ")):  # not a page or a probe
            # GET /?a=1&b=2 and GET /jsonrpc?method=... are the "http" protocol's calls.
            protocol = protocol if http_method == "POST" else "http"
            if not calls:  # None for one call; () for an empty multicall: the request counts
                self.call(protocol, method, outcome, seconds)
                return
            for name, result in calls:  # answered together: each took the request's time
                self.call(protocol, name, result, seconds)

    def call(self, protocol: str, method: str, outcome: str, seconds: float) -> None:
        """One answered call, from any front ("zerorpc" too); outcome "ok", "fault N"..."""
        if not self.enabled:
            return
        label = method if method in self.methods else self.label(method)
        self.tally.observe((protocol, label), seconds)  # also the call count, see _WithCallCounts
        if outcome != "ok" and outcome.startswith(("fault ", "error ")):
            self.tally.count(("errors", protocol, label, outcome[6:]))

    def label(self, method: str) -> str:
        if method in self.methods:
            return method
        return "batch" if method == "batch" else "unknown"  # "batch": refused whole

    def _count_status(self, status: int) -> None:
        self.tally.count(("http_errors", str(status)))
        if status == 401:
            self.tally.count(("auth_failures",))
        elif status == 429:
            self.tally.count(("rate_limited",))

    # -- publishing: the tally into prometheus_client's values ------------------------------

    def publish(self) -> None:
        """Copy what the tally counted since the last publish into prometheus_client's
        values: this process's registry, or this worker's files in the shared directory."""
        with self._publishing:  # one at a time, so an older figure never follows a newer
            rows, counts = self.tally.changes()
            for (protocol, label), row in rows.items():
                _set_histogram(self.latency.labels(protocol, label), row)
            for (name, *labels), n in counts.items():
                counter = getattr(self, name)
                _set_counter(counter.labels(*labels) if labels else counter, n)
            self.upstreams.publish()

    def close(self) -> None:
        """At a graceful stop: the last figures out, for the scrapes other workers answer."""
        self._stopping.set()
        if self._publisher is not None:
            self._publisher.join(5)
        if self.enabled:
            self.publish()

    def _publish_forever(self) -> None:
        """Every PUBLISH_EVERY seconds: this worker's figures, for scrapes others answer."""
        while not self._stopping.wait(PUBLISH_EVERY):
            try:
                self._sample()
                self.publish()
            except Exception:  # e.g. the loop is being torn down: the next round retries
                log.debug("metrics publish failed", exc_info=True)

    # -- scrape time ------------------------------------------------------------------------

    def serves(self, request: Any) -> bool:
        """Whether ``GET /metrics`` is answered here; 403 for a client not allowed to scrape."""
        if not self.enabled or request.method not in ("GET", "HEAD"):
            return False
        if not self.scrapers.client_allowed(request.client):
            raise HTTPError(403, "this address may not read /metrics (see metrics.allow_networks)")
        return True

    def answer(self, request: Any) -> Reply:
        """The reply to a scrape, text format or OpenMetrics by ``Accept``."""
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Reply(200, encode(self.collector()), content_type)

    def collector(self) -> CollectorRegistry:
        """What a scrape reads: this process's registry, or every worker's files,
        this process's own brought up to date first (the others are at most
        PUBLISH_EVERY behind)."""
        self._sample()
        self.publish()
        if self.shared:
            _forget_dead_workers(self.shared)
            source: Any = MultiProcessCollector(None, path=self.shared)
        else:
            source = self.registry
        registry = CollectorRegistry()
        registry.register(_WithCallCounts(source))
        return registry

    def figures(self) -> dict[str, tuple[float, float, float | None, float | None]]:
        """method -> (calls, errors, p50, p99 seconds) over all protocols, for the front page."""
        calls: dict[str, float] = {}
        errors: dict[str, float] = {}
        buckets: dict[str, dict[float, float]] = {}
        for family in self.collector().collect():
            for sample in family.samples:
                method = sample.labels.get("method")
                if sample.name == "rpc_gateway_calls_total":
                    calls[method] = calls.get(method, 0.0) + sample.value
                elif sample.name == "rpc_gateway_call_errors_total":
                    errors[method] = errors.get(method, 0.0) + sample.value
                elif sample.name == "rpc_gateway_call_duration_seconds_bucket":
                    per = buckets.setdefault(method, {})
                    bound = float(sample.labels["le"])
                    per[bound] = per.get(bound, 0.0) + sample.value
        return {m: (n, errors.get(m, 0.0), quantile(0.5, buckets.get(m, {})),
                    quantile(0.99, buckets.get(m, {}))) for m, n in calls.items()}

    def _sample(self) -> None:
        in_flight, connections = self.live()
        self.in_flight.set(in_flight)
        self.connections.set(connections)


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Estimate a quantile from cumulative bucket counts, as PromQL's histogram_quantile."""
    bounds = sorted(buckets.items())
    if not bounds or bounds[-1][1] == 0:
        return None
    rank = q * bounds[-1][1]
    lower = below = 0.0
    for upper, count in bounds:
        if count >= rank:
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower


def count_reload(ok: bool) -> None:
    """A configuration reload and its outcome, counted once per gateway: by the prefork
    master, which validates every reload first, not again by each of its workers."""
    global _reloads
    if _owner_pid is not None and _owner_pid != os.getpid():
        return
    if _reloads is None:
        if os.environ.get(SHARED_ENV):
            _use_shared_values()
        _reloads = Counter("rpc_gateway_reloads", "Configuration reloads (SIGHUP), by outcome",
                           ("outcome",), registry=None)
        for outcome in ("ok", "failed"):
            _reloads.labels(outcome)
    _reloads.labels("ok" if ok else "failed").inc()


class _WithCallCounts:
    """``rpc_gateway_calls_total`` from the latency histogram's counts.

    Every call is observed once in the histogram, whose count is the number of
    calls; a separate counter would cost the hot path a third more (one more
    write, into a shared file with workers) to say the same thing.
    """

    def __init__(self, source: Any) -> None:
        self.source = source

    def collect(self) -> Iterator[Any]:
        for family in self.source.collect():
            yield family
            if family.name == "rpc_gateway_call_duration_seconds":
                calls = CounterMetricFamily("rpc_gateway_calls", "RPC calls answered",
                                            labels=("protocol", "method"))
                for sample in family.samples:
                    if sample.name.endswith("_count"):
                        calls.add_metric((sample.labels["protocol"], sample.labels["method"]),
                                         sample.value)
                yield calls


class _ReloadCollector:
    """Shows this process's reload counter in a one-process gateway's registry."""

    def collect(self) -> Iterator[Any]:
        if _reloads is not None:
            yield from _reloads.collect()

    def describe(self) -> list:
        return []


@contextlib.contextmanager
def shared_directory() -> Iterator[str]:
    """A fresh directory for the workers' figures, for the lifetime of a prefork master."""
    global _owner_pid
    parent = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0] or None
    path = tempfile.mkdtemp(prefix="rpc-gateway-metrics-", dir=parent)
    previous = os.environ.get(SHARED_ENV)
    os.environ[SHARED_ENV] = path
    _owner_pid = os.getpid()
    try:
        yield path
    finally:
        _owner_pid = None
        if previous is None:
            os.environ.pop(SHARED_ENV, None)
        else:
            os.environ[SHARED_ENV] = previous
        shutil.rmtree(path, ignore_errors=True)


def _set_histogram(series: Any, row: list) -> None:
    """A histogram child's per-bucket counts and sum, set whole from a tally row.

    prometheus_client has no public setter for these (a histogram is only
    observed); its value holders are the same objects its own ``observe``
    increments, so the registry and the multiprocess files read them as usual.
    """
    for value, calls in zip(series._buckets, row):
        value.set(calls)
    series._sum.set(row[-1])


def _set_counter(counter: Any, total: float) -> None:
    counter._value.set(total)  # as _set_histogram: the value holder ``inc`` would add to


def _use_shared_values() -> None:
    """Metric values live in files from here on in this process.

    prometheus_client picks its value class when it is first imported, from the
    environment; the master imports it before it creates the directory, so a
    worker (forked later) switches explicitly, before it defines any metric.
    """
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()


def _forget_dead_workers(path: str) -> None:
    """A replaced worker's gauges must not count: drop the live-mode files of dead pids."""
    for name in os.listdir(path):
        if not name.startswith("gauge_live"):
            continue
        pid = name.rsplit("_", 1)[-1].removesuffix(".db")
        if pid.isdigit() and not _alive(int(pid)):
            mark_process_dead(int(pid), path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
