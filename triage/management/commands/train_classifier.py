"""Train a new classifier version; activate it only if it is not worse than the active one."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from triage.training import TrainingError, train_and_register


class Command(BaseCommand):
    help = "Train on the labelled CSV's train split plus all human corrections; keep the model with its metrics."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--csv", default=settings.TRAINING_CSV, help="labelled CSV with text, label and split columns")
        parser.add_argument("--limit", type=int, default=None, help="train on the first N rows only (for quick checks)")
        parser.add_argument("--if-none", action="store_true", help="do nothing when a model is already active")

    def handle(self, *args: Any, **options: Any) -> None:
        from triage.models import ClassifierModel

        if options["if_none"] and ClassifierModel.objects.filter(is_active=True).exists():
            self.stdout.write("A classifier is already active; nothing to do.")
            return
        try:
            result = train_and_register(csv_path=options["csv"], limit=options["limit"])
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        model = result.model
        state = "activated" if result.activated else f"kept inactive (active model has macro_f1 {result.previous_macro_f1})"
        self.stdout.write(
            f"Model {model.version}: {model.n_train} training rows + {model.n_corrections} corrections, "
            f"{model.training_seconds}s; {state}."
        )
        if result.pruned:
            self.stdout.write(f"Pruned the artifacts of {len(result.pruned)} older version(s): {', '.join(result.pruned)}.")
        summary = {k: v for k, v in model.metrics.items() if k != "per_class"}
        self.stdout.write(json.dumps({"version": model.version, "activated": result.activated, **summary}))
