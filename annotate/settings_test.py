"""Settings for the test suite: the tests get their own var/ folder (database file, broker
folders, demo model), so that a running dev server or worker never sees them, and short
leases so that a killed worker's items come back within seconds. Worker processes started by
the tests get the same environment."""

import os
from pathlib import Path

_var = Path(__file__).resolve().parent.parent / "var" / "test"
# Each test session has its own database file and broker folders, so that two sessions (or a
# session and a dev server) never share a queue; the demo model is built once for all.
SESSION_DIR = _var / f"session-{os.getpid()}"
_OFFICIAL = "https://api.anthropic.com https://api.openai.com/v1"
_LOOPBACK = "http://127.0.0.1:* http://localhost:*"
_TEST_KEYS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_TEST_KEY", "TEAM_ANTHROPIC_KEY")
TEST_ENV = {
    "ANNOTATE_VAR_DIR": str(SESSION_DIR),
    "GENERATION_LEASE_S": "4",
    "RUN_STALL_S": "5",
    "TASK_TIME_BUDGET_S": "20",
    "DEMO_MODEL_DIR": str(_var / "models" / "demo"),
    "MLX_MODEL": str(_var / "models" / "demo"),
    # The tests' fake providers listen on loopback: the official hosts, and loopback for the
    # key variables the tests use (never SECRET_KEY or DATABASE_URL).
    "HOSTED_BASE_URLS": f"{_OFFICIAL} {_LOOPBACK}",
    "HOSTED_KEY_VARIABLES": " ".join(
        [
            "ANTHROPIC_API_KEY=https://api.anthropic.com",
            "OPENAI_API_KEY=https://api.openai.com/v1",
        ]
        + [f"{v}={u}" for v in _TEST_KEYS for u in _LOOPBACK.split()]
    ),
}
# setdefault: a worker process started by the tests inherits the session's folder.
for _key, _value in TEST_ENV.items():
    os.environ.setdefault(_key, _value)

from annotate.settings import *  # noqa: E402, F403

# Logins in tests need no slow password hashing (Basic auth hashes on every request).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
