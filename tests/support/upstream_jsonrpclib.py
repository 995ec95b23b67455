"""A jsonrpclib PooledJSONRPCServer upstream for the bridge tests: ``python FILE PORT [ALIAS...]``.

Run as its own process so a test can kill it, stop it (SIGSTOP: hung) and
start it again on the same port. Prints "ready" once it listens.
"""

import sys
import time

from jsonrpclib.SimpleJSONRPCServer import PooledJSONRPCServer


def add(a, b):
    return a + b


def echo(value):
    return value


def power(n, m):
    return n ** m


def sleep(seconds):
    time.sleep(seconds)
    return seconds


def fail(message):
    raise ValueError(message)


def keyed(**named):
    return sorted(named)


def main() -> None:
    server = PooledJSONRPCServer(("127.0.0.1", int(sys.argv[1])), logRequests=False)
    server.allow_reuse_address = True
    for function in (add, echo, power, sleep, fail, keyed):
        server.register_function(function)
    for alias in sys.argv[2:]:  # more names for echo: a changed method list (SIGHUP test)
        server.register_function(echo, alias)
    server.register_introspection_functions()
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
