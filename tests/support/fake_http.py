"""HTTP plumbing shared by the fake API servers.

A `FakeServer` is a stdlib `ThreadingHTTPServer` speaking HTTP/1.1 (keep-alive, chunked
streams) on 127.0.0.1, port 0 by default (any free port), served from a daemon thread. Use it as
a context manager, or `start()` / `stop()`, or run it in a process of its own through `main()`.
A subclass lists its routes and says how its API shapes errors; this module gives each request a
`Call` (tests/support/fake_http_call.py: JSON in and out, Server-Sent Events, an abrupt drop),
applies the `Faults` and records
every request in the `Ledger`.

Two routes need no key and are not recorded: `GET /_fake/stats` (the ledger's counts) and
`POST /_fake/faults` (a JSON object of fault attributes to change), for a server running in
another process.
"""

from __future__ import annotations

import argparse
import random
import re
import socket
import socketserver
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl, urlsplit

from tests.support.fake_http_call import ApiError, Call, Dropped, bearer_token
from tests.support.faults import STATUS_FAULTS, Faults, Ledger

# Re-exported: the fake servers import the whole plumbing from here.
__all__ = ["ApiError", "Call", "FakeServer", "Handler", "Route", "bearer_token", "main"]

Handler = Callable[[Call, re.Match[str]], None]
Route = tuple[str, re.Pattern[str], Handler]


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def do_GET(self) -> None:
        self.server.fake.handle(self)

    do_POST = do_GET
    do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.fake.verbose:
            super().log_message(format, *args)


class _HTTPServer(ThreadingHTTPServer):
    """Keeps the open connections, to shut them down when the fake stops."""

    daemon_threads = True
    request_queue_size = 256  # the listen backlog: a benchmark opens many connections at once

    def __init__(self, address: tuple[str, int], fake: FakeServer) -> None:
        self.fake = fake
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can take a DNS timeout.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.sockets_lock:
                self.open_sockets.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client resetting an idle keep-alive connection is business as usual.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def close_open_sockets(self) -> None:
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class FakeServer:
    """Lifecycle, auth, routing, faults and bookkeeping common to the fake API servers.

    Arguments: `host`, `port` (0: any free port), `api_key` (the one key accepted), `models`
    (names accepted, each also with a dated suffix such as "-20251001"; None: the server's
    `default_models`; empty: any name),
    `seed` (for the faults and the shuffles), `filler_words` (length of the answers, see
    `fake_text`), `verbose` (log each request to stderr), and any attribute of `Faults` as a
    keyword (`latency=0.2`, `script=["429", "ok"]`).
    """

    request_id_header: ClassVar[str] = "request-id"
    request_id_prefix: ClassVar[str] = "req_"
    default_models: ClassVar[tuple[str, ...]] = ()
    overloaded_status: ClassVar[int] = 503

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = "test-key",
        models: Sequence[str] | None = None,
        seed: int = 0,
        filler_words: int = 8,
        verbose: bool = False,
        **fault_options: Any,
    ) -> None:
        self.api_key = api_key
        self.models = self.default_models if models is None else tuple(models)
        self.filler_words = filler_words
        self.verbose = verbose
        self.rng = random.Random(seed)
        self.faults = Faults(seed=seed, **fault_options)
        self.ledger = Ledger()
        self.routes: list[Route] = self.build_routes()
        self._httpd = _HTTPServer((host, port), self)
        self._thread: threading.Thread | None = None

    # What a subclass provides.

    def build_routes(self) -> list[Route]:
        raise NotImplementedError

    def authenticate(self, call: Call) -> None:
        """Raise an ApiError(401) unless the request carries the right key."""
        raise NotImplementedError

    def error_body(self, call: Call, error: ApiError) -> dict[str, Any]:
        raise NotImplementedError

    def stats(self) -> dict[str, Any]:
        return self.ledger.summary()

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Command-line options of the subclass's own constructor arguments."""

    # Lifecycle.

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The server's root, http://127.0.0.1:PORT."""
        return f"http://{self._httpd.server_address[0]}:{self.port}"

    @property
    def base_url(self) -> str:
        """What to give the SDK as `base_url`."""
        return self.url

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            args=(0.05,),  # the poll interval: how soon stop() returns
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        """Stop accepting, close open connections and the listening socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.close_open_sockets()
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Requests.

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        call = self._new_call(handler)
        if call.path.startswith("/_fake/"):
            self._control(call)
            return
        self.ledger.begin()
        try:
            self._respond(call)
        except OSError:  # the client went away
            call.outcome = "client_gone"
            handler.close_connection = True
        finally:
            self.ledger.end(call.record())

    def _new_call(self, handler: BaseHTTPRequestHandler) -> Call:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("content-length") or 0)
        # Read the whole body first, so a keep-alive connection stays in step.
        body = handler.rfile.read(length) if length else b""
        request_id = self.request_id_prefix + uuid.uuid4().hex[:24]
        return Call(
            handler=handler,
            method=handler.command,
            path=url.path,
            query=dict(parse_qsl(url.query)),
            body=body,
            headers={self.request_id_header: request_id},
        )

    def _respond(self, call: Call) -> None:
        try:
            self.authenticate(call)
            handler, match = self._route(call)
            handler(call, match)
        except Dropped:
            pass
        except ApiError as error:
            call.outcome = "error"
            call.send_json(error.status, self.error_body(call, error), error.headers)
        except Exception:  # a bug in the fake: say so loudly, answer 500
            traceback.print_exc()
            call.outcome = "crash"
            call.handler.close_connection = True
            if not call.status:
                error = ApiError(500, "api_error", "the fake server crashed")
                call.send_json(500, self.error_body(call, error))

    def _route(self, call: Call) -> tuple[Handler, re.Match[str]]:
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(call.path)
            if match and method == call.method:
                return handler, match
        raise ApiError(404, "not_found_error", f"no route for {call.method} {call.path}")

    def check_model(self, model: str) -> bool:
        """Whether `model` is served: a known name, or one with a dated suffix."""
        if not self.models:
            return True
        return any(model == name or model.startswith(f"{name}-") for name in self.models)

    def apply_faults(self, call: Call, *, stream: bool) -> None:
        """Choose the request's fault and play those that come before the answer.

        1. Wait `latency` seconds (plus `slow_seconds` for a "slow" fault).
        2. A status fault raises its ApiError (a "stream_error" is an overload when the
           request does not stream).
        3. A "drop" of a request that does not stream closes the socket at once.
        Drops and error events inside a stream are the stream writer's business.
        """
        faults = self.faults
        call.fault = faults.choose(call.key or "")
        time.sleep(faults.latency + (faults.slow_seconds if call.fault == "slow" else 0.0))
        fault = "overloaded" if call.fault == "stream_error" and not stream else call.fault
        if fault in STATUS_FAULTS:
            raise self.fault_error(fault)
        if fault == "drop" and not stream:
            call.drop()

    def fault_error(self, fault: str) -> ApiError:
        """The ApiError a status fault answers with."""
        if fault == "429":
            retry_after = self.faults.retry_after
            headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
            return ApiError(429, "rate_limit_error", "rate limited (fake)", headers)
        if fault == "500":
            return ApiError(500, "api_error", "Internal server error (fake)")
        return ApiError(self.overloaded_status, "overloaded_error", "Overloaded (fake)")

    def _control(self, call: Call) -> None:
        """`GET /_fake/stats` and `POST /_fake/faults`, for a server in another process."""
        try:
            if (call.method, call.path) == ("GET", "/_fake/stats"):
                call.send_json(200, self.stats())
            elif (call.method, call.path) == ("POST", "/_fake/faults"):
                self.faults.configure(**call.json())
                call.send_json(200, self.faults.snapshot())
            else:
                call.send_json(404, {"error": f"no control route {call.method} {call.path}"})
        except (ApiError, ValueError, TypeError) as err:
            call.send_json(400, {"error": str(err)})


# The command line: `python -m tests.support.fake_anthropic --port 8081 --rate-429 0.1`.


def build_parser(server_cls: type[FakeServer]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=sys.modules[server_cls.__module__].__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=0, help="0: any free port (printed at start)")
    add("--api-key", default="test-key")
    add("--seed", type=int, default=0)
    add("--filler-words", type=int, default=8)
    add("--models", default=None, help="comma-separated names served; '*': any name")
    add("--verbose", action="store_true", help="log every request to stderr")
    add("--latency", type=float, default=0.0, help="seconds before the first byte")
    add("--token-delay", type=float, default=0.0, help="seconds between text deltas")
    add("--retry-after", type=float, default=1.0, help="retry-after of a 429, seconds")
    add("--slow-seconds", type=float, default=2.0, help="extra wait of a 'slow' fault")
    add("--drop-after", type=int, default=2, help="text deltas sent before a drop")
    for name in ("429", "500", "slow", "drop", "stream-error"):
        add(f"--rate-{name}", type=float, default=0.0, help="fraction of requests")
    add("--rate-overloaded", "--rate-529", "--rate-503", type=float, default=0.0)
    add("--script", default="", help="comma-separated faults of the next requests: 429,529,ok")
    add("--marker", default=None, help="fault only prompts that contain this")
    return parser


def main(server_cls: type[FakeServer], argv: Sequence[str] | None = None) -> None:
    """Run a fake server in the foreground until interrupted."""
    parser = build_parser(server_cls)
    server_cls.add_arguments(parser)
    options = vars(parser.parse_args(argv))
    options["script"] = [name for name in options["script"].split(",") if name]
    if options["models"] is not None:
        options["models"] = [m for m in options["models"].split(",") if m not in ("", "*")]
    server = server_cls(**options)
    print(f"{server_cls.__name__} listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
