"""Test helpers for staff sign-in with a second factor: a confirmed TOTP device, the code
it shows now, and a test client signed in past the TOTP step."""

from __future__ import annotations

import time
from typing import Any

from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


def totp_device(user: Any) -> TOTPDevice:
    """The user's confirmed authenticator (created if there is none)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="test", confirmed=True)


def totp_code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code the authenticator shows now. A code is accepted once per 30-second step:
    to sign in twice within one step, pass steps_ahead=1 (the server allows one step of drift)."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    if steps_ahead == 0 and totp.t() <= device.last_t:
        totp.time += device.step
    return f"{totp.token():0{device.digits}d}"


def otp_login(client: Client, user: Any) -> Client:
    """force_login, and mark the session as having passed the TOTP step."""
    device = totp_device(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def api_token(user: Any) -> str:
    """A new API token for a service account (only its hash is stored)."""
    from intake.staff_auth import create_service_token

    return create_service_token(user=user, name="测试对接")[1]
