"""Enrolling an authenticator needs only the password, so it is allowed only inside a window:
opened when an account starts to need a code (created so, given such a role, made an
administrator) or loses its last authenticator, reopened by an administrator, closed by
enrolling. Each session enrols its own seed."""

from __future__ import annotations

import importlib
import re
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from intake import staff_auth
from intake.auth_views import ENROL_DEVICE_KEY
from intake.models import EnrolmentWindow
from tests.auth import otp_login, totp_code, totp_device

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clear_throttle")]
PASSWORD = "correct-horse-battery"


def _head(django_user_model: Any, username: str = "head1") -> Any:
    user = django_user_model.objects.create_user(username, password=PASSWORD)
    user.groups.add(Group.objects.get(name="department_head"))
    return django_user_model.objects.get(pk=user.pk)


def _signed_in(username: str) -> Client:
    client = Client()
    response = client.post("/staff/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith("/staff/otp/setup/")
    return client


def _secret(client: Client) -> str:
    page = client.get("/staff/otp/setup/")
    assert page.status_code == 200
    found = re.search(r'<code id="otp-secret">([A-Z2-7 ]+)</code>', page.content.decode())
    assert found is not None
    return found.group(1)


def _expire(user: Any) -> None:
    EnrolmentWindow.objects.filter(user=user).update(open_until=timezone.now() - timedelta(seconds=1))


def test_a_new_head_may_enrol_until_the_window_ends_and_enrolling_closes_it(
        demo_org: None, django_user_model: Any, settings: Any) -> None:
    before = timezone.now()
    head = _head(django_user_model)
    until = staff_auth.enrolment_open_until(head)
    assert until is not None
    assert timedelta(hours=settings.TOTP_ENROLMENT_HOURS) <= until - before < timedelta(hours=settings.TOTP_ENROLMENT_HOURS,
                                                                                        minutes=1)
    client = _signed_in("head1")
    page = client.get("/staff/otp/setup/").content.decode()
    assert "前完成绑定" in page and timezone.localtime(until).strftime("%Y-%m-%d %H:%M") in page
    device = TOTPDevice.objects.get(user=head)
    done = client.post("/staff/otp/setup/", {"token": totp_code(device), "next": "/staff/"})
    assert done.status_code == 302 and done["Location"] == "/staff/"
    assert not EnrolmentWindow.objects.filter(user=head).exists()
    assert staff_auth.has_authenticator(head)


def test_after_the_window_the_password_alone_enrols_nothing(demo_org: None, django_user_model: Any) -> None:
    head = _head(django_user_model)
    _expire(head)
    client = _signed_in("head1")
    for response in (client.get("/staff/otp/setup/"), client.post("/staff/otp/setup/", {"token": "123456"})):
        html = response.content.decode()
        assert response.status_code == 403 and "身份验证器登记期限已过" in html and "系统管理员" in html
        assert "otp-secret" not in html and "data:image/svg" not in html
    assert not TOTPDevice.objects.filter(user=head).exists()
    assert client.get("/staff/").status_code == 302  # still owes the second step
    # Staff who need no code never get a window.
    handler = django_user_model.objects.create_user("handler1", password=PASSWORD)
    handler.groups.add(Group.objects.get(name="handler"))
    assert not EnrolmentWindow.objects.filter(user=handler).exists()


def test_each_session_enrols_its_own_seed_and_the_first_confirmed_wins(demo_org: None, django_user_model: Any) -> None:
    head = _head(django_user_model)
    owner, other = _signed_in("head1"), _signed_in("head1")
    owners = _secret(owner)
    assert _secret(owner) == owners  # reloading the page keeps the seed being scanned
    assert _secret(other) != owners  # someone else with the password sees another seed
    assert TOTPDevice.objects.filter(user=head, confirmed=False).count() == 2
    device = TOTPDevice.objects.get(pk=owner.session[ENROL_DEVICE_KEY])
    assert owner.post("/staff/otp/setup/", {"token": totp_code(device)}).status_code == 302
    # The other session's seed is gone with its device; it can only take the code step now.
    assert list(TOTPDevice.objects.filter(user=head).values_list("pk", flat=True)) == [device.pk]
    assert other.get("/staff/otp/setup/")["Location"].startswith("/staff/otp/?")


def test_unconfirmed_devices_are_capped_per_user(demo_org: None, django_user_model: Any) -> None:
    head = _head(django_user_model)
    for _ in range(8):
        _secret(_signed_in("head1"))
    assert TOTPDevice.objects.filter(user=head, confirmed=False).count() == 5


def test_removing_the_last_authenticator_opens_a_window(demo_org: None, django_user_model: Any) -> None:
    head = _head(django_user_model)
    device = totp_device(head)
    staff_auth.enrolment_done(head)
    admin = otp_login(Client(), django_user_model.objects.create_superuser("root", password=PASSWORD))
    response = admin.post(f"/admin/intake/staffauthenticator/{device.pk}/delete/", {"post": "yes"}, follow=True)
    assert response.status_code == 200 and "绑定新的身份验证器" in response.content.decode()
    assert staff_auth.enrolment_open_until(head) is not None
    assert _secret(_signed_in("head1"))
    # The same through the list's bulk deletion.
    second = _head(django_user_model, "head2")
    staff_auth.enrolment_done(second)
    bulk = admin.post("/admin/intake/staffauthenticator/", {
        "action": "delete_selected", "_selected_action": [totp_device(second).pk], "post": "yes"})
    assert bulk.status_code == 302 and staff_auth.enrolment_open_until(second) is not None


def test_an_administrator_reopens_a_window_and_it_is_in_the_change_record(
        demo_org: None, django_user_model: Any) -> None:
    head = _head(django_user_model)
    _expire(head)
    handler = django_user_model.objects.create_user("handler1", password=PASSWORD)
    handler.groups.add(Group.objects.get(name="handler"))
    root = django_user_model.objects.create_superuser("root", password=PASSWORD)
    admin = otp_login(Client(), root)
    response = admin.post("/admin/auth/user/", {
        "action": "open_enrolment", "_selected_action": [head.pk, handler.pk]}, follow=True)
    page = response.content.decode()
    assert response.status_code == 200 and "已开放登记" in page and "handler1" in page
    assert staff_auth.enrolment_open_until(head) is not None
    assert not EnrolmentWindow.objects.filter(user=handler).exists()
    entry = LogEntry.objects.get(object_id=str(head.pk), action_flag=CHANGE)
    assert entry.user_id == root.pk and "开放身份验证器登记至" in entry.get_change_message()
    assert _secret(_signed_in("head1"))
    # The window list shows it; deleting a window closes it early.
    window = EnrolmentWindow.objects.get(user=head)
    assert "head1" in admin.get("/admin/intake/enrolmentwindow/").content.decode()
    assert admin.post(f"/admin/intake/enrolmentwindow/{head.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not EnrolmentWindow.objects.filter(pk=window.pk).exists()
    assert admin.get("/admin/intake/enrolmentwindow/add/").status_code == 403


def test_making_an_account_an_administrator_opens_a_window(demo_org: None, django_user_model: Any) -> None:
    clerk = django_user_model.objects.create_user("clerk1", password=PASSWORD)
    assert not EnrolmentWindow.objects.filter(user=clerk).exists()
    admin = otp_login(Client(), django_user_model.objects.create_superuser("root", password=PASSWORD))
    form = admin.get(f"/admin/auth/user/{clerk.pk}/change/")
    assert form.status_code == 200
    data = {"username": "clerk1", "is_active": "on", "is_staff": "on", "last_login_0": "", "last_login_1": "",
            "date_joined_0": "2026-11-25", "date_joined_1": "10:00:00",
            "staff_profile-TOTAL_FORMS": "0", "staff_profile-INITIAL_FORMS": "0",
            "staff_profile-MIN_NUM_FORMS": "0", "staff_profile-MAX_NUM_FORMS": "1"}
    response = admin.post(f"/admin/auth/user/{clerk.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert staff_auth.enrolment_open_until(clerk) is not None


def test_the_command_opens_a_window_or_says_why_not(demo_org: None, django_user_model: Any) -> None:
    head = _head(django_user_model)
    _expire(head)
    out = StringIO()
    call_command("open_enrolment", "head1", "--hours", "4", stdout=out)
    until = staff_auth.enrolment_open_until(head)
    assert until is not None and timedelta(hours=3, minutes=59) < until - timezone.now() <= timedelta(hours=4)
    assert "head1 may enrol an authenticator until" in out.getvalue()
    handler = django_user_model.objects.create_user("handler1", password=PASSWORD)
    handler.groups.add(Group.objects.get(name="handler"))
    enrolled = _head(django_user_model, "head2")
    totp_device(enrolled)
    for args, reason in ((["nobody"], "no user named"), (["handler1"], "without a TOTP code"),
                         (["head2"], "has an authenticator"), (["head1", "--hours", "0"], "between 1 and 720")):
        with pytest.raises(CommandError, match=reason):
            call_command("open_enrolment", *args)


def test_the_upgrade_opens_windows_for_accounts_without_an_authenticator(
        demo_org: None, django_user_model: Any) -> None:
    waiting, enrolled = _head(django_user_model), _head(django_user_model, "head2")
    totp_device(enrolled)
    EnrolmentWindow.objects.all().delete()
    migration = importlib.import_module("intake.migrations.0007_enrolment_window")
    migration.open_for_accounts_without_authenticator(apps, connection.schema_editor())
    assert staff_auth.enrolment_open_until(waiting) is not None
    assert not EnrolmentWindow.objects.filter(user=enrolled).exists()
