"""The web process stays small: libraries that only some pages or the workers need are
imported by the functions that need them, not when gunicorn loads the app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Each costs a web process tens of MB (scikit-learn with pandas ~180, scipy.stats ~70).
LAZY = ["scipy", "sklearn", "pandas", "krippendorff"]

LOAD_APP = """
import json, sys
from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver
get_wsgi_application()
get_resolver().url_patterns
print(json.dumps(sorted(m for m in %r if m in sys.modules)))
"""


def test_it_loads_the_app_without_the_heavy_libraries():
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "annotate.settings"}
    result = subprocess.run(
        [sys.executable, "-c", LOAD_APP % LAZY],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout.splitlines()[-1]) == []
