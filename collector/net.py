"""Binding listening sockets up front, so a taken port is a clear message, not a traceback."""

from __future__ import annotations

import os
import socket


class PortInUse(OSError):
    """A port the collector needs is taken; the message names the flag to change it."""


def port_free(host: str, port: int) -> bool:
    """True if ``host:port`` can be bound now (for servers that bind themselves, like gRPC)."""
    try:
        probe = socket.create_server((host, port), family=_family(host))
    except OSError:
        return False
    probe.close()
    return True


def bind_tcp(host: str, port: int, what: str, flag: str) -> socket.socket:
    """A listening TCP socket on ``host:port``, or :class:`PortInUse` saying what to do."""
    try:
        return socket.create_server((host, port), family=_family(host), backlog=1024)
    except OSError as exc:
        raise PortInUse(
            f"cannot listen for {what} on {host}:{port} "
            f"({os.strerror(exc.errno) if exc.errno else exc}); "
            f"is another collector running? choose another port with {flag}"
        ) from exc


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
