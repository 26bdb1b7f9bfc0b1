"""Signed webhooks: a failing endpoint (a real local HTTP server answering 500) is retried
with backoff by the worker, dead-lettered, and sent again from the admin; the delivery
verifies with the recipe in README.md exactly as documented."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from notifications.models import DeadLetter, Delivery, Notification, Status, WebhookEndpoint
from notifications.webhooks import encode, sign
from tests.auth import otp_login
from tests.conftest import BASE_DIR, wait_for
from tests.notifications.conftest import RETRY_BACKOFF
from tests.notifications.helpers import routed_case


def readme_recipe() -> dict[str, Any]:
    """The verification code of README.md's "Receiving webhooks", run as written."""
    text = (BASE_DIR / "README.md").read_text()
    section = text[text.index("### Receiving webhooks"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    return namespace


class Receiver:
    """A local HTTP endpoint that records requests and answers with `status`."""

    def __init__(self) -> None:
        self.status = 500
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_the_signature_verifies_with_the_documented_recipe() -> None:
    recipe = readme_recipe()
    body = encode({"id": "qf-notification-1", "kind": "overdue"})
    headers = {"X-Qingfeng-Id": "qf-notification-1", "X-Qingfeng-Timestamp": "1790000000",
               "X-Qingfeng-Signature": sign("s3cret", 1790000000, body)}
    assert headers["X-Qingfeng-Signature"] == "sha256=" + hmac.new(
        b"s3cret", b"1790000000." + body, hashlib.sha256).hexdigest()
    assert recipe["verify"]("s3cret", headers, body, now=1790000010)
    assert not recipe["verify"]("s3cret", headers, body, now=1790000020)  # the same id again
    fresh = readme_recipe()["verify"]
    assert not fresh("s3cret", headers, body, now=1790000000 + 301)  # older than 5 minutes
    assert not fresh("wrong", headers, body, now=1790000010)
    assert not fresh("s3cret", headers, body.replace(b"overdue", b"due_soon"), now=1790000010)


@pytest.mark.worker
def test_a_failing_endpoint_is_retried_then_dead_lettered_and_sent_again_by_hand(
        demo_org: None, notify_worker: Callable[[], Any], receiver: Receiver, client: Any,
        outbox_dirs: dict[str, Path]) -> None:
    endpoint = WebhookEndpoint.objects.create(name="市信访信息系统", url=receiver.url, kinds="case_assigned")
    case = routed_case()
    notification = Notification.objects.get(endpoint=endpoint)
    worker = notify_worker()

    assert wait_for(lambda: DeadLetter.objects.filter(notification=notification).exists(), timeout=30), \
        worker.log_text()[-3000:]
    attempts = list(Delivery.objects.filter(notification=notification).order_by("attempt"))
    assert [(d.attempt, d.ok, d.status_code) for d in attempts] == [(1, False, 500), (2, False, 500), (3, False, 500)]
    gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(attempts)]
    assert gaps[1] > gaps[0] >= RETRY_BACKOFF  # exponential backoff
    assert len(receiver.requests) == 3
    assert len({h["X-Qingfeng-Id"] for h, _b in receiver.requests}) == 1  # the same id on every retry

    receiver.status = 200
    admin = get_user_model().objects.create_superuser("root", "root@example.gov.cn", "root-password-123")
    otp_login(client, admin)  # the admin site needs the second factor
    letter = DeadLetter.objects.get(notification=notification)
    response = client.post("/admin/notifications/deadletter/", {"action": "retry", "_selected_action": [letter.pk]})
    assert response.status_code == 302
    assert wait_for(lambda: Notification.objects.get(pk=notification.pk).status == Status.SENT, timeout=30)
    assert DeadLetter.objects.get(pk=letter.pk).retried_by == admin

    headers, body = receiver.requests[-1]
    assert readme_recipe()["verify"](endpoint.signing_key(), headers, body)
    payload = json.loads(body)
    assert payload["kind"] == "case_assigned" and payload["case"]["number"] == case.number
    assert payload["case"]["department"] == "379901-zj"
    assert headers["X-Qingfeng-Signature"].startswith("sha256=")
