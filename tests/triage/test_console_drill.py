"""The console's drill-down reads a figure's flag from the maintained CaseFigures rows
(selectors.figure_flag_q) and the queued cases live: the listed cases are exactly those of
`case_flag_q` on the case tables, whether the figures are current or changes are queued."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db.models import F

from intake.models import Feedback, Rating, ReviewRequest
from tests.triage.casework import at
from tests.triage.test_dashboard import OTHER, build_history
from triage.dashboard_figures import figures_refresh
from triage.models import Case, CaseFigures, CaseStatus, Deadline, Department, FiguresDirty
from triage.selectors import (
    AGE_BUCKETS,
    ALL,
    OPEN,
    RATED_KINDS,
    CappedPaginator,
    CaseFilters,
    _console_cases,
    case_flag_q,
    console_list,
    console_queue,
    console_status_counts,
    figure_flag_q,
)

pytestmark = pytest.mark.django_db

FLAGS = [
    "closed", "misrouted", "routed", "reopened", "review_requested", "duplicate", "original", "extended", "overdue",
    "unrouted",
    *(f"{p}_{k}" for k in RATED_KINDS for p in ("late", "ontime")), *(f"rating_{r}" for r in Rating.values),
    *(f"age_{code}" for code, _first, _last in AGE_BUCKETS),
]
CASE_ROW_FLAGS = {"closed", "misrouted", "routed", "reopened", "duplicate", "original", "overdue", "unrouted"}
# Before, during and after the clocks of the history ran (some judged against "now").
NOWS = [at(2026, 10, 13, 12), at(2026, 10, 16, 12), at(2026, 10, 21, 12), at(2026, 10, 31, 12)]


@pytest.fixture
def history(demo_org: None) -> dict[str, Any]:
    return build_history()


def _assert_listed_as_live(h: dict[str, Any]) -> None:
    leader, head = h["leader"], h["team"].head
    district = Department.objects.get(code="379901-gov")
    for now in NOWS:
        for flag in FLAGS:
            live = set(Case.objects.exclude(status=CaseStatus.RECEIVED).filter(case_flag_q(flag, now=now))
                       .values_list("pk", flat=True))
            for user, filters in ((leader, CaseFilters(status=ALL, flag=flag)),
                                  (leader, CaseFilters(status=ALL, flag=flag, department=district)),
                                  (head, CaseFilters(status=ALL, flag=flag))):
                listed = set(_console_cases(user=user, filters=filters, now=now).values_list("pk", flat=True))
                scope = set(_console_cases(user=user, filters=CaseFilters(status=ALL, department=filters.department),
                                           now=now).values_list("pk", flat=True))
                assert listed == live & scope, (flag, now, user.username)
                counts = console_status_counts(user=user, filters=filters, now=now)
                assert counts[ALL] == len(listed)


def _change_everything(h: dict[str, Any]) -> None:
    """The changes of test_dashboard_figures' arbitrary-changes test, and more clocks."""
    a, b, c, d = (Case.objects.get(pk=h[k].pk) for k in "abcd")
    Case.objects.filter(pk=a.pk).update(supervised=True, review_round=F("review_round") + 1, misroute_count=1)
    Case.objects.filter(pk=c.pk).update(department=Department.objects.get(code=OTHER), created_at=at(2026, 10, 20, 9),
                                        duplicate_of=a)
    Deadline.objects.filter(case=b, kind="handle").update(extensions=2)
    Deadline.objects.filter(case=d).update(cancelled_at=at(2026, 10, 15, 9))
    Deadline.objects.create(case=d, kind="handle", amount=1, unit="working_days", started_at=at(2026, 10, 16, 9),
                            due_at=at(2026, 10, 19, 9))
    Deadline.objects.create(case=d, kind="transfer", amount=1, unit="working_days", started_at=at(2026, 10, 16, 9),
                            due_at=at(2026, 10, 17, 9), paused_at=at(2026, 10, 18, 9))
    Feedback.objects.filter(report=b.report).update(rating=Rating.SATISFIED)
    Feedback.objects.filter(report=c.report).delete()
    ReviewRequest.objects.create(id=uuid.uuid4(), report=a.report, reason_ct=b"x")


def test_the_figures_flags_are_the_live_flags(history: dict) -> None:
    figures_refresh()
    assert not FiguresDirty.objects.exists() and CaseFigures.objects.count() == 4
    for now in NOWS:
        for flag in FLAGS:
            q = figure_flag_q(flag, now=now)
            if q is None:  # the case row holds it: listed from the case table
                assert flag in CASE_ROW_FLAGS or flag.startswith("age_"), flag
                continue
            live = set(Case.objects.exclude(status=CaseStatus.RECEIVED).filter(case_flag_q(flag, now=now))
                       .values_list("pk", flat=True))
            assert set(CaseFigures.objects.filter(q).values_list("case_id", flat=True)) == live, (flag, now)


def test_the_drill_down_is_exact_with_current_figures(history: dict) -> None:
    figures_refresh()
    assert not FiguresDirty.objects.exists()
    _assert_listed_as_live(history)
    _change_everything(history)
    figures_refresh()
    _assert_listed_as_live(history)


def test_the_drill_down_is_exact_while_changes_are_queued(history: dict) -> None:
    figures_refresh()
    _change_everything(history)  # queued, not refreshed: those cases' figures rows are stale
    assert FiguresDirty.objects.exists()
    stale = CaseFigures.objects.get(case_id=history["b"].pk)
    assert stale.rating == Rating.UNSATISFIED and stale.extensions == 0
    _assert_listed_as_live(history)


@pytest.mark.parametrize("cap", [10_000, 1])  # the list read by id; beyond the cap, the queue query
def test_the_listing_orders_and_counts_as_the_queue_does(history: dict, cap: int,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CappedPaginator, "cap", cap)
    h = history
    _change_everything(h)
    # Every order key in play: urgent, 督办, a due time, none.
    Case.objects.filter(pk=h["b"].pk).update(urgent=True)
    Case.objects.filter(pk__in=[h["c"].pk, h["d"].pk]).update(supervised=True)
    Case.objects.filter(pk=h["a"].pk).update(due_at=None)
    leader = h["leader"]
    for now in NOWS:
        for flag in FLAGS:
            for tab in (ALL, OPEN, CaseStatus.CLOSED):
                filters = CaseFilters(status=tab, flag=flag)
                cases, counts = console_list(user=leader, filters=filters, now=now)
                assert [c.pk for c in cases[0:len(cases)]] == [c.pk for c in console_queue(user=leader, filters=filters,
                                                                                           now=now)], (flag, tab)
                assert counts == console_status_counts(user=leader, filters=filters, now=now)
    # A short list reads the queued cases live; a long one refreshes the figures first.
    assert FiguresDirty.objects.exists() == (cap == 10_000)
