"""Settings for the test suite: the tests get their own var/ folder (database file, broker
folders, demo model), so that a running dev server or worker never sees them, and short
leases so that a killed worker's items come back within seconds. Worker processes started by
the tests get the same environment."""

import os
from pathlib import Path

_var = Path(__file__).resolve().parent.parent / "var" / "test"
TEST_ENV = {
    "ANNOTATE_VAR_DIR": str(_var),
    "GENERATION_LEASE_S": "4",
    "RUN_STALL_S": "5",
    "TASK_TIME_BUDGET_S": "20",
    "MLX_MODEL": str(_var / "models" / "demo"),
}
for _key, _value in TEST_ENV.items():
    os.environ.setdefault(_key, _value)

from annotate.settings import *  # noqa: E402, F403
