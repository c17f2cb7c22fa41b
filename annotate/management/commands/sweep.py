from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from annotate.stats.actions import create_sweep
from inference.errors import ActionError


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise CommandError(f"{text!r}: whole numbers, separated by commas.") from None


class Command(BaseCommand):
    help = (
        "Start a speed sweep: a sample of a dataset through a model configuration at each batch "
        "size (or concurrency) and max-tokens limit, one run after another, on the workers. "
        "Follow it at /sweeps/N/ or GET /api/sweeps/N."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dataset", type=int, required=True)
        parser.add_argument("--config", type=int, required=True, help="A model configuration.")
        parser.add_argument(
            "--in-flight", required=True, help="Batch sizes or concurrencies: 1,4,16"
        )
        parser.add_argument("--max-tokens", required=True, help="Limits: 64,256")
        parser.add_argument("--sample", type=int, default=20, help="Items drawn (default 20).")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--user", default="", help="Username; default: the first superuser.")

    def handle(self, dataset, config, in_flight, max_tokens, sample, seed, user, **options):
        users = get_user_model().objects
        person = (
            users.filter(username=user).first()
            if user
            else users.filter(is_superuser=True).order_by("pk").first()
        )
        if person is None:
            raise CommandError("No such user: create one with createsuperuser, or pass --user.")
        try:
            sweep = create_sweep(
                person, dataset, config, _ints(in_flight), _ints(max_tokens), sample, seed
            )
        except (ActionError, PermissionDenied, Http404) as exc:
            raise CommandError(f"No sweep started: {exc}") from None
        self.stdout.write(
            f"Sweep {sweep.pk}: {len(sweep.points)} points over {len(sweep.item_ids)} items; "
            f"the first run has started. Follow it at /sweeps/{sweep.pk}/."
        )
