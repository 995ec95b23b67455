"""Listening sockets from the configured addresses: TCP on IPv4 and IPv6, Unix paths."""

from __future__ import annotations

import os
import socket
import stat

from gateway.config import parse_address

BACKLOG = 1024  # socketserver's 5 makes bursts of clients see resets and 1 s stalls


def open_listener(text: str, unix_mode: int = 0o660, reuse_port: bool = False) -> socket.socket:
    """``reuse_port``: allow SO_REUSEPORT copies for workers (only with workers > 1, so a
    second daemon started by mistake still fails with "address in use")."""
    family, address = parse_address(text)
    if family == "unix":
        return _unix_listener(address, unix_mode)
    sock = socket.socket(socket.AF_INET6 if family == "ipv6" else socket.AF_INET,
                         socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == "ipv6":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def _unix_listener(path: str, mode: int) -> socket.socket:
    try:  # a socket left by a previous run; never remove anything else
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, mode)
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def describe(sock: socket.socket) -> str:
    """``127.0.0.1:8080``, ``[::1]:8080`` or ``unix:/path``, read back from the socket."""
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{name}"
    if sock.family == socket.AF_INET6:
        return f"[{name[0]}]:{name[1]}"
    return f"{name[0]}:{name[1]}"


def remove_unix_sockets(addresses: list[str]) -> None:
    """Remove the socket files of Unix listeners this process created (never other files)."""
    for text in addresses:
        family, path = parse_address(text)
        try:
            if family == "unix" and stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)
        except OSError:
            pass


def reuseport_copy(sock: socket.socket) -> socket.socket:
    """Another listening socket on the same TCP address, for one more worker.

    The kernel spreads new connections over SO_REUSEPORT sockets by a hash of
    the peer address, so each worker gets its share; a shared socket instead
    gives most connections to the first worker blocked in epoll_wait.
    Returns ``sock`` itself where that is impossible (Unix sockets, sockets
    from systemd without SO_REUSEPORT).
    """
    if sock.family == socket.AF_UNIX or not sock.getsockopt(socket.SOL_SOCKET,
                                                             socket.SO_REUSEPORT):
        return sock
    copy = socket.socket(sock.family, socket.SOCK_STREAM)
    try:
        copy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        copy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if sock.family == socket.AF_INET6:
            copy.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        copy.bind(sock.getsockname()[:2])
        copy.listen(BACKLOG)
    except OSError:
        copy.close()
        return sock
    return copy
