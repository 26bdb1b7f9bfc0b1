"""Abuse control that needs no client identifier.

- Signed form tokens: a page hands out a token (timestamp + random nonce, signed); a
  POST must bring one that is fresh, old enough to not be a script's instant replay, and
  unused (its nonce is burnt in the shared cache). Works with JavaScript off.
- Global rate limits per minute for submissions and receipt look-ups, and an hourly
  budget of failed receipt look-ups: brute-forcing 10^16 receipts stays hopeless and no
  IP address is needed.
"""

from __future__ import annotations

import secrets
import time

from django.conf import settings
from django.core import signing
from django.core.cache import cache

_SALT = "qingfeng.form-token"


class Refused(Exception):
    """The request is refused for abuse control; `message` is for the citizen."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def issue_form_token(purpose: str) -> str:
    return signing.dumps({"p": purpose, "t": int(time.time()), "n": secrets.token_urlsafe(12)}, salt=_SALT)


def check_form_token(token: str, purpose: str) -> str | None:
    """None if the token is good (and now spent), else a reason code."""
    try:
        data = signing.loads(token or "", salt=_SALT, max_age=settings.FORM_TOKEN_MAX_AGE_SECONDS)
    except signing.SignatureExpired:
        return "expired"
    except signing.BadSignature:
        return "invalid"
    if data.get("p") != purpose:
        return "invalid"
    if time.time() - int(data.get("t", 0)) < settings.FORM_TOKEN_MIN_AGE_SECONDS:
        return "too_fast"
    if not cache.add(f"formtoken:{data['n']}", 1, timeout=settings.FORM_TOKEN_MAX_AGE_SECONDS + 60):
        return "reused"
    return None


def _take(bucket: str, limit: int, window_seconds: int) -> bool:
    """Fixed-window counter in the shared cache; True if under the limit."""
    window = int(time.time()) // window_seconds
    key = f"rate:{bucket}:{window}"
    cache.add(key, 0, timeout=window_seconds * 2)
    try:
        count = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=window_seconds * 2)
        count = 1
    return count <= limit


def allow_submission() -> bool:
    return _take("submit", settings.SUBMISSIONS_PER_MINUTE, 60)


def allow_receipt_lookup() -> bool:
    if failed_lookup_budget_exhausted():
        return False
    return _take("lookup", settings.RECEIPT_LOOKUPS_PER_MINUTE, 60)


def failed_lookup_budget_exhausted() -> bool:
    window = int(time.time()) // 3600
    count = cache.get(f"rate:lookup-fail:{window}", 0)
    return int(count) >= settings.RECEIPT_FAILURES_PER_HOUR


def record_failed_lookup() -> None:
    _take("lookup-fail", settings.RECEIPT_FAILURES_PER_HOUR, 3600)
