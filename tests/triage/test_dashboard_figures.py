"""The dashboards' maintained per-case figures (triage.dashboard_figures): every figure read
from them equals the same figure aggregated directly from the case tables, after arbitrary
changes to cases, clocks, ratings and review requests; the refresh is idempotent and a
rebuild gives the same rows; the triggers queue every changed case."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db.models import F
from django.test import Client

from intake.models import Channel, Feedback, MatterType, Rating, ReviewRequest
from tests.triage.casework import at, frozen
from tests.triage.test_dashboard import NOW, OTHER, PERIOD, build_history
from triage import dashboard as D
from triage.dashboard_figures import figures_rebuild, figures_refresh
from triage.models import Case, CaseFigures, Category, Deadline, Department, FiguresDay, FiguresDirty

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(demo_org: None) -> dict[str, Any]:
    return build_history()


def _both(user: User, filters: D.DashboardFilters = PERIOD) -> tuple[dict[str, Any], dict[str, Any]]:
    with frozen(NOW):
        figures = D.dashboard(user=user, filters=filters, now=NOW, source="figures")
        live = D.dashboard(user=user, filters=filters, now=NOW, source="live")
    assert figures.pop("as_of") is not None and live.pop("as_of") is None
    return figures, live


def _filters(**kw: Any) -> D.DashboardFilters:
    return D.DashboardFilters(start=PERIOD.start, end=PERIOD.end, **kw)


def _assert_equal_everywhere(h: dict[str, Any]) -> None:
    leader, head = h["leader"], h["team"].head
    own_district = Department.objects.get(code="379901-gov")
    variants = [
        (leader, PERIOD), (leader, _filters(channel=Channel.CALL)), (leader, _filters(department=own_district)),
        (leader, _filters(department=Department.objects.get(code=OTHER))),
        (leader, _filters(matter_type=MatterType.COMPLAINT)),
        (leader, _filters(category=Category.objects.order_by("pk").values_list("pk", flat=True).first())),
        (leader, D.DashboardFilters(start=date(2026, 10, 12), end=date(2026, 10, 14))),
        (head, _filters(department=head.staff_profile.department)),
    ]
    for user, filters in variants:
        figures, live = _both(user, filters)
        for key in live:
            assert figures[key] == live[key], (key, filters)


def test_figures_equal_the_live_aggregates(history: dict) -> None:
    figures, _live = _both(history["leader"])
    assert figures["counts"]["received"].value == 4  # the hand-computed history, read from the figures
    _assert_equal_everywhere(history)


def test_figures_follow_arbitrary_changes(history: dict) -> None:
    h = history
    a, b, c, d = (Case.objects.get(pk=h[k].pk) for k in "abcd")
    # Bulk updates (no model save, no signal): supervise, reopen, move to another district.
    Case.objects.filter(pk=a.pk).update(supervised=True, review_round=F("review_round") + 1)
    Case.objects.filter(pk=c.pk).update(department=Department.objects.get(code=OTHER), created_at=at(2026, 10, 20, 9))
    # Clocks: an extension on B's handling clock, D's clocks cancelled, one running clock made late now.
    Deadline.objects.filter(case=b, kind="handle").update(extensions=2)
    Deadline.objects.filter(case=d).update(cancelled_at=at(2026, 10, 15, 9))
    Deadline.objects.create(case=d, kind="handle", amount=1, unit="working_days", started_at=at(2026, 10, 16, 9),
                            due_at=at(2026, 10, 19, 9))
    # Ratings and review requests, written as intake writes them (intake knows nothing of triage).
    Feedback.objects.filter(report=b.report).update(rating=Rating.SATISFIED)
    Feedback.objects.filter(report=c.report).delete()
    ReviewRequest.objects.create(id=uuid.uuid4(), report=a.report, reason_ct=b"x")
    _assert_equal_everywhere(h)
    figures, _live = _both(h["leader"])
    assert figures["counts"]["supervised"].value == 1 and figures["counts"]["review_requested"].value == 1
    assert figures["extensions"]["extensions"].value == 2
    maintained = _days()  # moved by differences, change after change
    figures_rebuild()
    assert _days() == maintained


def test_a_change_queues_the_case_and_the_page_refreshes_it(history: dict) -> None:
    figures_refresh()
    assert not FiguresDirty.objects.exists()
    b = history["b"]
    Feedback.objects.filter(report=b.report).update(rating=Rating.SATISFIED)  # a table intake owns
    assert set(FiguresDirty.objects.values_list("case_id", flat=True)) == {b.pk}
    assert CaseFigures.objects.get(case_id=b.pk).rating == Rating.UNSATISFIED  # not yet refreshed
    figures, _live = _both(history["leader"])  # the page refreshes the queue first
    assert [r["count"].value for r in figures["satisfaction"]["rows"]] == [2, 1, 0]
    assert not FiguresDirty.objects.exists()


def _rows() -> list[dict[str, Any]]:
    return [dict(row) for row in CaseFigures.objects.order_by("case_id").values()]


def _days() -> list[tuple[Any, ...]]:
    """FiguresDay without its ids (incremental moves and a rebuild number rows differently)."""
    fields = [f.name for f in FiguresDay._meta.fields if f.name != "id"]
    return sorted(FiguresDay.objects.values_list(*fields), key=repr)


def test_refresh_is_idempotent_and_equals_a_rebuild(history: dict) -> None:
    figures_refresh()
    before, days = _rows(), _days()
    assert len(before) == 4 and days
    FiguresDirty.objects.bulk_create([FiguresDirty(case_id=pk) for pk in [*Case.objects.values_list("pk", flat=True)] * 2])
    assert figures_refresh() == 8
    assert (_rows(), _days()) == (before, days)
    assert figures_refresh() == 0
    assert figures_rebuild() == 4
    assert (_rows(), _days()) == (before, days)


def test_a_case_back_to_registered_leaves_the_figures(history: dict) -> None:
    figures_refresh()
    d = history["d"]
    Case.objects.filter(pk=d.pk).update(status="received")  # back to registered-only: not counted
    figures_refresh()
    assert not CaseFigures.objects.filter(case_id=d.pk).exists()


def test_the_page_says_how_current_the_figures_are(history: dict) -> None:
    client = Client()
    client.force_login(history["leader"])
    with frozen(NOW):
        html = client.get("/staff/dashboard/?start=2026-09-28&end=2026-10-31").content.decode()
    assert "数据截至" in html


def test_a_head_outside_the_filter_reads_live(history: dict) -> None:
    head = history["team"].head
    other = D.DashboardFilters(start=PERIOD.start, end=PERIOD.end, department=Department.objects.get(code=OTHER))
    assert D.figures_apply(user=head, filters=_filters(department=head.staff_profile.department))
    assert not D.figures_apply(user=head, filters=other)
    assert not D.figures_apply(user=head, filters=PERIOD)


def test_cached_percentiles_follow_a_change(history: dict) -> None:
    before, _live = _both(history["leader"])
    again, _live = _both(history["leader"])  # the same version: from the cache
    assert again["times"] == before["times"]
    Case.objects.filter(pk=history["a"].pk).update(acknowledged_at=at(2026, 10, 12, 10))
    figures, live = _both(history["leader"])
    assert figures["times"] == live["times"] != before["times"]
