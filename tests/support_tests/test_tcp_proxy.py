"""The TCP proxy the database fault test cuts, against a local echo server."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from tests.support.tcp_proxy import TcpProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(1024):
            self.request.sendall(data)


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo) as server:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        with TcpProxy(server.server_address) as proxy:
            yield proxy
        server.shutdown()


def _connect(proxy: TcpProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=5)


def _echo(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    return sock.recv(1024)


def test_it_forwards_both_ways(proxy: TcpProxy) -> None:
    with _connect(proxy) as sock:
        assert _echo(sock, b"ping") == b"ping"
    assert proxy.accepted == 1


def test_a_cut_closes_open_connections_and_new_ones_until_restored(proxy: TcpProxy) -> None:
    with _connect(proxy) as before:
        assert _echo(before, b"one") == b"one"
        proxy.cut()
        assert before.recv(1024) == b""  # closed by the proxy
    with _connect(proxy) as during:
        assert during.recv(1024) == b""
    assert proxy.refused == 1

    proxy.restore()
    with _connect(proxy) as after:
        assert _echo(after, b"two") == b"two"
