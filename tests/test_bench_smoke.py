"""The benchmark harness works end to end: bench/ in its seconds-long smoke mode.

This proves the harness, not the gateway's speed: every server starts, every
row is measured with calls and a CPU figure, the reports are written in the
promised shape. No assertion here is about how fast anything is.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xmlrpc.client
from pathlib import Path

from bench import loads, servers

ROOT = Path(__file__).resolve().parents[1]
SERVERS = {"gateway", "gateway-quiet", "stdlib-shipped", "stdlib-tuned", "jsonrpclib-shipped",
           "jsonrpclib-tuned", "aria2"}


def run_smoke(out: Path) -> tuple[subprocess.CompletedProcess, dict, str]:
    done = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    (json_path,) = out.glob("bench-*.json")
    (markdown_path,) = out.glob("bench-*.md")
    return done, json.loads(json_path.read_text()), markdown_path.read_text()


def test_smoke_run_measures_every_server_and_writes_the_report(tmp_path):
    done, result, markdown = run_smoke(tmp_path)

    meta = result["meta"]
    for key in ("date", "nproc", "cpu_model", "python", "pinning", "loadavg_before"):
        assert meta[key], key
    measured = {cell["server"] for cell in result["cells"]}
    assert SERVERS <= measured
    # workers=2 is measured, or the report says why not
    assert "gateway-w2" in measured or any("--workers" in n for n in meta["notes"])
    for cell in result["cells"]:
        assert "error" not in cell, cell
        assert cell["calls"] > 0 and cell["seconds"] > 0, cell
        assert cell["cpu_us_per_call"] > 0, cell
        assert cell["steal_s"] >= 0, cell  # the hypervisor's share, read from /proc/stat
        assert 0 < cell["p50_ms"] <= cell["p99_ms"], cell
        if cell["server"].startswith("gateway"):
            assert cell["errors"] == 0, cell  # every answer was checked by rpc.lua / pyload
    aria2 = {(c["load"], c["protocol"], c["payload"]) for c in result["cells"]
             if c["server"] == "aria2"}
    assert aria2 == {("wrk", "xml", "small"), ("wrk", "json", "small")}  # the anchor's rows
    # the shipped-defaults gateway logged its calls (one line each), the quiet one none
    assert meta["access_lines"]["gateway"] >= sum(
        c["calls"] for c in result["cells"] if c["server"] == "gateway")
    assert meta["access_lines"]["gateway-quiet"] == 0
    assert "unpinned" in meta["pinning"]
    loads_seen = {(c["load"], c["protocol"], c["payload"]) for c in result["cells"]}
    assert {("wrk", "xml", "small"), ("wrk", "json", "small"), ("python", "xml", "small"),
            ("python", "json", "small"), ("wrk", "xml", "struct1000")} <= loads_seen

    gateway_idle = next(e for e in result["idle"] if e["server"] == "gateway")
    assert gateway_idle["answered"] == gateway_idle["idle_connections"]
    assert all(f["calls"] > 0 for f in gateway_idle["fresh"])
    assert gateway_idle["threads_max"] > 0 and gateway_idle["thread_bound"] > 0
    assert result["memory"]["calls"] >= meta["plan"]["rss_calls"]
    assert result["memory"]["rss_start_mib"] > 0

    assert {t["met"] for t in result["targets"]} <= {True, False, None}
    for heading in ("## Calls per second", "## Latency and server CPU", "## Targets",
                    "## Machine noise", "Hypervisor steal (CPU time",
                    "| load | protocol | payload | concurrency | gateway | log off |",
                    "| target (issue 10) | measured | met |"):
        assert heading in markdown
    assert markdown.strip() in done.stdout


def test_wrk_script_counts_a_fault_as_an_error_not_a_call(tmp_path):
    gateway = servers.start_gateway("gateway", tmp_path, set())
    try:
        env = loads.wrk_env("xml", "small", tmp_path)
        fault_body = tmp_path / "divide.xml"
        fault_body.write_text(xmlrpc.client.dumps((1, 0), "divide"))
        result = loads.run_wrk(gateway.url("xml"), {**env, "BENCH_BODY": str(fault_body)},
                               2, 0.5, set())
    finally:
        gateway.stop()
    assert result["calls"] == 0
    assert result["errors"] > 0


def test_a_ratio_is_the_median_of_the_rounds_ratios():
    """Per round 1.11x, 2.0x, 1.5x: the ratio is 1.5x, where the medians would say 2.0x."""
    from bench import report
    key = ("wrk", "xml", "small", 16)
    cells = [{"round": n, "load": "wrk", "protocol": "xml", "payload": "small",
              "concurrency": 16, "server": server, "calls": 1, "calls_per_s": rate}
             for n, pair in enumerate([(1000, 900), (2000, 1000), (3000, 2000)], 1)
             for server, rate in zip(("gateway", "stdlib-tuned"), pair)]
    table = report.aggregate(cells)
    assert report.ratio(table, key, "gateway", "tuned") == 1.5
    del table[key]["tuned"]["by_round"]  # no rounds to pair: the medians are compared
    assert report.ratio(table, key, "gateway", "tuned") == 2.0


def test_cells_that_lost_cpu_to_the_hypervisor_are_named():
    """2 CPUs, 2 s cells: 0.3 s stolen is 7.5 % (named), 0.1 s is 2.5 % (counted only)."""
    from bench import report
    cells = [{"round": n, "load": "wrk", "protocol": "json", "payload": "small",
              "concurrency": 16, "server": "gateway", "seconds": 2.0, "steal_s": stolen}
             for n, stolen in ((1, 0.1), (2, 0.3), (3, 0.0))]
    lines = report.noise_lines(cells, 2)
    assert "0.4 s in 6 s of cells (3.3% of 2 CPUs)" in lines[0]
    assert "1 of 3." in lines[0]
    assert lines[2:] == ["- round 2, wrk JSON-RPC small 16 conns, gateway: 8%"]
    assert report.noise_lines([{k: v for k, v in c.items() if k != "steal_s"} for c in cells],
                              2) == ["Hypervisor steal was not recorded in this run."]
