"""The reference notes' zerorpc servers, unchanged, for the bridge tests: ``python FILE CLASS PORT|ENDPOINT``.

zerorpc runs on gevent, so each server is its own process (gevent would
monkey-patch nothing here, but must not share the test's threads).
"""

import sys

import zerorpc


class HelloRPC(object):
    def hello(self, name):
        return f"Hello, {name}"


class StreamingRPC(object):
    @zerorpc.stream
    def streaming_range(self, fr, to, step):
        return range(fr, to, step)


class myRPC(object):
    def listinfo(self,message):
        return "get info : %s"%message

    def getpow(self,n,m):
        return n**m


if __name__ == "__main__":
    service = {"HelloRPC": HelloRPC, "StreamingRPC": StreamingRPC, "myRPC": myRPC}[sys.argv[1]]
    s = zerorpc.Server(service())
    address = sys.argv[2]  # a port, or a whole endpoint such as ipc:///tmp/x.sock
    s.bind(address if "://" in address else f"tcp://127.0.0.1:{address}")
    print("ready", flush=True)
    s.run()
