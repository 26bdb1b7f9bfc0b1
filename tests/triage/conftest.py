"""Signed-in clients and fixtures that several triage test modules share."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.auth import otp_login
from tests.triage.casework import staff


@pytest.fixture
def admin_client(demo_org: None) -> Client:
    """A superuser signed in with a second factor, as the admin requires; a server error
    comes back as a 500 page instead of raising, as a browser would see it."""
    admin = get_user_model().objects.create_superuser("admin1", password="admin-password-123")
    return otp_login(Client(raise_request_exception=False), admin)


@pytest.fixture
def auditor(demo_org: None) -> Client:
    client = Client()
    client.force_login(staff("aud", "auditor", "379900-jw"))
    return client


@pytest.fixture
def officer(demo_org: None) -> Client:
    """A triage officer of the city's 信访局."""
    client = Client()
    client.force_login(staff("officer", "triage_officer", "379900-xf"))
    return client


@pytest.fixture
def fresh_routing() -> Any:
    """Routing snapshot and model caches dropped before and after the test."""
    from triage.decide import forget_caches

    forget_caches()
    yield
    forget_caches()
