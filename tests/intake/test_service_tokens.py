"""API tokens of service accounts: shown once when made, kept only as a keyed hash, refused
for accounts that need a second factor, revoked by deleting them."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from intake.models import Report, ServiceToken
from intake.staff_auth import TOKEN_PREFIX, TokenError, create_service_token, token_hash
from tests.auth import otp_login
from tests.factories import SAMPLE_BODY

pytestmark = pytest.mark.django_db


@pytest.fixture
def telephony(demo_org: None, django_user_model: Any) -> Any:
    user = django_user_model.objects.create_user("telephony", password="x-password-123")
    user.groups.add(Group.objects.get(name="hotline_operator"))
    return user


def _push(key: str) -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.post("/api/v1/staff/reports/", {"channel": "call", "body": SAMPLE_BODY}, format="json")


def _stored_columns() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT key_hash, prefix, name FROM intake_servicetoken")
        return [str(value) for row in cursor.fetchall() for value in row]


def test_a_token_works_and_only_its_hash_is_stored(telephony: Any) -> None:
    token, key = create_service_token(user=telephony, name="12345话务系统")
    assert key.startswith(TOKEN_PREFIX) and len(key) >= 40
    assert key not in "".join(_stored_columns()) and token.key_hash == token_hash(key)
    assert token.prefix == key[:8] and str(token) == f"12345话务系统（{key[:8]}…）"
    response = _push(key)
    assert response.status_code == 201, response.content
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_wrong_or_revoked_token_is_refused(telephony: Any) -> None:
    token, key = create_service_token(user=telephony, name="12345话务系统")
    assert _push(key[:-1] + ("A" if key[-1] != "A" else "B")).status_code == 401
    token.delete()
    response = _push(key)
    assert response.status_code == 401 and "无效或已撤销" in response.json()["detail"]
    assert not Report.objects.exists()


def test_an_account_that_needs_a_second_factor_or_is_disabled_gets_no_token(telephony: Any,
                                                                             django_user_model: Any) -> None:
    head = django_user_model.objects.create_user("head", password="x-password-123")
    head.groups.add(Group.objects.get(name="department_head"))
    with pytest.raises(TokenError, match="两步验证"):
        create_service_token(user=head, name="x")
    _token, key = create_service_token(user=telephony, name="话务")
    telephony.is_active = False
    telephony.save()
    assert _push(key).status_code == 401
    with pytest.raises(TokenError, match="停用"):
        create_service_token(user=telephony, name="x")


def test_the_admin_shows_a_new_token_once_and_never_again(telephony: Any, django_user_model: Any) -> None:
    admin_user = django_user_model.objects.create_superuser("admin-tokens", password="admin-password-123")
    client = otp_login(Client(raise_request_exception=False), admin_user)
    response = client.post("/admin/intake/servicetoken/add/", {"user": telephony.pk, "name": "12345话务系统"})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    page = response.content.decode()
    [key] = re.findall(r'<code class="secret"[^>]*>([^<]+)</code>', page)
    assert key.startswith(TOKEN_PREFIX) and "只显示这一次" in page
    token = ServiceToken.objects.get()
    assert token.key_hash == token_hash(key) and token.user == telephony
    assert _push(key).status_code == 201

    # Nowhere to read it back: the list, the record's page and the change record hold its first characters only.
    for url in ("/admin/intake/servicetoken/", f"/admin/intake/servicetoken/{token.pk}/change/"):
        shown = client.get(url)
        assert shown.status_code == 200 and key not in shown.content.decode() and token.prefix in shown.content.decode()
    entry = LogEntry.objects.get(object_id=str(token.pk))
    assert entry.action_flag == ADDITION and key not in entry.object_repr + entry.change_message
    assert client.post(f"/admin/intake/servicetoken/{token.pk}/change/", {"name": "x"}).status_code == 403

    # An account that needs TOTP is refused with a reason, and nothing is stored.
    head = django_user_model.objects.create_user("head2", password="x-password-123")
    head.groups.add(Group.objects.get(name="department_head"))
    refused = client.post("/admin/intake/servicetoken/add/", {"user": head.pk, "name": "不该有"})
    assert refused.status_code == 200 and "两步验证" in refused.content.decode()
    assert ServiceToken.objects.count() == 1

    # Revoked by deleting it.
    assert client.post(f"/admin/intake/servicetoken/{token.pk}/delete/", {"post": "yes"}).status_code == 302
    assert _push(key).status_code == 401


def test_the_command_prints_a_token_once_or_fails_with_one_line(telephony: Any) -> None:
    out = StringIO()
    call_command("create_service_token", "telephony", "--name", "话务推送", stdout=out)
    key = out.getvalue().strip()
    assert key.startswith(TOKEN_PREFIX) and _push(key).status_code == 201
    with pytest.raises(CommandError, match="no user named"):
        call_command("create_service_token", "nobody", "--name", "x")
    with pytest.raises(CommandError, match="用途"):
        call_command("create_service_token", "telephony", "--name", "  ")


@pytest.mark.django_db(transaction=True)
def test_the_migration_takes_over_drf_tokens_and_deletes_their_plain_rows(telephony: Any) -> None:
    from tests.conftest import migrate_to

    plain = "a" * 40
    try:
        migrate_to([("intake", "0005_staff_authenticator")])
        created = "timestamp with time zone" if connection.vendor == "postgresql" else "datetime"
        with connection.cursor() as cursor:
            # DRF's authtoken table, as an installation that used it has it.
            cursor.execute(f"CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created {created} NOT NULL, "
                           "user_id integer NOT NULL)")
            cursor.execute("INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
                           [plain, "2026-01-05 08:00:00", telephony.pk])
        migrate_to([("intake", "0006_service_token")])
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM authtoken_token")
            assert cursor.fetchone()[0] == 0
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS authtoken_token")
        migrate_to([])
    token = ServiceToken.objects.get()
    assert token.user_id == telephony.pk and token.key_hash == token_hash(plain) and token.prefix == plain[:8]
    assert token.created_at.year == 2026 and token.created_at.month == 1
    assert _push(plain).status_code == 201
