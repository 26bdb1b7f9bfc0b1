"""The Celery application, configured from Django settings (CELERY_* names).

Liveness for /healthz: every worker writes a heartbeat to the shared cache from a
timer in its main loop; beat's own heartbeat task proves the scheduler runs.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from celery import Celery, bootsteps, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Celery's Django fixup runs Django's system checks when a worker starts. They load the
# URL configuration with every view, the admin and the API schema generator, code a worker
# never runs: ~0.5 s of each worker start (one third of it). The checks run where that
# code runs: `manage.py migrate` on every `./qingfeng up`, `check --deploy` in the tests.
# CELERY_SKIP_CHECKS=  (empty) brings them back.
os.environ.setdefault("CELERY_SKIP_CHECKS", "1")

app = Celery("qingfeng")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

WORKER_HEARTBEAT_KEY = "health:worker"
BEAT_HEARTBEAT_KEY = "health:beat"


def write_heartbeat(key: str) -> None:
    from django.core.cache import cache
    from django.db import close_old_connections

    close_old_connections()
    # A failed heartbeat shows up as a stale one in /healthz.
    with contextlib.suppress(Exception):
        cache.set(key, time.time(), timeout=3600)


class WorkerHeartbeat(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        self.tref: Any = None

    def start(self, worker: Any) -> None:
        from django.conf import settings

        write_heartbeat(WORKER_HEARTBEAT_KEY)
        self.tref = worker.timer.call_repeatedly(
            settings.WORKER_HEARTBEAT_SECONDS, write_heartbeat, (WORKER_HEARTBEAT_KEY,), priority=10
        )

    def stop(self, worker: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()


app.steps["worker"].add(WorkerHeartbeat)


@signals.task_prerun.connect
@signals.task_postrun.connect
def _drop_stale_connections(**kwargs: Any) -> None:
    """Honour CONN_MAX_AGE and drop broken connections while connections are reused."""
    from django.db import close_old_connections

    close_old_connections()


@app.task(name="qingfeng.beat_heartbeat", ignore_result=True)
def beat_heartbeat() -> None:
    write_heartbeat(BEAT_HEARTBEAT_KEY)
