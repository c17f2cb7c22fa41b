"""Issue 13, finding 1: which base URLs and key variables a hosted configuration may use is the
operator's decision (settings HOSTED_BASE_URLS, HOSTED_KEY_VARIABLES). A manager who edits a
configuration can neither point it at an address the operator did not allow nor have the worker
send another variable's value (SECRET_KEY, another provider's key) anywhere. Checked when a
configuration is saved (page, API, admin) and again by the worker before it sends anything."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.test import Client

from annotate.accounts.models import ApiToken
from annotate.datasets.models import Dataset
from annotate.exports.actions import start_export
from inference.actions import create_run
from inference.backends.egress import Egress
from inference.models import ModelConfig, RunStatus
from inference.runner import process_run
from tests.conftest import make_dataset, make_project
from tests.datasets.test_reimport_attribution import _file, _import

pytestmark = pytest.mark.django_db

SECRET = "sk-the-operators-own-secret-4242"


class Recorder:
    """A server on loopback that writes down every request's headers and refuses them all: what
    reached it, and with which key."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                recorder.headers.append({k.lower(): v for k, v in self.headers.items()})
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                body = b'{"type":"error","error":{"type":"authentication_error","message":"no"}}'
                self.send_response(401)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _any

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"

    def __enter__(self) -> Recorder:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def sent(self) -> str:
        return repr(self.headers)


def _run_to_end(owner, config, capture):
    with capture(execute=False):
        run = create_run(owner, make_dataset(owner, 2).pk, config.pk)
    while process_run(run.pk, worker="egress-test") is not None:
        pass
    run.refresh_from_db()
    return run


def _api(user):
    _, token = ApiToken.issue(user, "egress")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def _page(user):
    client = Client()
    client.force_login(user)
    return client


FORM = {"batch_size": 8, "concurrency": 8, "hourly_usd": "0", "max_tokens": 16}


@pytest.mark.parametrize(
    "fields, setting",
    [
        # An internal address the operator never listed.
        ({"backend": "openai", "base_url": "http://10.20.30.40:8080/v1"}, "HOSTED_BASE_URLS"),
        # Django's own secret, to an allowed address.
        (
            {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "SECRET_KEY"},
            "HOSTED_KEY_VARIABLES",
        ),
        # Another provider's key to a provider's official host.
        ({"backend": "anthropic", "api_key_env": "OPENAI_API_KEY"}, "HOSTED_KEY_VARIABLES"),
        # Credentials in the URL do not change the host it goes to.
        (
            {"backend": "openai", "base_url": "https://api.openai.com@evil.example/v1"},
            "HOSTED_BASE_URLS",
        ),
    ],
)
def test_a_configuration_the_operator_does_not_allow_is_refused_on_every_door(
    owner, fields, setting
):
    data = {"name": "probe", "model": "m", **fields}
    page = _page(owner).post("/models/new/", {**FORM, **data})
    assert page.status_code == 400
    assert setting in page.content.decode()

    api = _api(owner).post("/api/models", data, content_type="application/json")
    assert api.status_code == 422, api.content
    assert setting in api.json()["detail"]
    assert not ModelConfig.objects.filter(name="probe").exists()


def test_editing_ones_own_configuration_to_send_a_secret_elsewhere_is_refused(owner):
    config = ModelConfig.objects.create(
        name="team", backend="openai", model="gpt-4o", owner=owner, max_tokens=16
    )
    put = {"name": "team", "backend": "openai", "model": "gpt-4o", "api_key_env": "SECRET_KEY"}
    api = _api(owner).put(f"/api/models/{config.pk}", put, content_type="application/json")
    assert api.status_code == 422
    page = _page(owner).post(f"/models/{config.pk}/edit/", {**FORM, **put})
    assert page.status_code == 400 and "HOSTED_KEY_VARIABLES" in page.content.decode()
    config.refresh_from_db()
    assert config.api_key_env == ""


def test_the_admin_saves_through_the_same_check(django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="pw-root-123")
    client = _page(admin)
    data = {
        "name": "admin-probe",
        "backend": "openai",
        "model": "m",
        "base_url": "http://10.20.30.40/v1",
        "max_tokens": 16,
        "batch_size": 8,
        "concurrency": 8,
        "hourly_usd": "0",
        "mode": "stream",
        "stop": "[]",
        "system_prompt": "",
        "temperature": "",
        "top_p": "",
        "owner": admin.pk,
        "created_at_0": "2026-01-01",
        "created_at_1": "00:00:00",
    }
    response = client.post("/admin/annotate/modelconfig/add/", data)
    assert response.status_code == 200  # the form again, with the error
    assert "HOSTED_BASE_URLS" in response.content.decode()
    assert not ModelConfig.objects.filter(name="admin-probe").exists()


def test_an_allowed_local_server_is_saved(owner):
    data = {
        "name": "vllm",
        "backend": "openai",
        "model": "m",
        "base_url": "http://127.0.0.1:8000/v1",
    }
    assert _api(owner).post("/api/models", data, content_type="application/json").status_code == 201


def test_the_worker_checks_again_and_sends_nothing(
    owner, monkeypatch, django_capture_on_commit_callbacks
):
    """A configuration stored before the operator narrowed the list (or written past the
    checks): the worker refuses before any request; the secret never leaves."""
    monkeypatch.setenv("SECRET_KEY", SECRET)
    with Recorder() as server:
        config = ModelConfig.objects.create(
            name="stale",
            backend="openai",
            model="m",
            base_url=f"{server.url}/v1",
            api_key_env="SECRET_KEY",
            max_tokens=8,
            owner=owner,
        )
        run = _run_to_end(owner, config, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.FAILED
    assert "HOSTED_KEY_VARIABLES" in run.error
    assert server.headers == []  # not one request reached the address


@pytest.mark.parametrize("backend", ["anthropic", "openai"])
def test_the_default_key_goes_only_to_the_hosts_it_is_for(
    backend, owner, monkeypatch, settings, django_capture_on_commit_callbacks
):
    """Before: an Anthropic configuration with only a base_url sent ANTHROPIC_API_KEY there (and
    an OpenAI one sent OPENAI_API_KEY). Now the server, allowed as an address, gets no key."""
    variable = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}[backend]
    monkeypatch.setenv(variable, SECRET)
    settings.HOSTED_BASE_URLS = "http://127.0.0.1:*"
    settings.HOSTED_KEY_VARIABLES = f"{variable}=https://api.{backend}.com"
    with Recorder() as server:
        config = ModelConfig.objects.create(
            name="elsewhere", backend=backend, model="m", base_url=server.url, owner=owner
        )
        _run_to_end(owner, config, django_capture_on_commit_callbacks)
    assert server.headers, "the allowed address was reached"
    assert SECRET not in server.sent()


def test_a_key_goes_where_the_operator_allows_it(
    owner, monkeypatch, settings, django_capture_on_commit_callbacks
):
    monkeypatch.setenv("TEAM_VLLM_KEY", SECRET)
    with Recorder() as server:
        settings.HOSTED_BASE_URLS = server.url
        settings.HOSTED_KEY_VARIABLES = f"TEAM_VLLM_KEY={server.url}"
        config = ModelConfig.objects.create(
            name="vllm",
            backend="openai",
            model="m",
            base_url=f"{server.url}/v1",
            api_key_env="TEAM_VLLM_KEY",
            owner=owner,
        )
        run = _run_to_end(owner, config, django_capture_on_commit_callbacks)
    assert server.headers[0]["authorization"] == f"Bearer {SECRET}"
    assert "refused the key in TEAM_VLLM_KEY" in run.error


@pytest.mark.parametrize(
    "url, allowed",
    [
        ("https://api.openai.com/v1", True),
        ("https://api.openai.com/v1/", True),
        ("https://api.openai.com:443/v1", True),
        ("https://API.OPENAI.COM/v1", True),
        ("http://api.openai.com/v1", False),  # not over TLS
        ("https://api.openai.com/v2", False),  # outside the allowed path
        ("https://api.openai.com/v1/../admin", False),
        ("https://api.openai.com/v1/%2e%2e/admin", False),
        ("https://api.openai.com.evil.example/v1", False),
        ("https://user:pw@api.openai.com/v1", False),
        ("https://api.openai.com:8443/v1", False),
        ("http://127.0.0.1:5432", True),  # any port, as the operator wrote
        ("http://127.0.0.2:5432", False),
        ("http://[::1]:80", False),
        ("file:///etc/passwd", False),
        ("not a url", False),
    ],
)
def test_which_urls_an_allow_list_admits(url, allowed):
    egress = Egress.parse("https://api.openai.com/v1 http://127.0.0.1:*", "")
    try:
        egress.key_variable("openai", url, "")
    except ValueError:
        admitted = False
    else:
        admitted = True
    assert admitted is allowed


def test_a_bad_setting_fails_at_start():
    with pytest.raises(ValueError, match="HOSTED_KEY_VARIABLES"):
        Egress.parse("https://api.openai.com/v1", "OPENAI_API_KEY")
    with pytest.raises(ValueError, match="ftp"):
        Egress.parse("ftp://files.example", "")


@pytest.mark.parametrize("door", ["page", "api", "command"])
@pytest.mark.parametrize(
    "params, setting",
    [
        ({"base_url": "http://10.20.30.40/v1"}, "HOSTED_BASE_URLS"),
        ({"api_key_env": "SECRET_KEY"}, "HOSTED_KEY_VARIABLES"),
        ({"api_key_env": "sk-ant-a-pasted-key"}, "name of an environment variable"),
    ],
)
def test_a_re_imported_run_with_settings_the_operator_does_not_allow_is_refused(
    door, params, setting, owner, mlx_config, tmp_path
):
    """Re-importing an export stores its runs' settings (and a configuration from them):
    the same allow-lists, the line named, nothing imported."""
    project = make_project(owner, mlx_config, n=2)
    export = start_export(owner, "jsonl", {"project": project.pk})
    rows = [json.loads(line) for line in Path(export.path).read_text().splitlines()]
    rows[1]["generation"]["params"] |= {"backend": "openai", **params}
    before = (Dataset.objects.count(), ModelConfig.objects.count())
    status, said = _import(door, owner, _file(tmp_path, rows))
    assert status in (1, 400, 422), said[:500]
    assert "line 2" in said and setting in said, said[:2000]
    assert (Dataset.objects.count(), ModelConfig.objects.count()) == before
