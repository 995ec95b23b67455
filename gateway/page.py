"""The front door: what ``GET /`` shows a person who points a browser at the gateway.

What is served on which endpoint, every method with a readable signature and its
help, examples to copy for each protocol, and live figures per method from the
same registry ``/metrics`` reads. One self-contained HTML document: no external
asset (a Content-Security-Policy says so to the browser), readable on a phone,
every value from the service, the request or the figures escaped.
"""

from __future__ import annotations

import html
import json
import re
import xmlrpc.client
from typing import Any, Iterable

from gateway import __version__

_HOST = re.compile(r"[A-Za-z0-9.\-]+(?::\d{1,5})?|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?")
_SAMPLE = {"integer": 2, "number": 2, "string": "text", "boolean": True, "array": [],
           "object": {}, "null": None}
_STYLE = """
body{font:16px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:0 1rem 2rem;
color:#1d232a;background:#fbfbfa}
h1{font-size:1.6rem;margin:1rem 0 .2rem}h2{font-size:1.25rem;margin-top:2rem}
code,pre{font:.9rem/1.4 ui-monospace,monospace}
pre{background:#eef1f4;padding:.6rem;overflow-x:auto;border-radius:4px;white-space:pre}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .4rem;
border-bottom:1px solid #dde2e6;vertical-align:top}
.method{border:1px solid #dde2e6;border-radius:6px;padding:.2rem .8rem;margin:.8rem 0;
background:#fff}.method pre{background:none;padding:0;white-space:pre-wrap}
.sig{font-weight:600;overflow-wrap:anywhere}.figures{color:#4a5560;font-size:.9rem}
.lede{color:#4a5560;margin-top:0}
"""
# Nothing from elsewhere. The page runs no script; connect-src lets a console (or a test)
# still call the gateway from it.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


class FrontDoor:
    """Renders the page on each request: the figures are live."""

    def __init__(self, table: Any, metrics: Any, zerorpc: Iterable[str] = ()) -> None:
        self.table = table
        self.metrics = metrics
        self.zerorpc = list(zerorpc)  # e.g. ["tcp://127.0.0.1:4242"], when zerorpc is on
        models = [table.lookup(name).model for name in table.names()]
        self.models = sorted(models, key=lambda m: (m.name.startswith(("system.", "rpc.")),
                                                    m.name))

    def render(self, host: str | None = None) -> bytes:
        host = host if host and _HOST.fullmatch(host) else "127.0.0.1:8080"
        figures = self.metrics.figures() if self.metrics.enabled else {}
        parts = [
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            f'<link rel="icon" href="data:,"><title>rpc-gateway on {_e(host)}</title>'
            f"<style>{_STYLE}</style></head><body>",
            f"<h1>rpc-gateway</h1><p class=\"lede\">version {_e(__version__)} on "
            f"<code>{_e(host)}</code>: the same methods over XML-RPC and JSON-RPC"
            f"{' and zerorpc' if self.zerorpc else ''}.</p>",
            self._endpoints(), self._examples(host), self._methods(figures),
            "</body></html>\n",
        ]
        return "".join(parts).encode("utf-8")

    def _endpoints(self) -> str:
        rows = [
            ("POST /RPC2, /xmlrpc, /", "XML-RPC (Content-Type text/xml)"),
            ("POST /jsonrpc, /", "JSON-RPC 1.0, 1.1 and 2.0 (application/json), batches too"),
            ("GET /?a=1&amp;b=2", "add, answered as JSON {&quot;result&quot;: 3}"),
            ("GET /jsonrpc?method=NAME&amp;params=[...]", "one JSON-RPC 2.0 call by URL"),
            ("rpc.discover", "JSON-RPC method: the OpenRPC document of every method"),
            ("GET /healthz", "status, uptime and totals as JSON, for load balancers"),
        ]
        if self.metrics.enabled:
            rows.append(("GET /metrics", "Prometheus and OpenMetrics figures"))
        rows += [(_e(address), "zerorpc (ZeroMQ + msgpack)") for address in self.zerorpc]
        body = "".join(f"<tr><td><code>{where}</code></td><td>{what}</td></tr>"
                       for where, what in rows)
        return f"<h2>Endpoints</h2><table>{body}</table>"

    def _examples(self, host: str) -> str:
        model = self._example_method()
        if model is None:
            return ""
        args = [_SAMPLE.get(_first_type(p.schema), 2) for p in model.params if p.required]
        py_args = ", ".join(repr(a) for a in args)
        call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": model.name, "params": args})
        body = xmlrpc.client.dumps(tuple(args), model.name).replace("\n", "").replace(
            "version='1.0'", 'version="1.0"')  # no quote to escape inside the shell's quotes
        examples = [
            ("Python, xmlrpc.client", f'import xmlrpc.client\nproxy = xmlrpc.client.ServerProxy('
             f'"http://{host}/RPC2")\nprint(proxy.{model.name}({py_args}))'),
            ("Python, jsonrpclib", f'import jsonrpclib\nserver = jsonrpclib.ServerProxy('
             f'"http://{host}/jsonrpc")\nprint(server.{model.name}({py_args}))'),
            ("curl, JSON-RPC", f"curl -s http://{host}/jsonrpc -H 'Content-Type: "
             f"application/json' \\\n  -d '{_shell(call)}'"),
            ("curl, XML-RPC", f"curl -s http://{host}/RPC2 -H 'Content-Type: text/xml' \\\n"
             f"  -d '{_shell(body)}'"),
        ]
        examples += [("Python, zerorpc", f'import zerorpc\nclient = zerorpc.Client()\n'
                      f'client.connect("{address}")\nprint(client.{model.name}({py_args}))')
                     for address in self.zerorpc[:1]]
        blocks = "".join(f"<h3>{_e(title)}</h3><pre>{_e(code)}</pre>" for title, code in examples)
        return f"<h2>Try it</h2>{blocks}"

    def _example_method(self) -> Any:
        service = [m for m in self.models if not m.name.startswith(("system.", "rpc."))]
        named = [m for m in service if m.name.rsplit(".", 1)[-1] == "add"]
        return (named or service or self.models or [None])[0]

    def _methods(self, figures: dict[str, tuple[float, float, float | None, float | None]]) -> str:
        sections = []
        for model in self.models:
            calls, errors, p50, p99 = figures.get(model.name, (0, 0, None, None))
            numbers = (f"{calls:.0f} calls, {errors:.0f} errors, p50 {_ms(p50)}, "
                       f"p99 {_ms(p99)}" if self.metrics.enabled else "metrics are off")
            sections.append(
                f'<section class="method" id="{_e(model.name)}">'
                f'<p class="sig"><code>{_e(model.signature_text())}</code></p>'
                f"<pre>{_e(model.help or 'No description.')}</pre>"
                f'<p class="figures">{_e(numbers)}</p></section>')
        note = "Figures since start, the whole gateway's, from the registry /metrics reads."
        return f"<h2>Methods</h2><p class=\"lede\">{note}</p>{''.join(sections)}"


def _first_type(schema: dict[str, Any]) -> str:
    kind = schema.get("type", "integer")
    return kind[0] if isinstance(kind, list) else kind


def _shell(text: str) -> str:
    """Inside single quotes in a POSIX shell, only a single quote needs care."""
    return text.replace("'", "'\\''")


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"
