"""Webhook signing keys: sealed in the database, shown once in the admin when an endpoint
is added or its key replaced, and never on the endpoint's own page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import connection
from django.test import Client

from intake import crypto
from notifications import webhooks
from notifications.models import WebhookEndpoint
from tests.auth import otp_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(django_user_model: Any) -> Client:
    admin = django_user_model.objects.create_superuser("hook-admin", password="admin-password-123")
    return otp_login(Client(raise_request_exception=False), admin)


def _shown(response: Any) -> list[str]:
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    return re.findall(r'<code class="secret"[^>]*>([^<]+)</code>', response.content.decode())


def _stored(endpoint: WebhookEndpoint) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_sealed FROM notifications_webhookendpoint WHERE id = %s", [endpoint.pk])
        return str(cursor.fetchone()[0])


def test_a_new_endpoints_key_is_shown_once_and_stored_sealed(admin_client: Client) -> None:
    response = admin_client.post("/admin/notifications/webhookendpoint/add/", {
        "name": "市信访信息系统", "url": "https://xf.example.gov.cn/hook", "is_active": "on", "kinds": ""})
    [secret] = _shown(response)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.signing_key() == secret and len(secret) >= 40
    assert crypto.is_sealed_secret(_stored(endpoint)) and secret not in _stored(endpoint)
    page = admin_client.get(f"/admin/notifications/webhookendpoint/{endpoint.pk}/change/").content.decode()
    assert secret not in page and "secret" not in re.findall(r'name="([a-z_]+)"', page)
    # Editing the endpoint keeps its key.
    response = admin_client.post(f"/admin/notifications/webhookendpoint/{endpoint.pk}/change/", {
        "name": "市信访信息系统", "url": "https://xf.example.gov.cn/hook2", "is_active": "on", "kinds": "overdue"})
    assert response.status_code == 302
    assert WebhookEndpoint.objects.get().signing_key() == secret


def test_replacing_a_key_shows_the_new_one_once_and_is_recorded(admin_client: Client) -> None:
    first = WebhookEndpoint.objects.create(name="甲", url="https://a.example.gov.cn/")
    second = WebhookEndpoint.objects.create(name="乙", url="https://b.example.gov.cn/")
    before = {e.pk: e.signing_key() for e in (first, second)}
    response = admin_client.post("/admin/notifications/webhookendpoint/", {
        "action": "replace_secret", "_selected_action": [first.pk, second.pk]})
    shown = _shown(response)
    after = {e.pk: e.signing_key() for e in WebhookEndpoint.objects.all()}
    assert sorted(shown) == sorted(after.values()) and not set(shown) & set(before.values())
    assert "甲" in response.content.decode() and "乙" in response.content.decode()
    entries = LogEntry.objects.filter(action_flag=CHANGE, object_id__in=[str(first.pk), str(second.pk)])
    assert entries.count() == 2 and not any(s in e.change_message for e in entries for s in shown)
    # A delivery is signed with the new key.
    body = b'{"id": 1}'
    signature = webhooks.sign(after[first.pk], 1790000000, body)
    assert signature == webhooks.sign(WebhookEndpoint.objects.get(pk=first.pk).signing_key(), 1790000000, body)


@pytest.mark.django_db(transaction=True)
def test_the_migration_seals_existing_keys_so_receivers_keep_verifying() -> None:
    from tests.conftest import migrate_to

    try:
        apps = migrate_to([("notifications", "0004_field_labels")])
        apps.get_model("notifications", "WebhookEndpoint").objects.create(name="旧", url="https://old.example.gov.cn/",
                                                                         secret="plain-key-the-receiver-holds")
        migrate_to([("notifications", "0005_webhook_secret_sealed")])
        endpoint = WebhookEndpoint.objects.get()
        assert crypto.is_sealed_secret(_stored(endpoint))
        assert endpoint.signing_key() == "plain-key-the-receiver-holds"
        apps = migrate_to([("notifications", "0004_field_labels")])  # and back
        assert apps.get_model("notifications", "WebhookEndpoint").objects.get().secret == "plain-key-the-receiver-holds"
    finally:
        migrate_to([])
    WebhookEndpoint.objects.all().delete()
