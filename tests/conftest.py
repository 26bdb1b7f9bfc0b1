"""Shared fixtures: real database, real broker, real worker and web server processes.

With CI=true the suite refuses to run (exit 3) unless DATABASE_URL and REDIS_URL point
at reachable PostgreSQL and Redis servers: it never silently falls back or skips.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

# Browser fixtures (browser, orm, screens) for every journey module.
pytest_plugins = ["tests.browser"]

BASE_DIR = Path(__file__).resolve().parent.parent
OUTPUT_DIR = Path(os.environ.get("QINGFENG_TEST_OUTPUT", BASE_DIR / "test-output"))

def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=3):
            return True
    except OSError:
        return False


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("CI", "").lower() not in {"1", "true", "yes"}:
        return
    db, redis = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    problems = []
    if not db.startswith("postgres"):
        problems.append("DATABASE_URL must point at PostgreSQL")
    elif not _reachable(db, 5432):
        problems.append(f"PostgreSQL at {urlparse(db).hostname}:{urlparse(db).port or 5432} is unreachable")
    if not redis.startswith("redis"):
        problems.append("REDIS_URL must point at Redis")
    elif not _reachable(redis, 6379):
        problems.append(f"Redis at {urlparse(redis).hostname}:{urlparse(redis).port or 6379} is unreachable")
    if problems:
        pytest.exit("CI needs real services: " + "; ".join(problems), returncode=3)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url_for_tests() -> str:
    """The URL of the test database pytest-django created, for child processes."""
    from django.db import connection

    cfg = connection.settings_dict
    if cfg["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{cfg['NAME']}"
    user = cfg.get("USER") or ""
    auth = f"{user}@" if user else ""
    return f"postgres://{auth}{cfg.get('HOST') or '127.0.0.1'}:{cfg.get('PORT') or 5432}/{cfg['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url_for_tests()
    env.update(extra)
    return env


def using_postgres() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    return OUTPUT_DIR


class Process:
    """A child process whose combined output goes to a log file we can read back."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}-{os.getpid()}-{int(time.time() * 1000)}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, cwd=BASE_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture(scope="session")
def log_dir(output_dir: Path) -> Path:
    path = output_dir / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def start_worker(log_dir: Path, *, name: str = "worker", concurrency: int = 1) -> Process:
    from django.conf import settings

    cmd = [
        sys.executable, "-m", "celery", "-A", "config", "worker",
        "-Q", f"{settings.TRIAGE_QUEUE},{settings.CELERY_TASK_DEFAULT_QUEUE}",
        "--concurrency", str(concurrency), "--loglevel", "INFO", "--without-gossip", "--without-mingle",
        "-n", f"{name}-{os.getpid()}-{time.time_ns()}@%h",
    ]
    worker = Process(name, cmd, child_env(), log_dir)
    deadline = time.time() + 60
    while time.time() < deadline:
        if "ready." in worker.log_text():
            return worker
        if worker.proc.poll() is not None:
            raise RuntimeError("worker died:\n" + worker.log_text())
        time.sleep(0.2)
    worker.stop()
    raise RuntimeError("worker did not start:\n" + worker.log_text())


@pytest.fixture
def celery_worker(transactional_db: Any, log_dir: Path) -> Iterator[Process]:
    """A real Celery worker process on the configured broker and the test database."""
    from django.conf import settings

    from config.celery import app

    with app.connection_for_write() as conn:
        for queue in (settings.TRIAGE_QUEUE, settings.CELERY_TASK_DEFAULT_QUEUE):
            with contextlib.suppress(Exception):  # the queue may not exist yet
                conn.default_channel.queue_purge(queue)
    worker = start_worker(log_dir)
    yield worker
    worker.stop()


@pytest.fixture
def live_server_url(transactional_db: Any, log_dir: Path) -> Iterator[str]:
    """The real web server (gunicorn, as `./qingfeng up` runs it) on the test database."""
    port = free_port()
    cmd = [
        str(Path(sys.executable).parent / "gunicorn"), "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
        "--workers", "2", "--error-logfile", "-", "--log-level", "warning",
    ]
    server = Process("web", cmd, child_env(), log_dir)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/", timeout=2).read()
            break
        except OSError:
            if server.proc.poll() is not None:
                raise RuntimeError("web server died:\n" + server.log_text()) from None
            time.sleep(0.2)
    yield url
    server.stop()


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """A request in another language (LocaleMiddleware) leaves it active in the test's
    thread: messages the next test reads outside a request would come out in English."""
    yield
    from django.utils import translation

    translation.deactivate()


@pytest.fixture
def demo_org(db: Any) -> None:
    from triage.demo import seed_organisation, seed_roles, seed_route_rules, seed_triage_defaults

    seed_organisation()
    seed_roles()
    seed_triage_defaults()
    seed_route_rules()


@pytest.fixture
def clerk(demo_org: None) -> Any:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from triage.models import Department, StaffProfile

    user = get_user_model().objects.create_user("clerk1", password="clerk-password-123")
    user.groups.add(Group.objects.get(name="intake_clerk"))
    StaffProfile.objects.create(user=user, department=Department.objects.get(code="379900-xf"))
    return user


def migrate_to(target: list[tuple[str, str]]) -> Any:
    """Migrate the test database to `target` ([] leaves: the latest) and return the apps
    (historical models) of that state, for tests of data migrations."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    target = target or executor.loader.graph.leaf_nodes()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def wait_for(predicate: Any, *, timeout: float = 30, interval: float = 0.2) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


TRAINING_ROWS = 2400  # enough for a useful model in tests, quick to train


@pytest.fixture(scope="session")
def classifier_artifact() -> bytes:
    """A classifier trained once per test session on part of the shared labelled data."""
    from django.conf import settings

    from triage import learning
    from triage.training import read_csv

    examples = read_csv(settings.TRAINING_CSV, text_column="text", label_column="label", where={"split": "train"})
    examples = examples[:: max(1, len(examples) // TRAINING_ROWS)]  # every k-th row: all categories
    return learning.fit([e.text for e in examples], [e.label for e in examples]).dumps()


@pytest.fixture(scope="session")
def classifier_serving(classifier_artifact: bytes) -> bytes:
    """The session classifier compiled for serving, as training stores it."""
    from triage import learning

    return learning.compile_artifact(classifier_artifact).dumps()


@pytest.fixture
def active_classifier(db: Any, classifier_artifact: bytes, classifier_serving: bytes) -> Any:
    from triage.decide import forget_caches
    from triage.models import ClassifierModel

    model = ClassifierModel.objects.create(version="test-model", is_active=True, metrics={"macro_f1": 0.9},
                                           data_hash="0" * 64, artifact=classifier_artifact, serving=classifier_serving)
    forget_caches()
    yield model
    forget_caches()
