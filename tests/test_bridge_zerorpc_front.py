"""zerorpc clients reach upstreams through the gateway's zerorpc front (the same method table).

The front is its own feature (gateway.zerorpc_front); without it in the tree these tests are
skipped, and say so. The client is zerorpc-python itself, in a subprocess (it needs gevent).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.upstreams import jsonrpclib_server, zerorpc_server

pytest.importorskip("gateway.zerorpc_front",
                    reason="the gateway's zerorpc front is not in this tree (zerorpc branch)")

CLIENT = """
import json, sys, zerorpc
client = zerorpc.Client(timeout=10)
client.connect(sys.argv[1])
answer = client(sys.argv[2], *json.loads(sys.argv[3]))
if not isinstance(answer, (str, int, float, list, dict, type(None))):
    answer = {"stream": list(answer)}
print(json.dumps(answer))
"""


def zerorpc_call(endpoint: str, method: str, *params) -> object:
    done = subprocess.run([sys.executable, "-c", CLIENT, endpoint, method, json.dumps(params)],
                          capture_output=True, text=True, timeout=60)
    if done.returncode:
        raise AssertionError(done.stderr[-2000:])
    return json.loads(done.stdout)


def test_zerorpc_client_calls_a_json_rpc_upstream(make_gateway, tmp_path):
    upstream, port = jsonrpclib_server(tmp_path)
    try:
        server = make_gateway(zerorpc__listen=["tcp://127.0.0.1:0"],
                              service__services=[f"j=jsonrpc+http://127.0.0.1:{port}/"])
        assert zerorpc_call(server.zerorpc_endpoints[0], "j.add", 40, 2) == 42
        assert zerorpc_call(server.zerorpc_endpoints[0], "j.echo", "é") == "é"
    finally:
        upstream.stop()


def test_a_marked_upstream_stream_is_streamed_to_zerorpc_clients(make_gateway, tmp_path):
    upstream, port = zerorpc_server(tmp_path, "StreamingRPC")
    try:
        server = make_gateway(zerorpc__listen=["tcp://127.0.0.1:0"], service__services=[
            f"s=zerorpc+tcp://127.0.0.1:{port}#streams=streaming_range"])
        answer = zerorpc_call(server.zerorpc_endpoints[0], "s.streaming_range", 10, 20, 2)
        assert answer == {"stream": [10, 12, 14, 16, 18]}  # a generator: STREAM events
    finally:
        upstream.stop()
