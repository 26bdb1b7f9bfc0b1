"""Evaluate the active classifier on a labelled CSV: a per-class table, then one JSON line."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from triage.decide import active_model
from triage.training import TrainingError, evaluate, read_csv


class Command(BaseCommand):
    help = "Per-class precision/recall/F1 of the active classifier; the last line is JSON with macro_f1, accuracy, n, per_second."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path")
        parser.add_argument("--text-column", required=True)
        parser.add_argument("--label-column", required=True)
        parser.add_argument("--title-column", default=None)
        parser.add_argument("--where", action="append", default=[], metavar="COL=VALUE")

    def handle(self, *args: Any, **options: Any) -> None:
        where = {}
        for item in options["where"]:
            column, sep, value = item.partition("=")
            if not sep or not column:
                raise CommandError(f"--where needs COL=VALUE, got {item!r}")
            where[column] = value
        model = active_model()
        if model is None:
            raise CommandError("no active classifier: run `manage.py train_classifier` first")
        version, classifier = model
        try:
            examples = read_csv(options["path"], text_column=options["text_column"], label_column=options["label_column"],
                                title_column=options["title_column"], where=where)
            metrics = evaluate(classifier, examples)
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        per_class: dict[str, dict[str, float]] = metrics.pop("per_class")  # type: ignore[assignment]
        self.stdout.write(f"model {version}")
        self.stdout.write(f"{'label':<16}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
        for label, row in per_class.items():
            self.stdout.write(f"{label:<16}{row['precision']:>10.4f}{row['recall']:>10.4f}{row['f1']:>10.4f}{row['support']:>10}")
        self.stdout.write(json.dumps({**metrics, "model": version}, ensure_ascii=False))
