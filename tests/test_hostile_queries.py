"""Every page without URL arguments answers a hostile query string without a server error:
NUL bytes, malformed dates and numbers, unknown choices, huge values and repeated keys are
ignored or refused with a 4xx, for citizens and for each staff role."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.auth import otp_login
from tests.triage.casework import new_case, staff

HOSTILE = [
    {"q": "\x00", "page": "abc", "status": "\x00", "department": "-1", "created_from": "2026-13-45"},
    {"created_to": "9999999-01-01", "period": "x" * 5000, "flag": "<script>", "category": "1e9", "channel": "%"},
    {"page": "99999999999999999999", "department": "1\x00", "level": "-3", "type": "../../etc", "days": "NaN"},
    {"sort": "'; DROP TABLE triage_case; --", "case": "\x00", "username": "\x00", "kind": "x", "from": "0000-00-00"},
    # Digits int() refuses though str.isdigit() takes them, and dates at the ends of Python's range.
    {"department": "²", "month": "0001-01", "start": "0001-01-01", "end": "9999-12-31", "created_from": "0001-01-01",
     "created_to": "9999-12-31", "case": "QF2026²"},
    {"department": "9" * 5000, "month": "9999-12", "start": "9999-12-31", "created_to": "0001-01-01", "case": "QF" + "9" * 30},
]
# /healthz answers 503 by design while no worker or beat runs (none does here).
SKIP_PREFIXES = ("/admin/", "/static/", "/media/", "/i18n/", "/healthz")


def plain_paths() -> list[str]:
    out: list[str] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            route = str(p.pattern)
            if isinstance(p, URLResolver):
                if "<" not in route and "(?P" not in route:
                    walk(p.url_patterns, prefix + route.lstrip("^"))
            elif isinstance(p, URLPattern) and "<" not in route and "(?P" not in route and "$" not in route.rstrip("$"):
                path = "/" + (prefix + route).lstrip("^").rstrip("$").lstrip("/")
                if not path.startswith(SKIP_PREFIXES):
                    out.append(path)

    walk(get_resolver().url_patterns, "")
    return sorted(set(out))


def case_paths(case_id: int) -> list[str]:
    return [
        f"/staff/triage/{case_id}/", f"/staff/triage/{case_id}/action/", f"/staff/triage/{case_id}/split/",
        f"/staff/cases/{case_id}/", f"/staff/cases/{case_id}/act/", f"/staff/cases/{case_id}/note/",
        f"/staff/cases/{case_id}/content/", f"/staff/cases/{case_id}/attachment/", f"/staff/cases/{case_id}/publish/",
        "/staff/publications/999999/withdraw/", "/staff/dashboard/alerts/999999/ack/", "/public/cases/999999/",
        "/staff/dashboard/export/league.csv", "/staff/dashboard/export/league.xlsx", "/staff/dashboard/export/zzz.pdf",
    ]


# Form fields the staff and citizen forms read, with values no form should accept.
HOSTILE_FORM = {
    "action": "\x00", "department": "999999999999999999999", "category": "-1", "text": "\x00" * 3, "note": "x" * 100_000,
    "amount": "1e99", "matter_type": "<b>", "rating": "9", "ids": ["1", "a", "\x00"], "to": "0", "reason": "",
    "receipt": "\x00", "code": "'--", "parts": "NaN", "case": "-5", "days": "99999999999",
}
HOSTILE_FORM_DIGITS = {
    "case": ["²", "9" * 30], "id": ["²", "9" * 30], "action": "merge", "into": "QF2026²", "department": "²",
    "received_on": "0001-01-01", "postmarked_on": "9999-12-31", "call_started_at": "0001-01-01T00:00",
}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["anonymous", "handler", "department_head", "triage_officer", "leadership"])
def test_no_form_answers_hostile_data_with_a_server_error(demo_org: None, role: str) -> None:
    case = new_case()
    client = Client(raise_request_exception=False)
    if role != "anonymous":
        otp_login(client, staff(f"hostile-post-{role}", role, "379901-zj"))
    failures = []
    for path in [*plain_paths(), *case_paths(case.pk)]:
        for method in ("get", "post"):
            for n, data in enumerate([HOSTILE_FORM, HOSTILE_FORM_DIGITS] if method == "post" else [HOSTILE[0]]):
                response = getattr(client, method)(path, data)
                if response.status_code >= 500:
                    failures.append(f"{method.upper()} {path} ({n}): {response.status_code}")
    assert failures == []


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["anonymous", "handler", "department_head", "leadership", "auditor", "triage_officer"])
def test_no_page_answers_a_hostile_query_with_a_server_error(demo_org: None, role: str) -> None:
    new_case()
    client = Client(raise_request_exception=False)
    if role != "anonymous":
        otp_login(client, staff(f"hostile-{role}", role, "379901-zj"))
    failures = []
    paths = plain_paths()
    assert "/staff/cases/" in paths and "/staff/dashboard/" in paths
    for path in paths:
        for n, params in enumerate(HOSTILE):
            response = client.get(f"{path}?{urlencode(params)}&{urlencode(params)}")
            if response.status_code >= 500:
                failures.append(f"GET {path} with HOSTILE[{n}]: {response.status_code}")
    assert failures == []
