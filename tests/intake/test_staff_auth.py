"""Staff sign-in: password policy, TOTP for the roles that can reveal identities (and
administrators), enrolment, wrong codes, lockout, session expiry, and citizen pages left
without any session."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from intake import staff_auth
from tests.auth import otp_login, totp_code, totp_device
from triage.models import Department, StaffProfile

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clear_throttle")]
PASSWORD = "correct-horse-battery"


def _staff(django_user_model: Any, username: str, role: str | None, code: str = "379901-zj", **extra: Any) -> Any:
    user = django_user_model.objects.create_user(username, password=PASSWORD, **extra)
    if role:
        user.groups.add(Group.objects.get(name=role))
    StaffProfile.objects.create(user=user, department=Department.objects.get(code=code))
    return django_user_model.objects.get(pk=user.pk)


def _login(client: Client, username: str, password: str = PASSWORD, next_url: str = "") -> Any:
    data = {"username": username, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post("/staff/login/", data)


# --- who needs a code ----------------------------------------------------------------------


@pytest.mark.parametrize(("role", "needs"), [
    ("intake_clerk", False), ("hotline_operator", False), ("triage_officer", False), ("handler", False),
    ("department_head", True), ("leadership", False), ("auditor", False),
])
def test_otp_is_required_exactly_for_roles_that_can_reveal_identities(
        demo_org: None, django_user_model: Any, role: str, needs: bool) -> None:
    user = _staff(django_user_model, f"u-{role}", role)
    assert staff_auth.otp_required(user) is needs
    assert user.has_perm("intake.reveal_identity") is needs


def test_superusers_and_admin_site_users_need_otp(demo_org: None, django_user_model: Any) -> None:
    assert staff_auth.otp_required(django_user_model.objects.create_superuser("root", password=PASSWORD))
    assert staff_auth.otp_required(_staff(django_user_model, "staffer", None, is_staff=True))


# --- password only ---------------------------------------------------------------------------


def test_a_handler_logs_in_with_password_only(client: Client, demo_org: None, django_user_model: Any) -> None:
    _staff(django_user_model, "h1", "handler")
    response = _login(client, "h1")
    assert response.status_code == 302 and response["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200
    assert not TOTPDevice.objects.exists()


def test_a_wrong_password_is_refused_in_chinese(client: Client, demo_org: None, django_user_model: Any) -> None:
    _staff(django_user_model, "h1", "handler")
    response = _login(client, "h1", "wrong-password-000")
    assert response.status_code == 200
    assert "用户名或密码不正确" in response.content.decode()
    assert client.get("/staff/").status_code == 302


# --- enrolment and the TOTP step --------------------------------------------------------------


def test_a_head_enrols_an_authenticator_at_first_login(client: Client, demo_org: None, django_user_model: Any) -> None:
    head = _staff(django_user_model, "head1", "department_head")
    response = _login(client, "head1", next_url="/staff/triage/")
    assert response.status_code == 302 and response["Location"].startswith("/staff/otp/setup/")
    # Not verified yet: every staff page leads back to the second step.
    blocked = client.get("/staff/")
    assert blocked.status_code == 302 and blocked["Location"].startswith("/staff/otp/")

    page = client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200 and "绑定身份验证器" in html
    assert 'src="data:image/svg+xml;base64,' in html  # QR drawn locally, nothing remote
    secret = re.search(r'<code id="otp-secret">([A-Z2-7 ]+)</code>', html)
    assert secret is not None
    device = TOTPDevice.objects.get(user=head)
    assert not device.confirmed

    wrong = client.post("/staff/otp/setup/", {"token": "000000", "next": "/staff/triage/"})
    assert wrong.status_code == 200 and "验证码不正确" in wrong.content.decode()
    done = client.post("/staff/otp/setup/", {"token": totp_code(device), "next": "/staff/triage/"})
    assert done.status_code == 302 and done["Location"] == "/staff/triage/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/staff/").status_code == 200


def test_an_enrolled_head_passes_the_totp_step_on_every_login(
        client: Client, demo_org: None, django_user_model: Any) -> None:
    head = _staff(django_user_model, "head1", "department_head")
    device = totp_device(head)
    response = _login(client, "head1")
    assert response.status_code == 302 and response["Location"].startswith("/staff/otp/?")
    # Enrolment cannot be redone by someone holding only the password.
    assert client.get("/staff/otp/setup/")["Location"].startswith("/staff/otp/?")
    assert client.post("/staff/otp/", {"token": "123456"}).status_code == 200
    assert client.get("/staff/").status_code == 302
    ok = client.post("/staff/otp/", {"token": totp_code(device)})
    assert ok.status_code == 302 and ok["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200

    client.post("/staff/logout/")
    _login(client, "head1")
    assert client.get("/staff/").status_code == 302  # a new session needs a new code


def test_before_the_code_the_page_offers_only_signing_out(
        client: Client, demo_org: None, django_user_model: Any) -> None:
    """A head who has given only the password sees no staff navigation, unread count or
    calendar notice: the links would only bounce back to the code step."""
    head = _staff(django_user_model, "head1", "department_head")
    device = totp_device(head)
    _login(client, "head1")
    step = client.get("/staff/otp/").content.decode()
    assert "/staff/logout/" in step
    assert 'href="/staff/"' not in step and "/staff/notifications/" not in step
    client.post("/staff/otp/", {"token": totp_code(device)})
    assert 'href="/staff/notifications/"' in client.get("/staff/").content.decode()


def test_a_used_code_cannot_be_replayed(client: Client, demo_org: None, django_user_model: Any) -> None:
    head = _staff(django_user_model, "head1", "department_head")
    device = totp_device(head)
    code = totp_code(device)
    _login(client, "head1")
    assert client.post("/staff/otp/", {"token": code}).status_code == 302
    other = Client()
    _login(other, "head1")
    assert other.post("/staff/otp/", {"token": code}).status_code == 200
    assert other.get("/staff/").status_code == 302


def test_the_admin_site_requires_the_staff_login_and_a_code(client: Client, demo_org: None,
                                                            django_user_model: Any) -> None:
    admin = django_user_model.objects.create_superuser("root", password=PASSWORD)
    assert client.get("/admin/login/?next=/admin/")["Location"] == "/staff/login/?next=/admin/"
    _login(client, "root", next_url="/admin/")
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/staff/otp/")
    device = totp_device(admin)
    client.post("/staff/otp/", {"token": totp_code(device)})
    assert client.get("/admin/").status_code == 200


def test_the_staff_api_refuses_an_unverified_session(client: Client, demo_org: None, django_user_model: Any) -> None:
    _staff(django_user_model, "head1", "department_head")
    _login(client, "head1")
    assert client.post("/api/v1/staff/reports/", {}, content_type="application/json").status_code == 403


def test_the_otp_login_helper_signs_in_past_the_code(client: Client, demo_org: None, django_user_model: Any) -> None:
    otp_login(client, _staff(django_user_model, "head1", "department_head"))
    assert client.get("/staff/").status_code == 200


# --- throttling -------------------------------------------------------------------------------


def test_five_wrong_passwords_lock_the_username_for_fifteen_minutes(
        client: Client, demo_org: None, django_user_model: Any, settings: Any) -> None:
    _staff(django_user_model, "h1", "handler")
    for _ in range(4):
        assert "用户名或密码不正确" in _login(client, "h1", "wrong-password-000").content.decode()
    locked = _login(client, "h1", "wrong-password-000").content.decode()
    assert "请15分钟后再试" in locked
    # Even the right password is refused while locked, and from another client too.
    assert "请15分钟后再试" in _login(Client(), "h1").content.decode()
    assert Client().get("/staff/").status_code == 302
    assert settings.LOGIN_LOCKOUT_SECONDS == 15 * 60
    # Another username is not affected.
    _staff(django_user_model, "h2", "handler")
    assert _login(Client(), "h2").status_code == 302


def test_the_lock_is_keyed_by_a_hash_of_the_username_only(demo_org: None) -> None:
    from django.core.cache import cache

    staff_auth.login_failed("Someone")
    key = staff_auth._throttle_key("someone")
    assert cache.get(key) == 1 and "someone" not in key.lower().replace("login-fail:", "")


def test_a_successful_login_resets_the_count(client: Client, demo_org: None, django_user_model: Any) -> None:
    _staff(django_user_model, "h1", "handler")
    for _ in range(4):
        _login(client, "h1", "wrong-password-000")
    assert _login(client, "h1").status_code == 302
    client.post("/staff/logout/")
    for _ in range(4):
        _login(client, "h1", "wrong-password-000")
    assert _login(client, "h1").status_code == 302


def test_wrong_codes_count_towards_the_lock(client: Client, demo_org: None, django_user_model: Any) -> None:
    head = _staff(django_user_model, "head1", "department_head")
    device = totp_device(head)
    _login(client, "head1")
    for _ in range(4):
        assert client.post("/staff/otp/", {"token": "000000"}).status_code == 200
    locked = client.post("/staff/otp/", {"token": "000000"})
    assert locked.status_code == 403 and "请15分钟后再试" in locked.content.decode()
    assert client.get("/staff/").status_code == 302  # signed out
    assert "请15分钟后再试" in _login(client, "head1").content.decode()
    assert device.pk


# --- password policy and session lifetime ----------------------------------------------------


def test_passwords_need_twelve_characters_and_not_common_ones(django_user_model: Any) -> None:
    with pytest.raises(ValidationError):
        validate_password("Short-pw-12")
    with pytest.raises(ValidationError):
        validate_password("123456789012")
    with pytest.raises(ValidationError):
        validate_password("password1234")
    validate_password("river-lantern-47")


def test_an_idle_session_expires(client: Client, demo_org: None, django_user_model: Any, settings: Any) -> None:
    _staff(django_user_model, "h1", "handler")
    _login(client, "h1")
    assert client.get("/staff/").status_code == 200
    session = client.session
    session[staff_auth.SEEN_AT_KEY] = int(time.time()) - settings.STAFF_IDLE_SECONDS - 5
    session.save()
    response = client.get("/staff/triage/")
    assert response.status_code == 302 and response["Location"].startswith("/staff/login/?")
    assert "expired=1" in response["Location"]
    assert "长时间未操作" in client.get(response["Location"]).content.decode()
    assert client.get("/staff/").status_code == 302  # the session is gone


def test_activity_keeps_a_session_alive_until_its_absolute_limit(
        client: Client, demo_org: None, django_user_model: Any, settings: Any) -> None:
    _staff(django_user_model, "h1", "handler")
    _login(client, "h1")
    session = client.session
    session[staff_auth.SEEN_AT_KEY] = int(time.time()) - settings.STAFF_IDLE_SECONDS + 120
    session.save()
    assert client.get("/staff/").status_code == 200
    assert client.session[staff_auth.SEEN_AT_KEY] >= int(time.time()) - 5  # refreshed
    session = client.session
    session[staff_auth.AUTH_AT_KEY] = int(time.time()) - settings.STAFF_SESSION_MAX_SECONDS - 1
    session.save()
    assert client.get("/staff/").status_code == 302


def test_changing_the_password_ends_other_sessions(client: Client, demo_org: None, django_user_model: Any) -> None:
    user = _staff(django_user_model, "h1", "handler")
    _login(client, "h1")
    assert client.get("/staff/").status_code == 200
    user.set_password("another-long-password")
    user.save()
    assert client.get("/staff/").status_code == 302


# --- citizen pages stay without a session -----------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/report/", "/status/"])
def test_citizen_pages_set_no_session_cookie(client: Client, demo_org: None, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert "sessionid" not in response.cookies
    assert "csrftoken" not in response.cookies
    assert not response.cookies or set(response.cookies) <= set()


def test_the_login_page_itself_sets_no_session_before_sign_in(client: Client, demo_org: None) -> None:
    response = client.get("/staff/login/")
    assert response.status_code == 200 and "sessionid" not in response.cookies
