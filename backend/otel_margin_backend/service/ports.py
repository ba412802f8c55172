"""Ports shared by ``serve --workers N``: every worker binds its own socket to one port with ``SO_REUSEPORT``.

Linux then spreads incoming connections over the workers' listening sockets (by a hash of each connection's
addresses), so one connection, and every request on it, stays with one worker. gRPC sets the option itself
(``grpc.so_reuseport``); for HTTP a worker binds the socket here and hands it to uvicorn. The parent binds one too,
without listening: it holds the port (and resolves port 0 to one port for all) until the workers listen, and a
socket that does not listen is given no connections.
"""

from __future__ import annotations

import socket

from otel_margin_backend.pipeline.errors import OtelMarginError


def bind_shared(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT``, not yet listening.

    Raises:
        OSError: the address cannot be bound (a process without ``SO_REUSEPORT`` holds it, or another user's).
    """
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
        0
    ]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def check_free(host: str, port: int, *, setting: str) -> None:
    """Fail if anything holds ``host:port``: with ``SO_REUSEPORT`` a second ``serve`` would share it silently.

    Raises:
        OtelMarginError: the port is in use, naming ``setting``.
    """
    if port == 0:
        return
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
        0
    ]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free
        try:
            probe.bind(address)
        except OSError as exc:
            raise OtelMarginError(
                f"cannot bind {host}:{port} ({setting}): {exc.strerror}; is another serve running? Stop it or "
                f"choose another port"
            ) from None
