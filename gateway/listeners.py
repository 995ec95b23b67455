"""Listening sockets from the configured addresses: TCP on IPv4 and IPv6, Unix paths."""

from __future__ import annotations

import os
import socket
import stat

from gateway.config import parse_address

BACKLOG = 1024  # socketserver's 5 makes bursts of clients see resets and 1 s stalls


def open_listener(text: str, unix_mode: int = 0o660) -> socket.socket:
    family, address = parse_address(text)
    if family == "unix":
        return _unix_listener(address, unix_mode)
    sock = socket.socket(socket.AF_INET6 if family == "ipv6" else socket.AF_INET,
                         socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
