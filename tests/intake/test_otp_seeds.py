"""TOTP seeds are sealed in the database and open only for their own user."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django_otp.plugins.otp_totp.models import TOTPDevice

from intake import crypto
from tests.auth import totp_code, totp_device

pytestmark = pytest.mark.django_db


def stored_key(device: TOTPDevice) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT key FROM otp_totp_totpdevice WHERE id = %s", [device.pk])
        return str(cursor.fetchone()[0])


def test_the_column_holds_no_seed_and_the_device_still_verifies(django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("seed-owner", password="correct-horse-battery")
    device = totp_device(user)
    seed = device.key
    stored = stored_key(device)
    assert crypto.is_sealed_secret(stored) and seed not in stored and len(stored) <= 80
    assert device.key == seed  # the instance that saved keeps the seed in memory
    loaded = TOTPDevice.objects.get(pk=device.pk)
    assert loaded.key == seed and loaded.bin_key == bytes.fromhex(seed)
    assert loaded.verify_token(totp_code(loaded))
    # A save that touches other fields (django-otp's throttling, last_t) keeps the seal.
    loaded.save(update_fields=["last_t"])
    loaded.save()
    assert stored_key(loaded) != seed and TOTPDevice.objects.get(pk=device.pk).key == seed


def test_a_seed_moved_to_another_users_row_verifies_nothing_and_stays_as_stored(django_user_model: Any) -> None:
    alice = django_user_model.objects.create_user("alice", password="correct-horse-battery")
    mallory = django_user_model.objects.create_user("mallory", password="correct-horse-battery")
    alices, mallorys = totp_device(alice), totp_device(mallory)
    code = totp_code(alices)
    moved = stored_key(alices)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE otp_totp_totpdevice SET key = %s WHERE id = %s", [moved, mallorys.pk])
    device = TOTPDevice.objects.get(pk=mallorys.pk)  # no error page for mallory
    assert device.key != alices.key and not device.verify_token(code)
    device.save()
    assert stored_key(device) == moved  # written back as it was, not replaced


def test_the_migration_seals_plain_seeds_and_can_undo_it(django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("legacy", password="correct-horse-battery")
    device = totp_device(user)
    seed = device.key
    with connection.cursor() as cursor:  # a row from before the migration
        cursor.execute("UPDATE otp_totp_totpdevice SET key = %s WHERE id = %s", [seed, device.pk])
    migration = importlib.import_module("intake.migrations.0003_seal_totp_seeds")
    # The historical model, as migrate gives it (the app's signals are not attached to it).
    state = MigrationLoader(connection).project_state(("intake", "0003_seal_totp_seeds"))
    editor = connection.schema_editor()
    migration.seal(state.apps, editor)
    assert crypto.is_sealed_secret(stored_key(device))
    assert TOTPDevice.objects.get(pk=device.pk).key == seed
    migration.unseal(state.apps, editor)
    assert stored_key(device) == seed


def test_the_proxy_the_admin_lists_opens_and_seals_seeds_too(django_user_model: Any) -> None:
    from intake.models import StaffAuthenticator

    user = django_user_model.objects.create_user("proxy-owner", password="correct-horse-battery")
    seed = totp_device(user).key
    device = StaffAuthenticator.objects.get(user=user)
    assert device.key == seed
    device.save()
    assert crypto.is_sealed_secret(stored_key(device)) and TOTPDevice.objects.get(pk=device.pk).key == seed


def test_the_admin_lists_authenticators_and_removes_them_but_never_shows_a_seed(django_user_model: Any,
                                                                                   demo_org: None) -> None:
    from django.contrib.admin.models import DELETION, LogEntry
    from django.test import Client

    from tests.auth import otp_login

    head = django_user_model.objects.create_user("dept-head", password="correct-horse-battery")
    seed = totp_device(head).key
    admin_user = django_user_model.objects.create_superuser("admin-otp", password="admin-password-123")
    client = otp_login(Client(raise_request_exception=False), admin_user)
    device = TOTPDevice.objects.get(user=head)

    listing = client.get("/admin/intake/staffauthenticator/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "身份验证器" in page and "dept-head" in page and seed not in page
    view = client.get(f"/admin/intake/staffauthenticator/{device.pk}/change/")
    assert view.status_code == 200 and seed not in view.content.decode()
    assert 'name="key"' not in view.content.decode()
    # django-otp's own device admin, its config page and its QR code of the seed are gone.
    for url in ("/admin/otp_totp/totpdevice/", f"/admin/otp_totp/totpdevice/{device.pk}/change/",
                f"/admin/otp_totp/totpdevice/{device.pk}/config/", f"/admin/otp_totp/totpdevice/{device.pk}/qrcode/"):
        assert client.get(url).status_code == 404, url
    assert client.get("/admin/intake/staffauthenticator/add/").status_code == 403
    assert client.post(f"/admin/intake/staffauthenticator/{device.pk}/change/", {"confirmed": ""}).status_code == 403

    # A lost phone: the administrator removes the device; the user enrols again at sign-in.
    response = client.post(f"/admin/intake/staffauthenticator/{device.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=head).exists()
    entry = LogEntry.objects.get(object_id=str(device.pk))
    assert entry.action_flag == DELETION and entry.user_id == admin_user.pk
