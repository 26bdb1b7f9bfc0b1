"""Tests for /healthz and the production settings profile."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

BASE_DIR = Path(__file__).resolve().parent.parent.parent


@pytest.mark.django_db
def test_healthz_reports_components_without_versions(client: Client) -> None:
    response = client.get("/healthz")
    body = response.json()
    assert set(body) == {"status", "database", "broker", "worker", "beat"}
    assert body["database"] == "ok" and body["broker"] == "ok"
    assert response.status_code in (200, 503)
    assert "version" not in response.content.decode().lower()


@pytest.mark.worker
def test_healthz_sees_a_live_worker(celery_worker: object, client: Client) -> None:
    from tests.conftest import wait_for

    assert wait_for(lambda: client.get("/healthz").json()["worker"] == "ok", timeout=20)
    assert client.get("/healthz").status_code == 200


def _production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QINGFENG_", "DJANGO_"))}
    env.update({
        "QINGFENG_ENV": "production",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": base64.b64encode(os.urandom(48)).decode(),
        "DJANGO_ALLOWED_HOSTS": "qingfeng.example.gov.cn",
        "QINGFENG_VAR_DIR": str(BASE_DIR / "var" / "test-prod"),
    })
    env.update(extra)
    return env


def test_production_refuses_to_start_without_a_key() -> None:
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=BASE_DIR, env=_production_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "QINGFENG_KEYS" in result.stderr


def test_production_settings_pass_check_deploy() -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    env = _production_env(QINGFENG_KEYS=f"p1:{key}", QINGFENG_RECEIPT_PEPPER=key)
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=BASE_DIR,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
