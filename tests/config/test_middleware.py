"""The first middleware keeps only the request headers the application needs."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from config.middleware import StripClientIdentifiersMiddleware


def test_only_needed_headers_and_no_peer_address_reach_the_application() -> None:
    seen: dict[str, object] = {}

    def view(request: HttpRequest) -> HttpResponse:
        seen.update(request.META)
        return HttpResponse()

    request = RequestFactory().post(
        "/report/", REMOTE_ADDR="203.0.113.77", REMOTE_PORT="50123", HTTP_X_FORWARDED_FOR="198.51.100.9",
        HTTP_X_CLIENT_IP="198.51.100.10", HTTP_SEC_CH_UA_MODEL="Pixel", HTTP_USER_AGENT="CanaryAgent/1.0",
        HTTP_ACCEPT_LANGUAGE="en", HTTP_IDEMPOTENCY_KEY="k-1", HTTP_X_FORWARDED_PROTO="https",
    )
    StripClientIdentifiersMiddleware(view)(request)
    assert not [k for k in seen if k.startswith("REMOTE_")]
    assert {"HTTP_X_FORWARDED_FOR", "HTTP_X_CLIENT_IP", "HTTP_SEC_CH_UA_MODEL", "HTTP_USER_AGENT"}.isdisjoint(seen)
    assert seen["HTTP_ACCEPT_LANGUAGE"] == "en" and seen["HTTP_IDEMPOTENCY_KEY"] == "k-1"
    assert seen["HTTP_X_FORWARDED_PROTO"] == "https" and seen["PATH_INFO"] == "/report/"
