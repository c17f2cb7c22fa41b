"""A TCP proxy that can cut its connections, to take a server away from one client without
stopping the server (which other clients share).

`TcpProxy(("127.0.0.1", 5432))` listens on a free port of 127.0.0.1 (`proxy.port`) and
forwards each connection to the target, two threads a connection. `cut()` closes every open
connection and, until `restore()`, closes each new one as soon as it is accepted: the client
sees what it sees when a database restarts. Use it as a context manager, or `start()` /
`stop()`.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress
from typing import Self


class TcpProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)  # the accept loop looks at `_stopped` this often
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)
        self.accepted = 0  # connections forwarded
        self.refused = 0  # connections closed at once because the proxy was cut

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()
        self._listener.close()
        self._close_all()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def cut(self) -> None:
        """Drop every connection, open or new, until restore()."""
        with self._lock:
            self._cut.set()
        self._close_all()

    def restore(self) -> None:
        self._cut.clear()

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            if self._cut.is_set():
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            # Under the lock: a connection accepted while cut() runs is closed, not kept.
            with self._lock:
                forward = not self._cut.is_set()
                if forward:
                    self._open.update((client, upstream))
            if not forward:
                self.refused += 1
                self._close(client, upstream)
                continue
            self.accepted += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._close(src, dst)

    def _close(self, *socks: socket.socket) -> None:
        for sock in socks:
            with self._lock:
                self._open.discard(sock)
            # shutdown() wakes the other pump blocked in recv(); close() alone would not.
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _close_all(self) -> None:
        with self._lock:
            socks = list(self._open)
        self._close(*socks)
