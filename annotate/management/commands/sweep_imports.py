from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from annotate.datasets.jobs import sweep_import_jobs


class Command(BaseCommand):
    help = (
        "Fail the background imports that no worker has taken or read from for "
        "IMPORT_JOB_MAX_WAIT_S, and remove stored uploads that no unfinished import holds "
        "(annotate/datasets/jobs.py). Every worker does this as it starts; run it from cron "
        "where workers run for weeks. Safe to repeat."
    )

    def handle(self, **options):
        failed, removed = sweep_import_jobs()
        hours = settings.IMPORT_JOB_MAX_WAIT_S / 3600
        self.stdout.write(
            self.style.SUCCESS(
                f"Imports failed after {hours:g} h without a worker: {failed}; "
                f"stored uploads removed: {removed}."
            )
        )
