"""`manage.py seed_demo`: realistic seeded history whose clocks, chains and ciphertexts hold."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db.models import F
from django.utils import timezone

from intake.models import Feedback, Rating, Report, ReporterIdentity
from intake.selectors import report_content
from intake.services import identity_reveal
from triage import demo_history
from triage.audit import audit_verify
from triage.deadlines import compute_due
from triage.models import Case, CaseStatus, Deadline
from triage.workdays import WorkCalendar

pytestmark = pytest.mark.django_db
N = 300


@pytest.fixture
def seeded(demo_org: None) -> demo_history.SeedResult:
    return demo_history.seed_history(cases=N, seed=5, batch_size=120)


def test_it_needs_the_demo_organisation(db: Any) -> None:
    with pytest.raises(CommandError, match="seed_org"):
        call_command("seed_demo", "--cases", "10")


def test_it_refuses_to_seed_twice_without_append(seeded: demo_history.SeedResult) -> None:
    with pytest.raises(demo_history.SeedError, match="--append"):
        demo_history.seed_history(cases=10)
    demo_history.seed_history(cases=10, append=True, seed=5)  # the same seed again: no id or receipt clash
    assert Case.objects.filter(model_version=demo_history.SEED_MARK).count() == N + 10


def test_counts_per_status_and_channel_are_plausible(seeded: demo_history.SeedResult) -> None:
    assert seeded.cases == N and Case.objects.count() == N and Report.objects.count() == N
    statuses = Counter(Case.objects.values_list("status", flat=True))
    assert sum(statuses.values()) == N
    finished = statuses[CaseStatus.CLOSED] + statuses[CaseStatus.RATED] + statuses[CaseStatus.ARCHIVED]
    assert finished > N * 0.6
    assert statuses[CaseStatus.NOT_ACCEPTED] > 0
    assert len(statuses) >= 6
    channels = Counter(Report.objects.values_list("channel", flat=True))
    assert set(channels) == {"web", "call", "letter", "visit"}
    assert channels["web"] > channels["letter"] > 0
    assert Case.objects.filter(department__isnull=False).count() > N * 0.9
    assert Case.objects.filter(supervised=True).count() >= 0


def test_deadlines_match_the_working_day_calendar(seeded: demo_history.SeedResult) -> None:
    calendar = WorkCalendar()
    rows = list(Deadline.objects.all())
    assert len(rows) > 2 * N
    for d in rows:
        assert d.due_at == compute_due(started_at=d.started_at, amount=d.amount + d.extended_amount, unit=d.unit,
                                       calendar=calendar), d
        assert d.met_at is None or d.met_at >= d.started_at
    now = timezone.now()
    overdue = [d for d in rows if (d.met_at or d.cancelled_at or now) > d.due_at]
    assert 0 < len(overdue) < len(rows) * 0.5
    # A case's due date is its earliest running clock.
    for case in Case.objects.exclude(status__in=[CaseStatus.CLOSED, CaseStatus.RATED, CaseStatus.ARCHIVED,
                                                 CaseStatus.NOT_ACCEPTED])[:50]:
        running = case.deadlines.filter(met_at__isnull=True, cancelled_at__isnull=True).order_by("due_at").first()
        assert case.due_at == (running.due_at if running else None)


def test_response_times_agree_with_timestamps(seeded: demo_history.SeedResult) -> None:
    acknowledged = Case.objects.filter(acknowledged_at__isnull=False)
    assert acknowledged.exists()
    assert not acknowledged.exclude(time_to_acknowledge=F("acknowledged_at") - F("created_at")).exists()
    closed = Case.objects.filter(closed_at__isnull=False)
    assert not closed.exclude(time_to_close=F("closed_at") - F("created_at")).exists()
    assert not closed.filter(closed_at__lt=F("created_at")).exists()
    assert not Case.objects.filter(triaged_at__lt=F("created_at")).exists()


def test_ratings_include_a_share_of_unsatisfied(seeded: demo_history.SeedResult) -> None:
    ratings = Counter(Feedback.objects.values_list("rating", flat=True))
    assert ratings[Rating.SATISFIED] > ratings[Rating.UNSATISFIED] > 0
    assert sum(ratings.values()) == Case.objects.filter(status__in=[CaseStatus.RATED]).count() + \
        Case.objects.filter(status=CaseStatus.ARCHIVED, report__feedback__isnull=False).count()


def test_the_event_chains_verify(seeded: demo_history.SeedResult) -> None:
    summary = audit_verify()
    assert summary.ok, summary.problems
    assert summary.cases == N and summary.events == seeded.events > 3 * N


def test_seeded_reports_decrypt_through_intake(seeded: demo_history.SeedResult, django_user_model: Any) -> None:
    keys = set()
    for report in Report.objects.all()[:20]:
        content = report_content(report)
        assert len(content.body) >= 30 and content.title
        keys.add(bytes(report.wrapped_key))
    assert len(keys) == 20  # a data key of its own per report
    identity = ReporterIdentity.objects.select_related("report").first()
    assert identity is not None
    head = django_user_model.objects.create_user("head-x", password="x-password-123")
    head.user_permissions.add(Permission.objects.get(codename="reveal_identity"))
    head = django_user_model.objects.get(pk=head.pk)
    revealed = identity_reveal(report=identity.report, user=head, reason="核实演示数据")
    assert revealed["name"].startswith("演示反映人")


def test_known_receipts_find_their_reports(seeded: demo_history.SeedResult) -> None:
    from intake.selectors import report_by_receipt

    assert len(seeded.receipts) == 3
    assert all(report_by_receipt(code) is not None for code in seeded.receipts)


def test_the_simulation_is_deterministic_for_a_seed(demo_org: None) -> None:
    org = demo_history.load_org()
    now = int(timezone.now().timestamp())
    table = demo_history.WorkdayTable((now - 400 * 86400) // 86400, now // 86400 + 400)
    a = demo_history.simulate(np.random.default_rng(3), org, table, n=200, start=now - 300 * 86400, now=now)
    b = demo_history.simulate(np.random.default_rng(3), org, table, n=200, start=now - 300 * 86400, now=now)
    assert (a.created == b.created).all() and (a.closed == b.closed).all() and (a.channel == b.channel).all()


def test_the_command_prints_rates(demo_org: None, capsys: Any) -> None:
    call_command("seed_demo", "--cases", "40", "--batch-size", "25")
    out = capsys.readouterr().out
    assert "cases=40" in out and "cases/s" in out


@pytest.mark.parametrize(
    "bad",
    [["--cases", "0"], ["--cases", "-1"], ["--cases", "5", "--batch-size", "0"], ["--cases", "5", "--months", "-3"],
     ["--cases", "5", "--seed", "-1"], ["--cases", "five"]],
)
def test_bad_numbers_stop_the_command_before_it_seeds(bad: list[str]) -> None:
    with pytest.raises(CommandError, match=r"must be at least 1|must not be negative|not a whole number"):
        call_command("seed_demo", *bad)
