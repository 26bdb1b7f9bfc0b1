"""Fixtures of the intake tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def clear_throttle() -> Iterator[None]:
    """The sign-in throttle (and the rest of the cache) empty before and after the test."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
