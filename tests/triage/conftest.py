"""Signed-in clients that several triage test modules share."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.triage.casework import staff


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
