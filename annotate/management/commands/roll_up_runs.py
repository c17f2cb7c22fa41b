from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from annotate.stats.rollups import rollups_in_scope


class Command(BaseCommand):
    help = (
        "Roll up every finished run without a valid rollup (annotate/stats/rollups.py), as "
        "the first statistics page would: run once after an upgrade, it spares that page the "
        "wait. Safe to repeat; finished runs already rolled up are left as they are."
    )

    def handle(self, **options):
        started = time.perf_counter()
        rollups = rollups_in_scope()
        runs = len({rollup.run_id for _, rollup in rollups})
        elapsed = time.perf_counter() - started
        self.stdout.write(self.style.SUCCESS(f"Runs rolled up: {runs} ({elapsed:.1f} s)."))
