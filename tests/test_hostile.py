"""Issue 4's hostile-input catalogue: every malformed or abusive request gets a clear, safe answer.

Each case of ``tests/hostile/cases.py`` is sent on a raw socket to a real
in-process gateway, and the test asserts, for every case alike:
- the right HTTP status or RPC error code, within the case's bound (5 s, or
  1 s for calculator abuse that must be refused before it is computed);
- no traceback, file path, exception repr or secret in the reply;
- nothing was fetched from a URL a request named (a trap socket stays
  unvisited), no class hint ran code or imported a module;
- the connection loop is still alive, and a normal call on a NEW connection
  succeeds with xmlrpc.client and jsonrpclib.
"""

from __future__ import annotations

import os
import sys

import pytest

from tests.hostile.cases import CATALOGUE
from tests.hostile.catalogue import Case, Target
from tests.hostile.checks import assert_no_leak, assert_still_serving
from tests.hostile.gateways import WITH_BROKEN, GatewaySet, Trap
from tests.hostile.wire import exchange

MiB = 1 << 20
CONFIGURATIONS = {
    # Tight limits: oversized requests stay small, so the whole catalogue runs in seconds.
    "small": {"service__services": WITH_BROKEN, "server__xmlrpc_threads": 4,
              "server__jsonrpc_threads": 4, "limits__max_body_bytes": 64 * 1024,
              "limits__max_decompressed_bytes": 256 * 1024, "limits__max_header_bytes": 4096,
              "limits__max_headers": 32, "limits__max_request_line": 1024,
              "limits__max_depth": 16, "limits__max_calls": 10},
    # The shipped defaults, for the 100,000-level nesting cases that need a 4 MiB body.
    "default": {"service__services": WITH_BROKEN},
}
TRIPWIRE_MODULE = "tests.hostile.tripwire"


@pytest.fixture(scope="module")
def gateways():
    started = GatewaySet(CONFIGURATIONS)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture(scope="module")
def trap():
    listener = Trap()
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture(scope="module")
def exploit_files(tmp_path_factory):
    """(marker, tripwire log): files that exist only if a class hint was honoured."""
    folder = tmp_path_factory.mktemp("hostile")
    marker, tripwire = folder / "exploited", folder / "tripwire.log"
    os.environ["HOSTILE_TRIPWIRE_FILE"] = str(tripwire)
    try:
        yield marker, tripwire
    finally:
        os.environ.pop("HOSTILE_TRIPWIRE_FILE", None)


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda case: case.name)
def test_hostile_request_gets_a_clear_safe_answer(case: Case, gateways, trap, exploit_files):
    marker, tripwire = exploit_files
    gateway = gateways.get(case.gateway)
    target = Target(gateway.limits, trap.url, str(marker))

    try:
        reply = exchange(gateway.address, case.build(target),
                         timeout=max(case.expect.within, 5.0))
    except AssertionError:  # no reply: first tell whether the request killed the loop
        assert gateway.survives(), "this request killed the gateway's connection loop"
        raise

    assert gateway.alive, "this request killed the gateway's connection loop"
    case.expect.verify(reply, target)
    assert_no_leak(reply)
    assert trap.visited() == 0, "the gateway fetched a URL named in a request"
    assert not marker.exists(), "a class hint ran code on the server"
    assert not tripwire.exists() and TRIPWIRE_MODULE not in sys.modules, \
        "a class hint imported or instantiated a class"
    assert_still_serving(gateway.url)


def test_catalogue_covers_every_class_the_issue_names():
    """Guard against a class of input silently dropped from the catalogue."""
    names = " ".join(case.name.lower() for case in CATALOGUE)
    for needle in ("laughs", "external entity", "dtd", "truncated", "100,000",
                   "content-length -1", "17 digits", "abc", "conflicting", "transfer-encoding",
                   "chunk", "gzip bomb", "request line", "max_headers", "class hint",
                   "pow(10, 10**9)", "getpow", "10,000-digit", "5,000-digit", "pow(0, -1)",
                   "max_calls", "nested in multicall", "password", "http/0.9", "bare lf",
                   "lone cr", "esc in", "nul in", "request target", "rebound host"):
        assert needle in names, f"no case for {needle!r}"
