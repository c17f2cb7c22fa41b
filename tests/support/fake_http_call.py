"""One request to a fake API server (tests/support/fake_http.py), as its handlers see it: the
`Call` (JSON in and out, Server-Sent Events, an abrupt drop), the `ApiError` a handler raises
for an error answer, and the bearer token of a request."""

from __future__ import annotations

import json
import socket
import time
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.faults import RequestRecord


class ApiError(Exception):
    """An error answer; the server renders it in its API's error shape."""

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        headers: dict[str, str] | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.headers = headers or {}
        self.param = param  # the request field at fault, for APIs that name it


class Dropped(Exception):
    """The connection was dropped on purpose: nothing more to send."""


@dataclass
class Call:
    """One request and the means to answer it."""

    handler: BaseHTTPRequestHandler
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    headers: dict[str, str]  # sent with every response (the request id)
    started: float = field(default_factory=time.monotonic)
    key: str | None = None
    fault: str = "ok"
    status: int = 0
    outcome: str = "ok"

    def header(self, name: str) -> str | None:
        return self.handler.headers.get(name)

    def json(self) -> dict[str, Any]:
        """The body as a JSON object, or a 400."""
        try:
            data = json.loads(self.body or b"null")
        except ValueError as err:
            raise ApiError(400, "invalid_request_error", f"invalid JSON body: {err}") from err
        if not isinstance(data, dict):
            raise ApiError(400, "invalid_request_error", "the body must be a JSON object")
        return data

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(payload).encode(), "application/json", headers)

    def send_bytes(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        length = {"content-type": content_type, "content-length": str(len(body))}
        self._send_head(status, {**length, **(headers or {})})
        self.handler.wfile.write(body)

    def start_stream(self, content_type: str = "text/event-stream; charset=utf-8") -> None:
        head = {"content-type": content_type, "transfer-encoding": "chunked"}
        self._send_head(200, {**head, "cache-control": "no-cache"})

    def send_chunk(self, data: bytes) -> None:
        """One chunk of a chunked body, flushed at once."""
        self.handler.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
        self.handler.wfile.flush()

    def end_stream(self) -> None:
        self.handler.wfile.write(b"0\r\n\r\n")
        self.handler.wfile.flush()

    def drop(self) -> None:
        """Shut the socket down mid-response: the client sees an incomplete body."""
        self.outcome = "dropped"
        self.handler.close_connection = True
        with suppress(OSError):
            self.handler.wfile.flush()
            self.handler.connection.shutdown(socket.SHUT_RDWR)
        raise Dropped

    def record(self) -> RequestRecord:
        return RequestRecord(
            started=self.started,
            finished=time.monotonic(),
            method=self.method,
            path=self.path,
            status=self.status,
            key=self.key,
            fault=self.fault,
            outcome=self.outcome,
            sdk_retry=int(retry) if (retry := self.header("x-stainless-retry-count")) else None,
        )

    def _send_head(self, status: int, headers: dict[str, str]) -> None:
        self.status = status
        # http.server knows no reason phrase for 529.
        self.handler.send_response(status, "Overloaded" if status == 529 else None)
        for name, value in {**self.headers, **headers}.items():
            self.handler.send_header(name, value)
        self.handler.end_headers()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None
