"""The in-app notification centre, its unread count in the staff menu, and settings."""

from __future__ import annotations

from typing import Any

import pytest

from notifications.models import Notification, NotificationPreference
from tests.notifications.helpers import Office, routed_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def office(demo_org: None) -> Office:
    return Office()


def test_it_requires_login(client: Any) -> None:
    assert client.get("/staff/notifications/").status_code == 302


def test_it_lists_my_notices_and_shows_the_unread_count(client: Any, office: Office) -> None:
    case = routed_case()
    client.force_login(office.team.handler)
    page = client.get("/staff/notifications/").content.decode()
    assert case.number in page and "新案件交办" in page
    assert '<span class="badge" title="未读">1</span>' in page
    # The case is a link on this site (through the notice, which it marks read); the
    # e-mail's absolute address and <pre> text are not shown.
    notice = Notification.objects.get(recipient=office.team.handler)
    assert f'<a href="/staff/notifications/{notice.pk}/open/">查看案件</a>' in page
    assert "http://" not in page and "<pre>" not in page


def test_following_a_notice_to_its_case_marks_it_read(client: Any, office: Office) -> None:
    case = routed_case()
    notice = Notification.objects.get(recipient=office.team.handler)
    client.force_login(office.team.drafter)  # someone else's notice: as if it did not exist
    assert client.get(f"/staff/notifications/{notice.pk}/open/").status_code == 404
    client.force_login(office.team.handler)
    response = client.get(f"/staff/notifications/{notice.pk}/open/")
    assert response.status_code == 302 and response["Location"] == f"/staff/cases/{case.pk}/"
    assert Notification.objects.get(pk=notice.pk).read_at is not None
    assert Notification.objects.get(recipient=office.team.drafter).read_at is None


def test_it_does_not_show_other_peoples_notices(client: Any, office: Office) -> None:
    from tests.triage.casework import staff

    case = routed_case()
    client.force_login(staff("rs-handler", "handler", "379901-rs"))
    assert case.number not in client.get("/staff/notifications/").content.decode()


def test_it_marks_read(client: Any, office: Office) -> None:
    routed_case()
    client.force_login(office.team.handler)
    assert client.post("/staff/notifications/read/").status_code == 302
    assert not Notification.objects.filter(recipient=office.team.handler, in_app=True, read_at__isnull=True).exists()
    assert 'title="未读"' not in client.get("/staff/notifications/").content.decode()


def test_it_rejects_get_on_mark_read(client: Any, office: Office) -> None:
    client.force_login(office.team.handler)
    assert client.get("/staff/notifications/read/").status_code == 405


def test_it_saves_channels_and_quiet_hours(client: Any, office: Office) -> None:
    client.force_login(office.team.handler)
    response = client.post("/staff/notifications/settings/", {"in_app": "on", "quiet_start": "22:00", "quiet_end": "07:30"})
    assert response.status_code == 302
    pref = NotificationPreference.objects.get(user=office.team.handler)
    assert not pref.email and pref.quiet_start is not None and pref.quiet_end is not None
    assert (pref.quiet_start.hour, pref.quiet_end.minute) == (22, 30)


def test_it_wants_both_ends_of_the_quiet_hours(client: Any, office: Office) -> None:
    client.force_login(office.team.handler)
    response = client.post("/staff/notifications/settings/", {"email": "on", "quiet_start": "22:00"})
    assert response.status_code == 400 and "请同时填写免打扰的开始和结束时间" in response.content.decode()
    # A time that is not one says so, without also asking for both ends.
    wrong = client.post("/staff/notifications/settings/", {"email": "on", "quiet_start": "25:00", "quiet_end": "07:00"})
    assert wrong.status_code == 400 and "请同时填写" not in wrong.content.decode()
