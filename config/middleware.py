"""Middleware that keeps client identifiers out of the application and adds headers."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# Request headers the application needs. Every other header is removed before any other
# code, logger or error reporter runs: forwarding headers, the user agent and client hints,
# and whatever a proxy or browser adds tomorrow. An allowlist, so nothing that identifies
# or fingerprints a client is ever read, stored or logged, named here or not.
_NEEDED_HEADERS = frozenset(
    "HTTP_" + name
    for name in (
        "HOST", "COOKIE", "ACCEPT", "ACCEPT_LANGUAGE", "ACCEPT_ENCODING", "CACHE_CONTROL", "CONNECTION",
        "ORIGIN", "REFERER", "X_CSRFTOKEN", "X_REQUESTED_WITH",  # CSRF checks
        "AUTHORIZATION", "IDEMPOTENCY_KEY",  # API clients
        "X_FORWARDED_PROTO",  # TLS terminated by the proxy (SECURE_PROXY_SSL_HEADER)
        "IF_NONE_MATCH", "IF_MODIFIED_SINCE", "RANGE", "IF_RANGE",  # static files
    )
)
# The peer's address and port (and host name) that the WSGI server passes outside headers.
_PEER_PREFIX = "REMOTE_"


class StripClientIdentifiersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Removed unread: nothing later (views, loggers, error reports) can see them.
        for key in [k for k in request.META if _identifying(k)]:
            del request.META[key]
        return self.get_response(request)


def _identifying(key: str) -> bool:
    return key.startswith(_PEER_PREFIX) or (key.startswith("HTTP_") and key not in _NEEDED_HEADERS)


STAFF_PREFIXES = ("/staff/", "/admin/", "/api/docs", "/api/schema")


class SecurityHeadersMiddleware:
    """Content-Security-Policy and cache rules that Django does not set itself."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(STAFF_PREFIXES):
            # A citizen's page never tells another site (or a proxy log) where they came from.
            response["Referrer-Policy"] = "no-referrer"
        if not request.path.startswith(("/api/docs", "/admin/")):
            response.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
        if not request.path.startswith(settings.STATIC_URL):
            # Pages may show receipts or case content: never keep them in any cache.
            response.setdefault("Cache-Control", "no-store")
        return response


# Staff paths that need a signed-in, unexpired, (where required) second-factor-verified
# session. The citizen API (/api/v1/reports/ …) is not among them.
GUARDED_PREFIXES = ("/staff/", "/admin/", "/api/v1/staff/", "/api/docs", "/api/schema")
_OPEN_STAFF_PATHS = ("/staff/login/", "/staff/logout/")
_OTP_STEP_PATHS = ("/staff/otp/", "/staff/otp/setup/")


class StaffSessionMiddleware:
    """Ends idle or too-old staff sessions and sends users who need a TOTP code to that
    step before any staff or admin page. Citizen paths are passed through untouched (the
    session is not even read), so they never gain a cookie from here."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        if not path.startswith(GUARDED_PREFIXES) or path in _OPEN_STAFF_PATHS:
            return self.get_response(request)
        from urllib.parse import urlencode

        from django.contrib.auth import logout
        from django.http import HttpResponseForbidden, HttpResponseRedirect

        from intake import staff_auth

        user = request.user
        is_api = path.startswith("/api/")
        if user.is_authenticated:
            if staff_auth.session_expired(request.session):
                logout(request)
                if is_api:
                    return HttpResponseForbidden()
                query = urlencode({"next": request.get_full_path(), "expired": "1"})
                return HttpResponseRedirect(f"{settings.LOGIN_URL}?{query}")
            staff_auth.session_touch(request.session)
            if staff_auth.otp_pending(user) and path not in _OTP_STEP_PATHS:
                if is_api:
                    return HttpResponseForbidden()
                return HttpResponseRedirect(f"/staff/otp/?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
