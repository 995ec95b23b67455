"""Turn the raw cells of a run into medians, ratios, a markdown report and target verdicts.

Rule: every figure in a table is the median over the rounds of one cell
(load, protocol, payload, concurrency, server); a cell that failed in a round
counts its errors and is left out of the median. A ratio is the median of the
per-round ratios: the two cells of one round ran seconds apart, so a machine
that slows down for a minute (this one does, by up to a third) moves both and
not the ratio. Where no round has both cells, the medians are compared.
"""

from __future__ import annotations

import statistics
from typing import Any

REFERENCE_FAMILY = {"xml": "stdlib", "json": "jsonrpclib"}
PROTOCOL_NAMES = {"xml": "XML-RPC", "json": "JSON-RPC"}
COLUMNS = ("gateway", "gateway-quiet", "gateway-w2", "shipped", "tuned", "aria2")
HEADINGS = ("gateway", "log off", "gateway w=2", "shipped ref.", "tuned ref.", "aria2")


def cell_key(cell: dict) -> tuple:
    return (cell["load"], cell["protocol"], cell["payload"], cell["concurrency"])


def column_of(server: str) -> str:
    if server.startswith("gateway") or server == "aria2":
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
                     "by_round": {r["round"]: r["calls_per_s"] for r in good if "round" in r},
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
    upper, lower = row.get(top) or {}, row.get(bottom) or {}
    a_rounds, b_rounds = upper.get("by_round") or {}, lower.get("by_round") or {}
    paired = [a_rounds[n] / b_rounds[n] for n in a_rounds
              if n in b_rounds and a_rounds[n] and b_rounds[n]]
    if paired:
        return statistics.median(paired)
    a, b = upper.get("calls_per_s"), lower.get("calls_per_s")
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


RATIOS = (("gateway", "shipped", "gw / shipped"), ("gateway", "tuned", "gw / tuned"),
          ("gateway", "gateway-quiet", "log on / off"), ("gateway-w2", "aria2", "w=2 / aria2"))


def throughput_table(table: dict) -> list[str]:
    lines = ["| load | protocol | payload | concurrency | " + " | ".join(HEADINGS) + " | "
             + " | ".join(name for _, _, name in RATIOS) + " |",
             "|---|---|---|---|" + "--:|" * (len(COLUMNS) + len(RATIOS))]
    for key in _sorted_keys(table):
        row = table[key]
        values = [_num((row.get(c) or {}).get("calls_per_s")) for c in COLUMNS]
        ratios = [_ratio(ratio(table, key, top, bottom)) for top, bottom, _ in RATIOS]
        label = _label(key)
        label[3] += " †" if load_bound(table, key) else ""
        lines.append("| " + " | ".join(label + values + ratios) + " |")
    lines += ["", "† the load generator used at least 90% of its CPU in the gateway's cell: "
              "that row measures the client as much as the servers. aria2 answers "
              "`aria2.getVersion` (it has no `add`) and appears in the small wrk rows only."]
    return lines


def latency_table(table: dict) -> list[str]:
    lines = ["| load | protocol | payload | concurrency | " + " | ".join(HEADINGS) + " |",
             "|---|---|---|---|" + "--:|" * len(COLUMNS)]
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


STOLEN_SHARE = 0.05  # of a cell's CPU time (its seconds x the CPUs): enough to move a ratio


def noise_lines(cells: list[dict], cpus: int) -> list[str]:
    """How much CPU the hypervisor took from the run, and which cells lost most of it."""
    measured = [c for c in cells if "steal_s" in c and c.get("seconds")]
    if not measured:
        return ["Hypervisor steal was not recorded in this run."]
    cpus = max(1, cpus)
    share = lambda cell: cell["steal_s"] / (cell["seconds"] * cpus)
    stolen, wall = sum(c["steal_s"] for c in measured), sum(c["seconds"] for c in measured)
    flagged = [c for c in measured if share(c) >= STOLEN_SHARE]
    lines = [f"Hypervisor steal (CPU time this VM wanted and was not given; /proc/stat) "
             f"during the cells: {stolen:.1f} s in {wall:,.0f} s of cells "
             f"({stolen / (wall * cpus):.1%} of {cpus} CPUs); cells that lost at least "
             f"{STOLEN_SHARE:.0%} of their CPU time: {len(flagged)} of {len(measured)}."]
    if flagged:
        lines.append("")
    lines += [f"- round {c['round']}, {' '.join(_label(cell_key(c)))}, {c['server']}: "
              f"{share(c):.0%}" for c in flagged]
    return lines


# -- targets (issue 10) ----------------------------------------------------------------

def _target(text: str, measured: str, met: bool | None) -> dict:
    return {"target": text, "measured": measured, "met": met}


def _keys(table: dict, load: str, protocol: str, payload: str = "small",
          concurrency: tuple[int, ...] | None = None) -> list[tuple]:
    return sorted(k for k in table if k[:3] == (load, protocol, payload)
                  and (concurrency is None or k[3] in concurrency))


def _where(key: tuple) -> str:
    return f"{'c' if key[0] == 'wrk' else 't'}{key[3]}"


def _judge(table: dict, text: str, keys: list[tuple], value, at_least: float | None = None,
           at_most: float | None = None, unit: str = "x") -> dict:
    """One target over ``keys``: met when every key's value is on the right side."""
    found = [(key, value(key)) for key in keys]
    found = [(key, v) for key, v in found if v is not None]
    if not found:
        return _target(text, "–", None)
    digits = 2 if unit == "x" else 1 if unit == " ms" else 0
    measured = ", ".join(f"{_where(k)} {v:,.{digits}f}{unit}"
                         + (" †" if load_bound(table, k) else "") for k, v in found)
    met = all((at_least is None or v >= at_least) and (at_most is None or v <= at_most)
              for _, v in found) and len(found) == len(keys)
    return _target(text, measured, met)


def _issue_targets(table: dict, protocol: str) -> list[dict]:
    name = PROTOCOL_NAMES[protocol]
    wrk = lambda *c: _keys(table, "wrk", protocol, "small", c)
    over = lambda top, bottom: lambda key: ratio(table, key, top, bottom)
    gateway = lambda field: lambda key: (table[key].get("gateway") or {}).get(field)
    return [
        _judge(table, f"{name}: w=1 >= 2.0x tuned at wrk 16 and 64 conns", wrk(16, 64),
               over("gateway", "tuned"), 2.0),
        _judge(table, f"{name}: w=1 >= 1.5x tuned at wrk 1 conn", wrk(1),
               over("gateway", "tuned"), 1.5),
        _judge(table, f"{name}: w=1 server CPU <= 100 µs per small call at wrk 16 and 64",
               wrk(16, 64), gateway("cpu_us_per_call"), at_most=100, unit=" µs"),
        _judge(table, f"{name}: Python client, 1 thread, w=1 >= 2.0x shipped",
               _keys(table, "python", protocol, "small", (1,)), over("gateway", "shipped"), 2.0),
        _judge(table, f"{name}: Python clients, w=1 >= 1.0x tuned at every thread count",
               _keys(table, "python", protocol), over("gateway", "tuned"), 1.0),
        _judge(table, f"{name}: access log on >= 0.90x off (costs <= 10%) at wrk 16 and 64",
               wrk(16, 64), over("gateway", "gateway-quiet"), 0.9),
        _judge(table, f"{name}: w=2 >= 0.35x aria2 at wrk 64 conns", wrk(64),
               over("gateway-w2", "aria2"), 0.35),
        _judge(table, f"{name}: p99 <= 10 ms at wrk 16 conns (w=1)", wrk(16),
               gateway("p99_ms"), at_most=10, unit=" ms"),
    ] + [_judge(table, f"{name}: large payload {payload}, w=1 >= {floor}x tuned",
                _keys(table, "wrk", protocol, payload), over("gateway", "tuned"), floor)
         for payload, floor in (("struct1000", 1.5 if protocol == "xml" else 2.0),
                                ("array10000", 1.5 if protocol == "xml" else 2.0))
         if _keys(table, "wrk", protocol, payload)]


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


def targets(table: dict, idle: list[dict], memory: dict | None, cpus: int = 0) -> list[dict]:
    """Each target of issue 10 with the measured figure and whether it is met (None: not run)."""
    return (_issue_targets(table, "xml") + _issue_targets(table, "json")
            + _idle_targets(idle) + _memory_targets(memory))


def targets_table(rows: list[dict]) -> list[str]:
    verdict = {True: "yes", False: "**no**", None: "not measured"}
    lines = ["| target (issue 10) | measured | met |", "|---|---|---|"]
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
             f"then the next row), {plan['seconds']} s per cell; medians over rounds, "
             f"ratios the medians of the rounds' ratios. "
             f"Duration {meta['duration_s']:.0f} s.", ""]
    lines += [f"- {note}" for note in meta.get("notes", [])]
    lines += ["Servers: *gateway* = `python -m gateway` at its shipped defaults (workers=1, "
              "access log on, stderr a pipe read by `cat` as journald would read it); *log off*: "
              "the same with `access_log = false`; *w=2*: `--workers 2`, access log on. "
              "*aria2* = `aria2c --enable-rpc` (C++), answering `aria2.getVersion`. "
              "*shipped ref.* = the stdlib threaded `SimpleXMLRPCServer` "
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
              "## Machine noise", "", *noise_lines(result["cells"], meta.get("nproc", 1)), "",
              "## Targets", "", *targets_table(result["targets"]), ""]
    return "\n".join(lines)


def rerender(path: str) -> str:
    """The report of a stored run (its .json) under this module's rules."""
    import json
    result = json.loads(open(path).read())
    result["targets"] = targets(aggregate(result["cells"]), result["idle"], result["memory"],
                                result["meta"].get("nproc", 1))
    return markdown(result)


if __name__ == "__main__":  # python -m bench.report RUN.json: print the report again
    import sys
    print(rerender(sys.argv[1]))
