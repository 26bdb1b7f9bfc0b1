"""Staff authentication rules: who needs a second factor and when they may enrol one,
login throttling by username, the idle / absolute limits of a staff session, and the API
tokens of service accounts.

The rule for two-factor authentication lives here and nowhere else: `otp_required`.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.core.cache import cache
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from intake import crypto
from intake.models import EnrolmentWindow, ServiceToken

# Session keys set at login (see `session_started`) and refreshed by the middleware.
AUTH_AT_KEY = "qf_auth_at"
SEEN_AT_KEY = "qf_seen_at"

# Whoever can reveal a named reporter's identity, or administer the site, holds the keys
# to what hurts most if a password is phished or reused: they must add a TOTP code.
OTP_PERMISSION = "intake.reveal_identity"


def otp_required(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether this staff user must pass a TOTP step (superusers, admin-site users, and
    every role that holds the identity-reveal permission: today the department head)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return bool(getattr(user, "is_superuser", False) or getattr(user, "is_staff", False)
                or user.has_perm(OTP_PERMISSION))  # type: ignore[union-attr,attr-defined]


def otp_pending(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether this signed-in user still owes the TOTP step in this session (the staff
    pages then offer nothing but the step and signing out)."""
    verified = getattr(user, "is_verified", None)
    return otp_required(user) and not (verified is not None and verified())


# --- enrolment windows ----------------------------------------------------------------------
# Enrolling needs only the password, so it is allowed only inside a window (intake.models.
# EnrolmentWindow) that opens when someone starts to need a code: the account is created as
# one that needs it, gains a role that does, or has its last authenticator removed.


def has_authenticator(user: AbstractBaseUser) -> bool:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).exists()


def enrolment_open_until(user: AbstractBaseUser) -> datetime | None:
    """The end of the user's enrolment window, or None when none is open."""
    window = EnrolmentWindow.objects.filter(user_id=user.pk, open_until__gt=timezone.now()).first()
    return window.open_until if window else None


def open_enrolment(user: AbstractBaseUser, *, hours: int | None = None) -> datetime:
    """Open (or restart) the user's window for TOTP_ENROLMENT_HOURS or `hours`; returns its end."""
    now = timezone.now()
    until = now + timedelta(hours=settings.TOTP_ENROLMENT_HOURS if hours is None else hours)
    EnrolmentWindow.objects.update_or_create(user_id=user.pk, defaults={"opened_at": now, "open_until": until})
    return until


def enrolment_done(user: AbstractBaseUser) -> None:
    """The user's authenticator is confirmed: the window closes, other sessions' unconfirmed
    devices (and their seeds) go."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.filter(user_id=user.pk, confirmed=False).delete()
    EnrolmentWindow.objects.filter(user_id=user.pk).delete()


def may_enrol(user: AbstractBaseUser) -> bool:
    """Whether an enrolment window means anything for this account: it needs a code (so it is
    active) and has no authenticator (`manage.py open_enrolment` says which fails)."""
    return otp_required(user) and not has_authenticator(user)


def open_enrolment_if_needed(user_id: int) -> None:
    """A window for an account that now needs a code and has no authenticator and no open window."""
    user = User.objects.filter(pk=user_id).first()  # fresh: no cached permissions
    if user is None or not may_enrol(user) or enrolment_open_until(user):
        return
    open_enrolment(user)


def _user_created(sender: Any, instance: User, created: bool = False, raw: bool = False, **kwargs: Any) -> None:
    if created and not raw:
        open_enrolment_if_needed(instance.pk)


def _roles_added(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    if action != "post_add" or not pk_set:
        return
    for user_id in (pk_set if reverse else [instance.pk]):  # reverse: group.user_set.add(...)
        open_enrolment_if_needed(user_id)


def connect_enrolment_windows() -> None:
    from django.db.models.signals import m2m_changed, post_save

    post_save.connect(_user_created, sender=User, weak=False, dispatch_uid="intake.enrolment_on_create")
    for through in (User.groups.through, User.user_permissions.through):
        m2m_changed.connect(_roles_added, sender=through, weak=False,
                            dispatch_uid=f"intake.enrolment_on_role.{through._meta.label_lower}")


# --- throttling ------------------------------------------------------------------------
# Counted per username (a keyed hash of it), never per client: no address is stored, and a
# password-guessing run against one account stops after a few tries wherever it comes from.
# The price is that anyone can lock a known username out for a while; the counter is
# per username, so other staff are unaffected.


def _throttle_key(username: str) -> str:
    digest = salted_hmac("qingfeng.login-throttle", username.strip().casefold()).hexdigest()
    return f"login-fail:{digest}"


def login_locked(username: str) -> bool:
    return int(cache.get(_throttle_key(username), 0)) >= settings.LOGIN_MAX_FAILURES


def login_failed(username: str) -> int:
    """Count one failure (password or code); the lockout window starts at the first one."""
    key = _throttle_key(username)
    if cache.add(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)
        return 1


def login_succeeded(username: str) -> None:
    cache.delete(_throttle_key(username))


# --- session lifetime --------------------------------------------------------------------


def session_started(session: Any) -> None:
    now = int(time.time())
    session[AUTH_AT_KEY] = now
    session[SEEN_AT_KEY] = now


def session_expired(session: Any, *, now: float | None = None) -> bool:
    """Idle for longer than STAFF_IDLE_SECONDS, or older than STAFF_SESSION_MAX_SECONDS.
    A session without the marks (created before this rule) counts as expired."""
    now = time.time() if now is None else now
    auth_at, seen_at = session.get(AUTH_AT_KEY), session.get(SEEN_AT_KEY)
    if auth_at is None or seen_at is None:
        return True
    return now - seen_at > settings.STAFF_IDLE_SECONDS or now - auth_at > settings.STAFF_SESSION_MAX_SECONDS


def session_touch(session: Any, *, now: float | None = None) -> None:
    """Record activity; written at most once a minute so reads do not rewrite the session."""
    now = time.time() if now is None else now
    if now - session.get(SEEN_AT_KEY, 0) >= 60:
        session[SEEN_AT_KEY] = int(now)


# --- API tokens ---------------------------------------------------------------------------

TOKEN_PREFIX = "qfs_"  # noqa: S105 - marks a Qingfeng service token in a system's settings, not a secret
_TOKEN_SHOWN = 8  # characters kept (as ServiceToken.prefix) to tell tokens apart
_TOUCH_EVERY = timedelta(minutes=5)


class TokenError(ValueError):
    """A token cannot be made for this account (the reason is user-facing)."""


def token_hash(key: str) -> str:
    return crypto.keyed_hash("service-token", key.encode())


def token_refusal(user: AbstractBaseUser) -> str | None:
    """Why this account cannot hold an API token, or None."""
    if not user.is_active:
        return str(_("该账号已停用。"))
    if otp_required(user):
        return str(_("该账号须通过两步验证登录，不能使用接口令牌；请为对接系统单独建立账号。"))
    return None


def create_service_token(*, user: User, name: str) -> tuple[ServiceToken, str]:
    """A new token for a service account: the row (holding only a keyed hash) and the token
    itself, which the caller shows once and nobody can read back."""
    refusal = token_refusal(user)
    if refusal:
        raise TokenError(refusal)
    name = name.strip()
    if not name:
        raise TokenError(str(_("请填写令牌的用途。")))
    token = ServiceToken(user=user, name=name)
    key = issue_key(token)
    token.save()
    return token, key


def issue_key(token: ServiceToken) -> str:
    """Give an unsaved token a new random key: the row keeps its keyed hash and first
    characters; the key itself is returned, to be shown once."""
    key = TOKEN_PREFIX + secrets.token_urlsafe(30)
    token.key_hash, token.prefix = token_hash(key), key[:_TOKEN_SHOWN]
    return key


class ServiceTokenAuthentication(TokenAuthentication):
    """DRF's `Authorization: Token …` header, for integrations (the telephony system, other
    government systems), checked against the keyed hashes of ServiceToken. A token has no
    second factor, so it never stands in for an account that needs one."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        token = ServiceToken.objects.select_related("user").filter(key_hash=token_hash(key)).first()
        if token is None:
            raise AuthenticationFailed(_("接口令牌无效或已撤销。"))
        refusal = token_refusal(token.user)
        if refusal:
            raise AuthenticationFailed(refusal)
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > _TOUCH_EVERY:
            # "Last used" for the admin's list, written at most every few minutes.
            ServiceToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token
