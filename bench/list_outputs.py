"""A run's list of outputs at depth: offset pages against keyset pages, in the same run.

Usage: python bench/list_outputs.py [--quick] [--generations 50000] [--limit 50] [--repeat 15]

How:
1. Point the settings at a temporary ANNOTATE_VAR_DIR (SQLite, unless DATABASE_URL is set),
   django.setup() and migrate.
2. Build, timed apart: a dataset of N items and a run with one generation each (bulk_create;
   a tenth of them done, so the status filter has something to find).
3. Through `django.test.Client` as a superuser, after a warm-up, time the median of --repeat
   GETs (the whole request: middleware, session, JSON) of
   `/api/runs/<id>/generations?limit=50`: the first page (list_p50_ms), a page 100 rows
   from the end by `offset=` (deep_page_offset_ms) and by `after=` (deep_page_keyset_ms),
   the same three with `status=done`, and the page `/runs/<id>/generations/` first and deep;
   then as a script calls the API, with a personal token (`Authorization: Bearer`), the deep
   keyset page (token_deep_keyset_ms, and its CPU time a request: token_deep_keyset_cpu_ms,
   steadier on a loaded machine) and one output by id (token_item_ms).
   Then the database and the ORM alone, without the request: the deep page as the list
   was before keyset pages (a count, then an offset in item order through a join:
   query_deep_offset_ms, the baseline) and by keyset (query_deep_keyset_ms).
4. Print a table and, as the last line, the figures as JSON, with the device, the versions,
   the commit and the load average. Goal: a keyset page's query <= 4 ms at any size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import setup_django  # noqa: E402

GOAL_MS = 4.0


def median_ms(call, repeat: int) -> float:
    call()  # warm-up: the first request pays for imports and the connection
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def cpu_ms(call, repeat: int) -> float:
    """The process's CPU time a call (the app and SQLite, not the waits): steadier than wall
    time on a loaded machine."""
    call()
    start = time.process_time()
    for _ in range(repeat):
        call()
    return round((time.process_time() - start) * 1000 / repeat, 2)


def build(n: int):
    """A superuser, a dataset of n items and a run of n generations, a tenth of them done."""
    from django.contrib.auth.models import User  # after django.setup(): the app's models

    from annotate.datasets.models import Dataset, Item
    from inference.models import Generation, GenerationStatus, ModelConfig, Run

    user = User.objects.create_superuser("bench", password="unused-bench-password")
    dataset = Dataset.objects.create(name=f"list outputs {n}", owner=user)
    Item.objects.bulk_create(
        Item(
            dataset=dataset,
            index=i,
            messages=[{"role": "user", "content": f"p{i}"}],
            prompt=f"p{i}",
        )
        for i in range(n)
    )
    config = ModelConfig.objects.create(name="bench", backend="mlx", model="bench", owner=user)
    run = Run.objects.create(
        dataset=dataset, model_config=config, params=config.params(), created_by=user, total=n
    )
    items = dataset.items.order_by("index").values_list("pk", flat=True)
    Generation.objects.bulk_create(
        (
            Generation(
                run=run,
                item_id=pk,
                status=GenerationStatus.DONE if i % 10 == 0 else GenerationStatus.PENDING,
                output="An answer of a few words." if i % 10 == 0 else "",
            )
            for i, pk in enumerate(items)
        ),
        batch_size=5000,
    )
    return user, run


def before_deep_page(run, offset: int, limit: int) -> None:
    """The list as it was (the baseline): a count, then an offset page in item order."""
    gens = run.generations.order_by("item__index", "sample_index")
    gens.count()
    list(gens.select_related("item")[offset : offset + limit])


def measure(run, client, token, limit: int, repeat: int) -> dict[str, float]:
    from inference.outputs import output_page  # after django.setup()

    api = f"/api/runs/{run.pk}/generations?limit={limit}"
    ids = list(run.generations.order_by("pk").values_list("pk", flat=True))
    done = list(run.generations.filter(status="done").order_by("pk").values_list("pk", flat=True))
    deep, deep_done = len(ids) - 100, len(done) - 100

    def get(url: str, by=client):
        response = by.get(url)
        assert response.status_code == 200, (url, response.status_code)

    return {
        "list_p50_ms": median_ms(lambda: get(api), repeat),
        "deep_page_offset_ms": median_ms(lambda: get(f"{api}&offset={deep}"), repeat),
        "deep_page_keyset_ms": median_ms(lambda: get(f"{api}&after={ids[deep - 1]}"), repeat),
        "done_first_ms": median_ms(lambda: get(f"{api}&status=done"), repeat),
        "done_deep_offset_ms": median_ms(
            lambda: get(f"{api}&status=done&offset={deep_done}"), repeat
        ),
        "done_deep_keyset_ms": median_ms(
            lambda: get(f"{api}&status=done&after={done[deep_done - 1]}"), repeat
        ),
        "page_first_ms": median_ms(lambda: get(f"/runs/{run.pk}/generations/"), repeat),
        "page_deep_ms": median_ms(
            lambda: get(f"/runs/{run.pk}/generations/?after={ids[deep - 1]}"), repeat
        ),
        "token_deep_keyset_ms": median_ms(
            lambda: get(f"{api}&after={ids[deep - 1]}", by=token), repeat
        ),
        "token_deep_keyset_cpu_ms": cpu_ms(
            lambda: get(f"{api}&after={ids[deep - 1]}", by=token), repeat
        ),
        "token_item_ms": median_ms(lambda: get(f"/api/generations/{ids[deep]}", by=token), repeat),
        # The database and the ORM alone, without the request around them.
        "query_deep_offset_ms": median_ms(lambda: before_deep_page(run, deep, limit), repeat),
        "query_deep_keyset_ms": median_ms(
            lambda: output_page(run, after=ids[deep - 1], limit=limit), repeat
        ),
    }


def environment_figures() -> dict:
    import django  # the versions only

    def git(*args: str) -> str:
        found = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
        return found.stdout.strip()

    from django.db import connection

    return {
        "device": f"{platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs",
        "versions": {
            "python": platform.python_version(),
            "django": django.get_version(),
            "database": f"{connection.vendor} {connection.Database.sqlite_version}"
            if connection.vendor == "sqlite"
            else connection.vendor,
        },
        "commit": git("rev-parse", "--short", "HEAD") + (" (dirty)" if git("status", "-s") else ""),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k generations, 7 repeats")
    parser.add_argument("--generations", type=int, default=50_000)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    if args.quick:
        args.generations, args.repeat = 10_000, 7
    with tempfile.TemporaryDirectory(prefix="bench-list-outputs-") as var_dir:
        setup_django(var_dir=Path(var_dir))
        from django.test import Client  # after django.setup()

        start = time.perf_counter()
        user, run = build(args.generations)
        build_s = round(time.perf_counter() - start, 2)
        from annotate.accounts.models import ApiToken  # after django.setup()

        client = Client()
        client.force_login(user)
        _, secret = ApiToken.issue(user, "bench")
        token = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
        figures = measure(run, client, token, args.limit, args.repeat)
        report = {"generations": args.generations, "limit": args.limit, "build_s": build_s}
        report |= figures
        keyset = ("query_deep_keyset_ms",)
        report["goal_keyset_query_le_4ms"] = all(figures[k] <= GOAL_MS for k in keyset)
        report["offset_vs_keyset"] = round(
            figures["deep_page_offset_ms"] / figures["deep_page_keyset_ms"], 1
        )
        report["query_offset_vs_keyset"] = round(
            figures["query_deep_offset_ms"] / figures["query_deep_keyset_ms"], 1
        )
        report |= environment_figures()
        for name, value in figures.items():
            print(f"{name:24} {value:8.2f} ms")
        print(json.dumps(report))


if __name__ == "__main__":
    main()
