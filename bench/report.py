"""Turn the raw cells of a run into medians, ratios, a markdown report and target verdicts.

Rule: every figure in a table is the median over the rounds of one cell
(load, protocol, payload, concurrency, server); a cell that failed in a round
counts its errors and is left out of the median. Ratios compare medians.
"""

from __future__ import annotations

import statistics
from typing import Any

REFERENCE_FAMILY = {"xml": "stdlib", "json": "jsonrpclib"}
PROTOCOL_NAMES = {"xml": "XML-RPC", "json": "JSON-RPC"}
COLUMNS = ("gateway", "gateway-w2", "shipped", "tuned")


def cell_key(cell: dict) -> tuple:
    return (cell["load"], cell["protocol"], cell["payload"], cell["concurrency"])


def column_of(server: str) -> str:
    if server.startswith("gateway"):
        return server
    return server.split("-", 1)[1]  # stdlib-shipped -> shipped


def aggregate(cells: list[dict]) -> dict[tuple, dict[str, dict]]:
    """{workload key: {column: medians}} over rounds."""
    grouped: dict[tuple, dict[str, list[dict]]] = {}
    for cell in cells:
        grouped.setdefault(cell_key(cell), {}).setdefault(column_of(cell["server"]), []).append(cell)
    table: dict[tuple, dict[str, dict]] = {}
    for key, columns in grouped.items():
        table[key] = {}
        for column, runs in columns.items():
            good = [r for r in runs if "error" not in r and r.get("calls")]
            entry = {"server": runs[0]["server"], "rounds": len(good),
                     "errors": sum(r.get("errors", 0) for r in runs),
                     "failed_rounds": [r["error"] for r in runs if "error" in r]}
            for field in ("calls_per_s", "p50_ms", "p99_ms", "cpu_us_per_call",
                          "load_cpu_us_per_call"):
                values = [r[field] for r in good if r.get(field) is not None]
                entry[field] = statistics.median(values) if values else None
            table[key][column] = entry
    return table


def ratio(table: dict, key: tuple, top: str, bottom: str) -> float | None:
    row = table.get(key, {})
    a = (row.get(top) or {}).get("calls_per_s")
    b = (row.get(bottom) or {}).get("calls_per_s")
    return a / b if a and b else None


# -- formatting ------------------------------------------------------------------------

def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}x"


def _label(key: tuple) -> list[str]:
    load, protocol, payload, concurrency = key
    unit = "conns" if load == "wrk" else "threads"
    return [load, PROTOCOL_NAMES[protocol], payload, f"{concurrency} {unit}"]


def _sorted_keys(table: dict) -> list[tuple]:
    order = {"wrk": 0, "python": 1}
    payload_order = {"small": 0, "struct1000": 1, "array10000": 2}
    return sorted(table, key=lambda k: (payload_order.get(k[2], 9), order[k[0]], k[1], k[3]))


LOAD_BOUND_SHARE = 0.9  # a load using this much of its one CPU measures itself


def load_bound(table: dict, key: tuple, column: str = "gateway") -> bool:
    """True when the load generator, not the server, limited this row's calls/s."""
    entry = table.get(key, {}).get(column) or {}
    rate, load = entry.get("calls_per_s"), entry.get("load_cpu_us_per_call")
    return bool(rate and load and rate * load / 1e6 >= LOAD_BOUND_SHARE)


def throughput_table(table: dict) -> list[str]:
    lines = ["| load | protocol | payload | concurrency | gateway | gateway w=2 | shipped ref. "
             "| tuned ref. | gateway / shipped | gateway / tuned | w=2 / w=1 |",
             "|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|"]
    for key in _sorted_keys(table):
        row = table[key]
        values = [_num((row.get(c) or {}).get("calls_per_s")) for c in COLUMNS]
        ratios = [_ratio(ratio(table, key, "gateway", "shipped")),
                  _ratio(ratio(table, key, "gateway", "tuned")),
                  _ratio(ratio(table, key, "gateway-w2", "gateway"))]
        label = _label(key)
        label[3] += " †" if load_bound(table, key) else ""
        lines.append("| " + " | ".join(label + values + ratios) + " |")
    lines += ["", "† the load generator used at least 90% of its CPU in the gateway's cell: "
              "that row measures the client as much as the servers."]
    return lines


def latency_table(table: dict) -> list[str]:
    lines = ["| load | protocol | payload | concurrency | gateway | gateway w=2 | shipped ref. "
             "| tuned ref. |", "|---|---|---|---|--:|--:|--:|--:|"]
    for key in _sorted_keys(table):
        row = table[key]
        cells = []
        for column in COLUMNS:
            entry = row.get(column)
            if not entry or entry["calls_per_s"] is None:
                cells.append("–")
                continue
            text = (f"{_num(entry['p50_ms'], 2)} / {_num(entry['p99_ms'], 1)} / "
                    f"{_num(entry['cpu_us_per_call'])}")
            if entry["errors"]:
                text += f" ({entry['errors']:,} err)"
            cells.append(text)
        lines.append("| " + " | ".join(_label(key) + cells) + " |")
    return lines


def idle_table(idle: list[dict]) -> list[str]:
    lines = ["| server | idle conns | their calls answered 200 | still open | fresh client "
             "(calls, p50 / p99 ms) | threads before / during | thread bound |",
             "|---|--:|--:|--:|---|--:|--:|"]
    for entry in idle:
        if "error" in entry:
            lines.append(f"| {entry['server']} | – | – | – | {entry['error']} | – | – |")
            continue
        fresh = "; ".join(
            f"{PROTOCOL_NAMES[f['protocol']]} {f['calls']}, {f['p50_ms']:.2f} / {f['p99_ms']:.1f}"
            + (f" **failed: {f['failure']}**" if f["failure"] else "") for f in entry["fresh"])
        bound = entry.get("thread_bound")
        others = ", ".join(f"{n} x {'closed' if s == '0' else s}"
                           for s, n in entry.get("other_answers", {}).items())
        answered = f"{entry['answered']:,}" + (f" (and {others})" if others else "")
        lines.append(f"| {entry['server']} | {entry['idle_connections']:,} | {answered} "
                     f"| {entry['still_open']:,} | {fresh} | {entry['threads_before']} / "
                     f"{entry['threads_max']} | {bound if bound else '–'} |")
    return lines


def memory_table(memory: dict | None) -> list[str]:
    if not memory:
        return ["(not run)"]
    if "error" in memory:
        return [f"failed: {memory['error']}"]
    return ["| server | calls | errors | RSS after warm-up | RSS at end | max | growth |",
            "|---|--:|--:|--:|--:|--:|--:|",
            f"| {memory['server']} | {memory['calls']:,} | {memory['errors']:,} | "
            f"{memory['rss_start_mib']:.1f} MiB | {memory['rss_end_mib']:.1f} MiB | "
            f"{memory['rss_max_mib']:.1f} MiB | {memory['growth_mib']:+.2f} MiB |"]


# -- targets (issue 6) -----------------------------------------------------------------

def _small_keys(table: dict, load: str | None = None) -> list[tuple]:
    return [k for k in table if k[2] == "small" and (load is None or k[0] == load)]


def _extreme(values: list[tuple[float | None, tuple]], pick) -> tuple[float | None, str]:
    present = [(v, k) for v, k in values if v is not None]
    if not present:
        return None, ""
    value, key = pick(present, key=lambda item: item[0])
    return value, f"{key[0]} {PROTOCOL_NAMES[key[1]]} {key[3]}"


def scaling_ceiling(table: dict, key: tuple, cpus: int) -> float | None:
    """The best w=2/w=1 ratio this machine allows when the load shares its CPUs.

    w=1 is bounded by one CPU: 1 / s1 calls/s (s1: its CPU per call). w=2 shares
    all ``cpus`` with the load generator: cpus / (s2 + load) calls/s.
    """
    row = table.get(key, {})
    one, two = row.get("gateway") or {}, row.get("gateway-w2") or {}
    s1, s2, load = (one.get("cpu_us_per_call"), two.get("cpu_us_per_call"),
                    two.get("load_cpu_us_per_call"))
    if not (s1 and s2 and load):
        return None
    return cpus * s1 / (s2 + load)


def _target(text: str, measured: str, met: bool | None) -> dict:
    return {"target": text, "measured": measured, "met": met}


def _ratio_targets(table: dict) -> list[dict]:
    out = []
    for reference, floor in (("shipped", 2.0), ("tuned", 1.0)):
        for protocol in ("xml", "json"):
            keys = [k for k in _small_keys(table) if k[1] == protocol]
            value, where = _extreme([(ratio(table, k, "gateway", reference), k) for k in keys], min)
            worst = min((k for k in keys if ratio(table, k, "gateway", reference)),
                        key=lambda k: ratio(table, k, "gateway", reference), default=None)
            bound = " †" if worst and load_bound(table, worst) else ""
            out.append(_target(f"w=1 calls/s >= {floor}x {reference} "
                               f"({PROTOCOL_NAMES[protocol]}, every small row)",
                               f"min {_ratio(value)} ({where}){bound}" if value else "–",
                               None if value is None else value >= floor))
    return out


def _cpu_targets(table: dict) -> list[dict]:
    out = []
    for protocol in ("xml", "json"):
        keys = [k for k in _small_keys(table) if k[1] == protocol]
        value, where = _extreme([((table[k].get("gateway") or {}).get("cpu_us_per_call"), k)
                                 for k in keys], max)
        out.append(_target(f"server CPU per small call <= 150 µs ({PROTOCOL_NAMES[protocol]})",
                           f"max {_num(value)} µs ({where})" if value else "–",
                           None if value is None else value <= 150))
    return out


def _wrk_key(table: dict, protocol: str, connections: int) -> tuple | None:
    keys = [k for k in _small_keys(table, "wrk") if k[1] == protocol and k[3] == connections]
    return keys[0] if keys else None


def _scaling_targets(table: dict, cpus: int) -> list[dict]:
    out = []
    for protocol in ("xml", "json"):
        key = _wrk_key(table, protocol, 64)
        value = ratio(table, key, "gateway-w2", "gateway") if key else None
        ceiling = scaling_ceiling(table, key, cpus) if key else None
        measured = _ratio(value)
        if ceiling:
            load = table[key]["gateway-w2"]["load_cpu_us_per_call"]
            measured += (f" (ceiling here {_ratio(ceiling)}: wrk on the same {cpus} CPUs "
                         f"spends {_num(load)} µs per call)")
        out.append(_target(f"w=2 >= 1.6x w=1, wrk 64 conns ({PROTOCOL_NAMES[protocol]})",
                           measured, None if value is None else value >= 1.6))
    return out


def _latency_targets(table: dict) -> list[dict]:
    out = []
    for protocol in ("xml", "json"):
        key = _wrk_key(table, protocol, 16)
        value = (table[key].get("gateway") or {}).get("p99_ms") if key else None
        out.append(_target(f"p99 <= 25 ms, wrk 16 conns ({PROTOCOL_NAMES[protocol]})",
                           f"{_num(value, 1)} ms" if value is not None else "–",
                           None if value is None else value <= 25))
    return out


def _idle_targets(idle: list[dict]) -> list[dict]:
    out = []
    for entry in idle:
        if not entry["server"].startswith("gateway") or "error" in entry:
            continue
        worst = max((f["p99_ms"] for f in entry["fresh"]), default=None)
        failed = any(f["failure"] for f in entry["fresh"])
        within = entry["threads_max"] <= entry["thread_bound"]
        out.append(_target(f"{entry['idle_connections']:,} idle keep-alive conns: fresh p99 "
                           f"< 50 ms, threads within bound ({entry['server']})",
                           f"p99 {_num(worst, 1)} ms{' (a call failed)' if failed else ''}; "
                           f"threads {entry['threads_max']} (bound {entry['thread_bound']})",
                           (not failed) and worst is not None and worst < 50 and within))
    return out


def _memory_targets(memory: dict | None) -> list[dict]:
    if not memory or "error" in memory:
        return []
    # fewer calls than the target's million (smoke mode) prove nothing either way
    met = memory["growth_mib"] * (1 << 20) < 10_000_000 if memory["calls"] >= 1_000_000 else None
    return [_target("RSS grows < 10 MB over 1,000,000 calls",
                    f"{memory['growth_mib']:+.2f} MiB over {memory['calls']:,} calls", met)]


def targets(table: dict, idle: list[dict], memory: dict | None, cpus: int) -> list[dict]:
    """Each target of issue 6 with the measured figure and whether it is met (None: not run)."""
    return (_ratio_targets(table) + _cpu_targets(table) + _scaling_targets(table, cpus)
            + _latency_targets(table) + _idle_targets(idle) + _memory_targets(memory))


def targets_table(rows: list[dict]) -> list[str]:
    verdict = {True: "met", False: "**not met**", None: "not measured"}
    lines = ["| target (issue 6) | measured | verdict |", "|---|---|---|"]
    lines += [f"| {r['target']} | {r['measured']} | {verdict[r['met']]} |" for r in rows]
    return lines


def markdown(result: dict[str, Any]) -> str:
    table = aggregate(result["cells"])
    meta = result["meta"]
    plan = meta["plan"]
    lines = [f"# rpc-gateway benchmark, {meta['date']}", "",
             f"Machine: {meta['nproc']} CPUs ({meta['cpu_model']}), Linux {meta['kernel']}, "
             f"Python {meta['python']}, {meta['wrk']}, jsonrpclib-pelix {meta['jsonrpclib']}; "
             f"gateway {meta['gateway_version']} at {meta['git']}.",
             f"Pinning: {meta['pinning']}.",
             f"Load average before / after: {meta['loadavg_before']} / {meta['loadavg_after']}. "
             f"{meta.get('note', '')}".rstrip(),
             f"Run: {plan['rounds']} interleaved rounds (every server in turn for each row, "
             f"then the next row), {plan['seconds']} s per cell; medians over rounds. "
             f"Duration {meta['duration_s']:.0f} s.", ""]
    lines += [f"- {note}" for note in meta.get("notes", [])]
    lines += ["Servers: *gateway* = `python -m gateway` (workers=1; *w=2*: `--workers 2`), "
              "access log off. *shipped ref.* = the stdlib threaded `SimpleXMLRPCServer` "
              "(XML-RPC rows) or jsonrpclib's `PooledJSONRPCServer` (JSON-RPC rows) as shipped "
              "(HTTP/1.0 handler); *tuned ref.* = the same with an HTTP/1.1 handler, "
              "`disable_nagle_algorithm` and `request_queue_size = 128`. All serve one "
              "`handlers.calculator.Calculator`; every answer is checked.",
              "", "## Calls per second", "", *throughput_table(table), "",
              "## Latency and server CPU", "",
              "Each cell: p50 ms / p99 ms / server CPU µs per call (utime+stime of the "
              "server's processes from /proc, divided by good calls).", "",
              *latency_table(table), "",
              f"## {plan['idle_connections']:,} idle keep-alive connections", "",
              *idle_table(result["idle"]), "",
              "## Memory", "", *memory_table(result["memory"]), "",
              "## Targets", "", *targets_table(result["targets"]), ""]
    return "\n".join(lines)
