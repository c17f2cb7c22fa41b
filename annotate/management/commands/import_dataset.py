from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from annotate.datasets.actions import import_dataset
from annotate.datasets.importing import ImportFailed, import_summary


class Command(BaseCommand):
    help = (
        "Import a file of prompts (a JSON array, JSON lines, CSV or Parquet) as a new dataset "
        "(all or nothing), at once whatever its size: no request here to time out, unlike the "
        "page and the API, which leave files above IMPORT_INLINE_MAX_BYTES to a worker."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--name", default="")
        parser.add_argument("--description", default="")
        parser.add_argument("--owner", default="", help="Username; default: the first superuser.")
        parser.add_argument(
            "--format",
            choices=("json", "jsonl", "csv", "parquet"),
            default=None,
            help="Default: from the file's name; json is an array or JSON lines, as it starts.",
        )
        parser.add_argument(
            "--keep-authors",
            action="store_true",
            help="Give an Annotate export's labels to the users it names (creating missing "
            "ones without a password) instead of the owner; the owner must be a superuser.",
        )
        parser.add_argument(
            "--project-kind",
            choices=("compare", "label"),
            default="",
            help="A file of outputs made elsewhere: also make a project over its runs.",
        )
        parser.add_argument("--project-name", default="", help="Default: the dataset's name.")

    def handle(
        self,
        path: Path,
        name: str,
        description: str,
        owner: str,
        format,
        keep_authors: bool = False,
        project_kind: str = "",
        project_name: str = "",
        **options,
    ):
        users = get_user_model().objects
        user = (
            users.filter(username=owner).first()
            if owner
            else users.filter(is_superuser=True).order_by("pk").first()
        )
        if user is None:
            raise CommandError("No such user: create one with createsuperuser, or pass --owner.")
        if not path.exists():
            raise CommandError(f"{path}: no such file")
        try:
            with path.open("rb") as stream:
                dataset = import_dataset(
                    user,
                    stream,
                    path.name,
                    name,
                    description,
                    fmt=format,
                    keep_authors=keep_authors,
                    project_kind=project_kind,
                    project_name=project_name,
                )
        except PermissionDenied as exc:
            raise CommandError(f"Refused for {user.username}: {exc}") from None
        except ImportFailed as exc:
            lines = "\n".join(f"  {e}" for e in exc.errors)
            bad = f"{exc.total_errors} bad {exc.unit}{'' if exc.total_errors == 1 else 's'}"
            raise CommandError(f"Nothing was imported; {bad}:\n{lines}") from None
        count = dataset.items.count()
        self.stdout.write(f"Imported {count} items into dataset {dataset.pk} ({dataset.name}).")
        if getattr(dataset, "restored", None) or getattr(dataset, "imported", None):
            self.stdout.write(import_summary(dataset, path.name))
