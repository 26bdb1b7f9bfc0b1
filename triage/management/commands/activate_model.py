"""Activate (or roll back to) a stored classifier version."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from triage.training import TrainingError, activate


class Command(BaseCommand):
    help = "Make VERSION the active classifier (roll back or forward)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("version")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            model = activate(options["version"])
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Active classifier: {model.version} (macro_f1 {model.metrics.get('macro_f1')}).")
