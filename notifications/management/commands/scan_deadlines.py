"""Run the deadline scan by hand: the same code path as the periodic task."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from notifications.services import deadline_scan


class Command(BaseCommand):
    help = "Scan running deadlines: 临期/超期 notices, the escalation ladder, lost sends."

    def handle(self, *args: Any, **options: Any) -> None:
        result = deadline_scan()
        self.stdout.write(
            f"due soon: {result.due_soon}  overdue: {result.overdue}  escalated: {result.escalated_1} to heads, "
            f"{result.escalated_2} up a level (督办)  sends queued: {result.queued}  re-queued: {result.requeued}  "
            f"({result.seconds:.2f} s)"
        )
