"""Maintain the dashboards' per-case figures: `--refresh` the queued changes (what the beat
runs) or rebuild every row (`--rebuild`, after a restore or to check them)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from triage.dashboard_figures import figures_rebuild, figures_refresh


class Command(BaseCommand):
    help = "Refresh (default) or rebuild the dashboards' per-case figures."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rebuild", action="store_true", help="recompute every case's figures")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        if options["rebuild"]:
            n = figures_rebuild()
            self.stdout.write(f"rebuilt the figures of {n} cases in {time.monotonic() - started:.1f} s")
        else:
            n = figures_refresh()
            self.stdout.write(f"refreshed {n} queued changes in {time.monotonic() - started:.1f} s")
