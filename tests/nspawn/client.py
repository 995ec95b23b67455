"""An XML-RPC call made from inside the container's network namespace (run by tests/test_nspawn.py).

    python client.py PORT METHOD JSON_PARAMS

prints ``in flight`` once the request is sent and the gateway holds its
connection (seen in /healthz), then the result as JSON; a fault prints
``{"fault": CODE}``. Every step has a timeout; it exits 1 on any other error.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
import xmlrpc.client

TIMEOUT = 30.0


def health(port: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request("GET", "/healthz", headers={"Connection": "close"})
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def wait_until_held(port: int) -> None:
    """The gateway holds the call's connection and this health check's."""
    deadline = time.monotonic() + TIMEOUT
    while health(port)["connections"] < 2:
        if time.monotonic() > deadline:
            raise SystemExit("the gateway never held the call's connection")
        time.sleep(0.05)


def main(port: int, method: str, params: list) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    conn.request("POST", "/RPC2", xmlrpc.client.dumps(tuple(params), method),
                 {"Content-Type": "text/xml"})
    wait_until_held(port)
    print("in flight", flush=True)
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise SystemExit(f"HTTP {response.status}: {body[:200]!r}")
    try:
        (result,), _ = xmlrpc.client.loads(body)
    except xmlrpc.client.Fault as fault:
        result = {"fault": fault.faultCode}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]))
