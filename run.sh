#!/usr/bin/env bash
# Annotate on a laptop: ./run.sh sets up and starts the app; ./run.sh test runs the tests.
#   ./run.sh          venv + requirements, migrate, demo model + data + admin, then the web
#                     server on http://127.0.0.1:8000 and two Celery workers (mlx, api).
#   ./run.sh setup    the set-up part only.
#   ./run.sh test     set up the test tools, then pytest (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

setup_venv() {
  if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$1"
}

setup_app() {
  setup_venv requirements.txt
  mkdir -p var
  .venv/bin/python manage.py migrate --noinput
  .venv/bin/python manage.py setup_demo
}

serve() {
  setup_app
  trap 'kill 0' EXIT INT TERM
  # MLX runs in the worker's main thread: one solo process per machine loads the model once.
  .venv/bin/celery -A annotate worker -Q mlx --pool solo -n mlx@%h --loglevel INFO &
  .venv/bin/celery -A annotate worker -Q api --pool threads --concurrency 8 -n api@%h --loglevel INFO &
  echo "Annotate: http://127.0.0.1:8000/  (the admin password is in var/admin-password.txt)"
  .venv/bin/python manage.py runserver 127.0.0.1:8000
}

run_tests() {
  setup_venv requirements-dev.txt
  # Optional backends' tests run when their requirements are asked for (CI asks).
  for extra in ${ANNOTATE_EXTRAS:-}; do .venv/bin/python -m pip install -q -r "requirements-$extra.txt"; done
  if ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then
    apt-get install -y -qq chromium >/dev/null || echo "chromium not installed: browser tests will be skipped"
  fi
  .venv/bin/python -m pytest "$@"
}

case "${1:-serve}" in
  serve) serve ;;
  setup) setup_app ;;
  test) shift; run_tests "$@" ;;
  *) echo "usage: ./run.sh [serve|setup|test [pytest args]]" >&2; exit 2 ;;
esac
