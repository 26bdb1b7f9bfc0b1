"""Verify every case's event hash chain; exit non-zero naming the first bad event."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from triage.audit import audit_verify
from triage.management.arguments import positive_int


class Command(BaseCommand):
    help = "Check the CaseEvent hash chains (streams; one consistent snapshot). Exit 1 on the first problem."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--chunk-size", type=positive_int, default=2000)

    def handle(self, *args: Any, **options: Any) -> None:
        summary = audit_verify(chunk_size=options["chunk_size"])
        line = f"cases={summary.cases} events={summary.events} heads_sha256={summary.heads_digest}"
        if summary.ok:
            self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {line}"))
            return
        for problem in summary.problems[1:]:
            self.stderr.write(f"also: {problem}")
        raise CommandError(
            f"Audit chain broken in {summary.broken_cases} case(s) ({line}). First: {summary.problems[0]}", returncode=1
        )
