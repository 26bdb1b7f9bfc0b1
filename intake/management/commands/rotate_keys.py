"""Re-wrap every data key under the newest key-encryption key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from intake import crypto
from intake.services import rotate_keys


class Command(BaseCommand):
    help = (
        "Re-wrap every report and identity data key under the first configured key. Runs in batches, "
        "each its own transaction, so it is safe while the site runs and resumes where it stopped."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            self.stderr.write("--batch-size must be at least 1")
            raise SystemExit(2)
        primary = crypto.keyring().primary_id
        progress = rotate_keys(batch_size=options["batch_size"])
        self.stdout.write(f"Re-wrapped {progress.rewrapped} data keys under key {primary}.")
