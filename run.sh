#!/usr/bin/env bash
# Annotate on a laptop: ./run.sh sets up and starts the app; ./run.sh test runs the tests.
#   ./run.sh          venv + requirements, migrate, demo model + data + admin, then the web
#                     server on http://127.0.0.1:8000 ($ANNOTATE_PORT) and two Celery workers
#                     (mlx, api). Ctrl+C stops all three.
#   ./run.sh setup    the set-up part only.
#   ./run.sh start    the web server and the workers only (after ./run.sh setup).
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
  start_services
}

SERVICES=()

start_services() {
  local port=${ANNOTATE_PORT:-8000}
  trap 'stop_services 130' INT
  trap 'stop_services 143' TERM
  trap 'stop_services $?' EXIT
  # Job control puts each service in a process group of its own: Ctrl+C reaches this script
  # alone, and each service hears one TERM from it (Celery takes a second signal as "cut the
  # running tasks short" and says so again).
  set -m
  # MLX runs in the worker's main thread: one solo process per machine loads the model once.
  .venv/bin/celery -A annotate worker -Q mlx --pool solo -n mlx@%h --loglevel INFO &
  SERVICES+=($!)
  .venv/bin/celery -A annotate worker -Q api --pool threads --concurrency 8 -n api@%h --loglevel INFO &
  SERVICES+=($!)
  .venv/bin/python manage.py runserver "127.0.0.1:$port" &
  SERVICES+=($!)
  set +m
  echo "Annotate: http://127.0.0.1:$port/  (the admin password is in var/admin-password.txt)"
  wait "${SERVICES[2]}"
}

stop_services() {
  # Once: a second Ctrl+C, or the exit that follows, must not start the stopping again.
  trap '' INT TERM
  trap - EXIT
  echo "Stopping the web server and the workers..."
  local pid left
  for pid in "${SERVICES[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  # An idle worker stops in a second or two; one still inside a task is killed after 10 s, and
  # its items go back to pending when their leases expire (the watchdog hands them on).
  for _ in $(seq 100); do
    left=()
    for pid in "${SERVICES[@]}"; do kill -0 -- "-$pid" 2>/dev/null && left+=("$pid"); done
    [ ${#left[@]} -eq 0 ] && break
    sleep 0.1
  done
  if [ ${#left[@]} -gt 0 ]; then
    echo "Still running after 10 s, killed: ${left[*]}"
    for pid in "${left[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  fi
  echo "Stopped."
  exit "$1"
}

run_tests() {
  setup_venv requirements-dev.txt
  # Optional backends' tests run when their requirements are asked for (CI asks).
  for extra in ${ANNOTATE_EXTRAS:-}; do .venv/bin/python -m pip install -q -r "requirements-$extra.txt"; done
  if ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then
    apt-get install -y -qq chromium >/dev/null || echo "chromium not installed: browser tests will be skipped (and fail under ANNOTATE_CI)"
  fi
  .venv/bin/python -m pytest "$@"
}

case "${1:-serve}" in
  serve) serve ;;
  setup) setup_app ;;
  start) start_services ;;
  test) shift; run_tests "$@" ;;
  *) echo "usage: ./run.sh [serve|setup|start|test [pytest args]]" >&2; exit 2 ;;
esac
