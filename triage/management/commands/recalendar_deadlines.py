"""Recompute running deadlines after the working-day calendar changed outside the admin:
typically after upgrading `chinesecalendar` to a release that knows next year's holidays
(until then, days of an uncovered year count Monday to Friday)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from triage.deadlines import deadlines_recalendar
from triage.management.arguments import plausible_day


class Command(BaseCommand):
    help = "Move running deadlines whose period contains a day in FROM..TO to the current working-day calendar."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--from", dest="first", type=plausible_day, required=True, help="first changed day, YYYY-MM-DD")
        parser.add_argument("--to", dest="last", type=plausible_day, help="last changed day (default: FROM)")

    def handle(self, *args: Any, **options: Any) -> None:
        first: date = options["first"]
        last: date = options["last"] or first
        if last < first:
            raise CommandError("--to is before --from")
        if (last - first).days > 3660:
            raise CommandError("the range is longer than ten years")
        moved = deadlines_recalendar([first, last])
        self.stdout.write(f"{moved} running deadlines moved ({first} – {last}, days {(last - first + timedelta(1)).days}).")
