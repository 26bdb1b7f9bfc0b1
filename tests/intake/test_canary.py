"""A canary placed in every sensitive input appears in no table, log line or broker message."""

from __future__ import annotations

import base64
import contextlib
import io
import subprocess
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from tests.conftest import Process, using_postgres, wait_for
from triage.models import Case, CaseStatus

pytestmark = pytest.mark.worker

CANARY = "金丝雀CANARY7Q4"


def _docx(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        zf.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
            'Target="word/document.xml"/></Relationships>',
        )
        zf.writestr(
            "word/document.xml",
            '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            f"<w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>",
        )
    return buf.getvalue()


class RedisMonitor:
    """Records every command the Redis server executes while it runs (MONITOR)."""

    def __init__(self, url: str) -> None:
        import redis

        self.lines: list[str] = []
        self._conn = redis.Redis.from_url(url)
        self._monitor = self._conn.monitor()
        self._monitor.__enter__()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for item in self._monitor.listen():
                self.lines.append(str(item.get("command", "")))
        except Exception:  # noqa: S110 - the monitor connection closes at stop()
            pass

    def stop(self) -> str:
        with contextlib.suppress(Exception):
            self._monitor.connection.disconnect()
        self._thread.join(timeout=5)
        return "\n".join(self.lines)


def _database_bytes() -> bytes:
    if using_postgres():
        cfg = connection.settings_dict
        cmd = ["pg_dump", "--data-only", "-h", cfg.get("HOST") or "127.0.0.1", "-p", str(cfg.get("PORT") or 5432),
               "-U", cfg.get("USER") or "postgres", cfg["NAME"]]
        return subprocess.run(cmd, check=True, capture_output=True, timeout=120).stdout
    connection.close()
    name = Path(connection.settings_dict["NAME"])
    return b"".join(p.read_bytes() for p in (name, Path(f"{name}-wal")) if p.exists())


def _encodings(text: str) -> list[bytes]:
    raw = text.encode()
    # As stored text, as JSON escapes and as base64 (how an attachment would travel).
    return [raw, text.encode("unicode_escape"), base64.b64encode(raw), b"CANARY7Q4"]


def test_the_canary_is_nowhere_in_clear(celery_worker: Process, demo_org: None, capfd: Any, caplog: Any) -> None:
    caplog.set_level("DEBUG")
    monitor = RedisMonitor(settings.REDIS_URL) if settings.REDIS_URL else None
    client = APIClient()
    payload = {
        "body": f"反映东城区文化路社区问题，{CANARY}，物业长期不作为。",
        "accused": f"物业经理{CANARY}",
        "identity": {"name": f"张{CANARY}", "mobile": "13800138000"},
        "attachments": [{"name": f"{CANARY}.docx", "content_base64": base64.b64encode(_docx(CANARY)).decode()}],
    }
    response = client.post("/api/v1/reports/", payload, format="json", HTTP_IDEMPOTENCY_KEY=f"key-{CANARY}")
    assert response.status_code == 201, response.content
    receipt = response.data["receipt"]
    message = client.post("/api/v1/messages/", {"receipt": receipt, "body": f"补充 {CANARY}"}, format="json")
    assert message.status_code == 201
    case = Case.objects.get()
    assert wait_for(lambda: Case.objects.get(pk=case.pk).status == CaseStatus.AWAITING_TRIAGE), celery_worker.log_text()

    broker_text = monitor.stop() if monitor else ""
    if not settings.REDIS_URL:
        broker_file = Path(settings.CELERY_BROKER_URL.removeprefix("sqla+sqlite:///"))
        broker_text = broker_file.read_bytes().decode("latin-1") if broker_file.exists() else ""
    else:
        assert "triage_report" in broker_text or "kombu" in broker_text  # the monitor did see the publish
    captured = capfd.readouterr()
    logs = captured.out + captured.err + caplog.text + celery_worker.log_text()
    dump = _database_bytes()
    assert len(dump) > 1000
    for needle in _encodings(CANARY):
        assert needle not in dump, f"{needle!r} found in the database dump"
        assert needle.decode("latin-1") not in logs, f"{needle!r} found in the logs"
        assert needle.decode("latin-1") not in broker_text, f"{needle!r} found on the broker"
    for secret in (receipt, "13800138000"):
        assert secret.encode() not in dump and secret not in logs and secret not in broker_text
