"""A real Celery worker for notification tests, with e-mail and SMS written to files it
shares with the test, and short retry backoffs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Process, start_worker

# Short retries on Redis; on the embedded SQLite broker, which polls its table about once a
# second, long enough that the doubling shows through that polling.
RETRY_BACKOFF = 0.3 if os.environ.get("REDIS_URL") else 1.5


@pytest.fixture
def outbox_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Any) -> dict[str, Path]:
    mail, sms = tmp_path / "mail", tmp_path / "sms"
    mail.mkdir()
    sms.mkdir()
    env = {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "QINGFENG_EMAIL_FILE_PATH": str(mail),
        "QINGFENG_SMS_BACKEND": "notifications.sms.FileSMSBackend",
        "QINGFENG_SMS_FILE_PATH": str(sms),
        "QINGFENG_NOTIFY_RETRY_BACKOFF_SECONDS": str(RETRY_BACKOFF),
        "QINGFENG_NOTIFY_MAX_ATTEMPTS": "3",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings.SMS_BACKEND = env["QINGFENG_SMS_BACKEND"]
    settings.SMS_FILE_PATH = str(sms)
    return {"mail": mail, "sms": sms}


@pytest.fixture
def notify_worker(transactional_db: Any, log_dir: Path, outbox_dirs: dict[str, Path]) -> Iterator[Callable[[], Process]]:
    """Call it once the cases exist: it drops their triage messages (the tests route cases
    themselves) and starts a worker that sends what is queued."""
    from django.conf import settings

    from config.celery import app

    started: list[Process] = []

    def start() -> Process:
        with app.connection_for_write() as conn, contextlib.suppress(Exception):
            conn.default_channel.queue_purge(settings.TRIAGE_QUEUE)
        worker = start_worker(log_dir, name="notify-worker")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
