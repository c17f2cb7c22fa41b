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
TEST_ENV = {
    "ANNOTATE_VAR_DIR": str(SESSION_DIR),
    "GENERATION_LEASE_S": "4",
    "RUN_STALL_S": "5",
    "TASK_TIME_BUDGET_S": "20",
    "DEMO_MODEL_DIR": str(_var / "models" / "demo"),
    "MLX_MODEL": str(_var / "models" / "demo"),
}
# setdefault: a worker process started by the tests inherits the session's folder.
for _key, _value in TEST_ENV.items():
    os.environ.setdefault(_key, _value)

from annotate.settings import *  # noqa: E402, F403

# Logins in tests need no slow password hashing (Basic auth hashes on every request).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
