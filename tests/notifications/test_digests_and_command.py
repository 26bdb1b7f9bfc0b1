"""Leadership digests (counts per department) and `manage.py scan_deadlines`."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from intake.models import Rating
from intake.services import feedback_give
from notifications import render
from notifications.models import Channel, Kind, Notification
from notifications.services import digests_send
from tests.notifications.helpers import Office, clock, routed_case
from tests.triage.casework import at, bring_to

pytestmark = pytest.mark.django_db


def test_the_daily_digest_counts_new_closed_and_unsatisfied_per_department(demo_org: None) -> None:
    office = Office()
    with clock(at(2026, 11, 2, 10)):
        closed = bring_to(routed_case(), "closed", office.team)
        routed_case()
        feedback_give(report=closed.report, rating=Rating.UNSATISFIED)
    with clock(at(2026, 11, 3, 8)):
        digests_send(period="daily")
        digests_send(period="daily")  # beat twice: one digest
    digest = Notification.objects.get(kind=Kind.DIGEST_DAILY)
    assert digest.recipient == office.leader
    assert digest.data["rows"] == {str(closed.department_id): [2, 1, 0, 0, 1]}
    assert "东城区住房和城乡建设局" in render.render(digest).body
    assert (digest.in_app, digest.channel) == (True, Channel.EMAIL)  # one row: in the centre and e-mailed


def test_the_command_runs_the_scan(demo_org: None) -> None:
    Office()
    with clock(at(2026, 9, 28, 10)):
        routed_case()
    out = StringIO()
    with clock(at(2026, 10, 24, 9)):
        call_command("scan_deadlines", stdout=out)
    assert "overdue: 3" in out.getvalue() and "escalated: 1 to heads" in out.getvalue()
