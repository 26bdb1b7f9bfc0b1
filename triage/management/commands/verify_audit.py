"""Verify every case's event hash chain and the admin change record's chain; exit non-zero
naming the first bad event or entry."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from triage.audit import audit_verify, config_verify
from triage.management.arguments import positive_int


class Command(BaseCommand):
    help = ("Check the CaseEvent hash chains (streams; one consistent snapshot) and the chain over the admin's "
            "change record. Exit 1 on the first problem.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--chunk-size", type=positive_int, default=2000)

    def handle(self, *args: Any, **options: Any) -> None:
        summary = audit_verify(chunk_size=options["chunk_size"])
        changes, config_broken, config_problems = config_verify()
        line = (f"cases={summary.cases} events={summary.events} config_changes={changes} "
                f"heads_sha256={summary.heads_digest}")
        if summary.ok and not config_broken:
            self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {line}"))
            return
        problems = [str(problem) for problem in summary.problems] + config_problems
        for problem in problems[1:]:
            self.stderr.write(f"also: {problem}")
        raise CommandError(
            f"Audit chain broken in {summary.broken_cases} case(s) and {config_broken} change-record link(s) "
            f"({line}). First: {problems[0]}", returncode=1
        )
