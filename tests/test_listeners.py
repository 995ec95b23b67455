"""Several listeners at once: TCP on IPv4 and IPv6 and a Unix socket, one process."""

import http.client
import os
import socket
import stat
import xmlrpc.client

import jsonrpclib


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


def test_ipv4_ipv6_and_unix_listeners_in_one_daemon(daemon, tmp_path):
    path = tmp_path / "gw.sock"
    config = tmp_path / "gateway.toml"
    config.write_text('[server]\nlisten = ["127.0.0.1:0", "[::1]:0", "unix:%s"]\n'
                      'unix_socket_mode = "0600"\n' % path)
    gateway = daemon("--config", str(config), bind=False)
    status = gateway.wait_for("READY=1")
    addresses = status.split("listening on ", 1)[1].split(";")[0].split(", ")
    assert addresses[0].startswith("127.0.0.1:") and addresses[1].startswith("[::1]:")
    assert addresses[2] == f"unix:{path}"
    assert xmlrpc.client.ServerProxy(f"http://{addresses[0]}").add(1, 2) == 3
    assert jsonrpclib.ServerProxy(f"http://{addresses[1]}").add(3, 4) == 7
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    conn = UnixHTTPConnection(str(path))
    conn.request("POST", "/RPC2", xmlrpc.client.dumps((5, 6), "add"),
                 {"Content-Type": "text/xml"})
    reply = conn.getresponse()
    assert reply.status == 200
    assert xmlrpc.client.loads(reply.read())[0] == (11,)
    assert gateway.stop() == 0
    assert not path.exists(), "the socket file is removed on stop"
