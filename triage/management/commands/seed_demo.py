"""Seed realistic demo history: `manage.py seed_demo --cases N` (after `seed_org`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from triage.dashboard_figures import figures_rebuild
from triage.demo_history import SeedError, iter_status_labels, seed_history
from triage.management.arguments import non_negative_int, positive_int

BULK_TABLES = ("intake_report", "triage_case", "triage_deadline", "triage_caseevent", "intake_feedback",
               "triage_casefigures", "triage_figuresday")


class Command(BaseCommand):
    help = ("Create N seeded cases with encrypted reports, working-day clocks, hash-chained events and ratings "
            "(PostgreSQL: COPY; SQLite: bulk_create). Needs `seed_org` first.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--cases", type=positive_int, required=True)
        parser.add_argument("--months", type=positive_int, default=12, help="spread over the last N months (default 12)")
        parser.add_argument("--seed", type=non_negative_int, default=2026)
        parser.add_argument("--batch-size", type=positive_int, default=20000)
        parser.add_argument("--no-events", action="store_true", help="skip CaseEvent rows (faster; no audit chains)")
        parser.add_argument("--append", action="store_true", help="add to existing seeded data")
        parser.add_argument("--texts", type=Path, default=None, help="labelled CSV (text,label) to draw texts from")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()

        def progress(done: int, total: int) -> None:
            elapsed = time.monotonic() - started
            self.stdout.write(f"  {done:>9,}/{total:,} cases  {elapsed:7.1f} s  {done / max(elapsed, 1e-9):8.0f} cases/s")

        try:
            result = seed_history(cases=options["cases"], months=options["months"], seed=options["seed"],
                                  batch_size=options["batch_size"], with_events=not options["no_events"],
                                  texts_path=options["texts"], append=options["append"], progress=progress)
        except SeedError as exc:
            raise CommandError(str(exc)) from None
        elapsed = time.monotonic() - started
        figures_started = time.monotonic()
        figures = figures_rebuild()  # the dashboards' per-case figures, in one pass
        self.stdout.write(f"dashboard figures of {figures:,} cases rebuilt in {time.monotonic() - figures_started:.1f} s")
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            # After a bulk load, as a DBA would: set the visibility map and hint bits now
            # rather than on the first reads (and without waiting for autovacuum, which
            # may be off or far behind), so index-only scans stay index-only.
            vacuum_started = time.monotonic()
            with connection.cursor() as cursor:
                for table in BULK_TABLES:
                    cursor.execute(f"VACUUM (ANALYZE) {table}")
            self.stdout.write(f"vacuumed {len(BULK_TABLES)} tables in {time.monotonic() - vacuum_started:.1f} s")
        rows = (result.cases + result.reports + result.identities + result.deadlines + result.events
                + result.feedback)
        self.stdout.write(
            f"cases={result.cases} reports={result.reports} identities={result.identities} deadlines={result.deadlines} "
            f"events={result.events} feedback={result.feedback}"
        )
        self.stdout.write("  ".join(f"{label} {count}" for label, count in iter_status_labels(result.statuses)))
        if result.receipts:
            self.stdout.write("demo receipts (status page): " + ", ".join(result.receipts))
        self.stdout.write(self.style.SUCCESS(
            f"Seeded {result.cases:,} cases ({rows:,} rows) in {elapsed:.1f} s: "
            f"{result.cases / elapsed:,.0f} cases/s, {rows / elapsed:,.0f} rows/s."
        ))
