"""/healthz: database, broker and worker liveness. No content, no versions."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from config.celery import BEAT_HEARTBEAT_KEY, WORKER_HEARTBEAT_KEY, app


def _database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:  # noqa: BLE001
        return False


def _broker() -> bool:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:  # noqa: BLE001
        return False


def _fresh(key: str, max_age: float) -> bool:
    try:
        seen = cache.get(key)
    except Exception:  # noqa: BLE001
        return False
    return seen is not None and time.time() - float(seen) <= max_age


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    max_age = settings.WORKER_HEARTBEAT_SECONDS * 3
    checks = {
        "database": _database(),
        "broker": _broker(),
        "worker": _fresh(WORKER_HEARTBEAT_KEY, max_age),
        "beat": _fresh(BEAT_HEARTBEAT_KEY, max_age + settings.WORKER_HEARTBEAT_SECONDS),
    }
    # Beat is reported but does not fail the check: right after start it has not ticked.
    healthy = checks["database"] and checks["broker"] and checks["worker"]
    body = {"status": "ok" if healthy else "fail", **{k: "ok" if v else "fail" for k, v in checks.items()}}
    return JsonResponse(body, status=200 if healthy else 503)
