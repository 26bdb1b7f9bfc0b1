"""Drop the artifacts of old classifier versions (their rows and metrics stay)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from triage.training import TrainingError, prune_models


class Command(BaseCommand):
    help = "Keep the artifacts of the N newest classifier versions and the active one; prune the rest."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--keep", type=int, default=None,
                            help="versions whose artifacts are kept, newest first (default: QINGFENG_CLASSIFIER_VERSIONS_KEPT)")

    def handle(self, *args: Any, **options: Any) -> None:
        keep = options["keep"] if options["keep"] is not None else settings.CLASSIFIER_VERSIONS_KEPT
        if options["keep"] is None and keep == 0:
            raise CommandError("QINGFENG_CLASSIFIER_VERSIONS_KEPT is 0 (every version is kept): give --keep N to prune")
        try:
            pruned = prune_models(keep=keep)
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        if pruned:
            self.stdout.write(f"Pruned {len(pruned)} version(s): {', '.join(pruned)}.")
        else:
            self.stdout.write("Nothing to prune.")
