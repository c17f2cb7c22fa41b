"""The production way to run, as the README's "Production" section writes it: collectstatic,
gunicorn with DEBUG off behind a TLS proxy, an `mlx` worker (solo pool) and an `api` worker
(threads), on RabbitMQ as the broker (Redis is CI's second pass everywhere else) and the
tests' database. A script drives it over HTTP with an API token, as a team would."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from annotate.accounts.models import ApiToken
from inference.models import Generation
from tests.conftest import worker_env
from tests.support.processes import ROOT, celery_worker
from tests.support.web_server import WebServer, production_env

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"


def _rabbitmq_up() -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", 5672)) == 0


pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.skipif(not _rabbitmq_up(), reason="RabbitMQ is not running on 127.0.0.1:5672"),
]


class Client:
    """HTTP as a script behind the TLS proxy sees it: X-Forwarded-Proto https, a token."""

    def __init__(self, url: str, token: str = "") -> None:
        self.url, self.token = url, token

    def call(self, method: str, path: str, body=None, headers=None, proxied=True):
        data, sent = None, dict(headers or {})
        if isinstance(body, bytes):
            data = body
        elif body is not None:
            data, sent["Content-Type"] = json.dumps(body).encode(), "application/json"
        if proxied:
            sent["X-Forwarded-Proto"] = "https"
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, data, sent, method=method)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def json(self, method: str, path: str, body=None):
        status, _, content = self.call(method, path, body)
        assert status < 300, (status, content[:500])
        return json.loads(content)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _multipart(filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = "annotate-deploy-test"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    body = head.encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_production_stack_web_workers_and_rabbitmq(tmp_path, owner, demo_model_path):
    env = production_env(
        worker_env(),
        BEHIND_TLS_PROXY="true",
        STATIC_ROOT=str(tmp_path / "static"),
        LOG_FORMAT="json",
        CELERY_BROKER_URL=RABBITMQ,
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    web = WebServer.production(env, tmp_path / "web.log")
    workers = []
    try:
        web.start()
        workers.append(celery_worker("mlx", tmp_path / "mlx.log", "mlx", "solo", env=env))
        workers.append(celery_worker("api", tmp_path / "api.log", "api", "threads", 4, env=env))
        _check_web(Client(web.url))
        _, token = ApiToken.issue(owner, "deploy")
        _run_through_the_stack(Client(web.url, token), demo_model_path)
        # Structured logs: the web's own log lines are JSON objects.
        logged = [
            json.loads(line)
            for line in web.log.read_text().splitlines()
            if line.startswith("{") and '"logger"' in line
        ]
        assert any(entry["logger"] == "django.request" for entry in logged), logged
    finally:
        for service in (*workers, web):
            service.stop()


def _check_web(client: Client) -> None:
    """HTTPS only, the security headers, hashed and compressed static files."""
    status, headers, _ = client.call("GET", "/accounts/login/", proxied=False)
    assert status == 301 and headers["Location"].startswith("https://")
    status, headers, page = client.call("GET", "/accounts/login/")
    assert status == 200
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "Secure" in headers["Set-Cookie"]
    css = re.search(r"/static/[\w/.-]+\.[0-9a-f]{12}\.css", page.decode())
    assert css, "static files are not hashed"
    status, headers, _ = client.call("GET", css.group(0), headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("Content-Encoding") == "gzip"
    assert "immutable" in headers["Cache-Control"]
    assert client.call("GET", "/healthz", proxied=False)[0] == 200
    status, _, _ = client.call("GET", "/no-such-page/")
    assert status == 404  # logged by django.request


def _run_through_the_stack(client: Client, model_path) -> None:
    """Import, configure, run, read back: each worker does its part; health sees both."""
    body, kind = _multipart(
        "prompts.jsonl", b"".join(b'{"prompt": "Write function %d."}\n' % i for i in range(12))
    )
    status, _, content = client.call("POST", "/api/datasets", body, {"Content-Type": kind})
    assert status == 201, content
    dataset = json.loads(content)
    config = client.json(
        "POST",
        "/api/models",
        {"name": "deploy-demo", "backend": "mlx", "model": str(model_path), "max_tokens": 16},
    )
    run = client.json(
        "POST", "/api/runs", {"dataset_id": dataset["id"], "model_config_id": config["id"]}
    )
    deadline = time.monotonic() + 120
    while run["status"] not in ("completed", "completed_with_errors", "failed"):
        assert time.monotonic() < deadline, run
        time.sleep(0.5)
        run = client.json("GET", f"/api/runs/{run['id']}")
    assert run["status"] == "completed", run
    generations = client.json("GET", f"/api/runs/{run['id']}/generations?limit=100")["items"]
    assert len(generations) == 12 and all(g["output_tokens"] for g in generations)

    workers = set(Generation.objects.filter(run_id=run["id"]).values_list("worker", flat=True))
    assert {w.split("@")[0] for w in workers} == {"mlx"}
    # A background export goes to the api queue's worker.
    export = client.json("POST", "/api/exports", {"format": "jsonl", "run": run["id"]})
    assert export["rows"] == 12 or export["status"] in ("queued", "running")
    health = client.json("GET", "/api/health")
    assert health["checks"]["broker"]["ok"] and "amqp" in health["checks"]["broker"]["detail"]
    online = {w["hostname"].split("@")[0]: w for w in health["workers"] if w["online"]}
    assert online["mlx"]["queues"] == ["mlx"] and online["api"]["queues"] == ["api"]
    assert any(str(model_path) in m for m in map(str, online["mlx"]["models"]))
