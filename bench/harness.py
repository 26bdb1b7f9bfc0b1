"""What every benchmark here needs: a throwaway PostgreSQL database, the production
settings profile with throwaway keys, child processes with logs, CPU accounting from
/proc, Redis housekeeping, and plain-text tables.

Imported by the bench scripts (run as `python bench/<name>.py` from the project root,
which puts the root on sys.path first)."""

from __future__ import annotations

import base64
import contextlib
import os
import resource
import secrets
import signal
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

BASE_DIR = Path(__file__).resolve().parent.parent
DATASETS = BASE_DIR.parent / "shared" / "datasets"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- database -------------------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def admin_connect(url: str) -> psycopg.Connection[Any]:
    """Autocommit connection to the server's maintenance database (else the URL's own)."""
    try:
        return psycopg.connect(with_database(url, "postgres"), autocommit=True, connect_timeout=10)
    except psycopg.OperationalError:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)


def drop_database(url: str, name: str) -> None:
    with admin_connect(url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def create_database(url: str, name: str) -> None:
    """A fresh database `name` on the server of `url` (one left by an interrupted run goes)."""
    drop_database(url, name)
    with admin_connect(url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def pg_database_stats(url: str, name: str) -> dict[str, float]:
    """Cumulative statistics of a database: sessions opened, transactions, and the time its
    backends spent executing statements (ms)."""
    with admin_connect(url) as conn:
        row = conn.execute(
            "SELECT sessions, xact_commit + xact_rollback, active_time FROM pg_stat_database WHERE datname = %s",
            (name,),
        ).fetchone()
    if row is None:
        return {}
    return {"sessions": float(row[0]), "transactions": float(row[1]), "active_ms": float(row[2])}


# --- settings and processes -----------------------------------------------------------------


def bench_env(database_url: str, redis_url: str, var_dir: Path, *, cache_prefix: str, **extra: str) -> dict[str, str]:
    """The production settings profile, as deployed minus what needs TLS in front, with
    throwaway keys, pepper and secret, and the bench's own cache prefix."""

    def key() -> str:
        return base64.b64encode(os.urandom(32)).decode()

    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "QINGFENG_CACHE_PREFIX": cache_prefix,
        "QINGFENG_KEYS": f"k1:{key()}",
        "QINGFENG_RECEIPT_PEPPER": key(),
        "QINGFENG_VAR_DIR": str(var_dir),
        "QINGFENG_ENV": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "QINGFENG_SSL_REDIRECT": "0",
        **extra,
    }


def manage(env: dict[str, str], *args: str) -> str:
    """Run a management command in a child process; its stdout, or RuntimeError."""
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


class Child:
    """A child process in its own process group, output to a log file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, cwd=BASE_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


# --- CPU accounting from /proc -----------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """utime+stime of one process (0 once it is gone)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text()
        rest = fields[fields.rindex(")") + 2 :].split()
        return (int(rest[11]) + int(rest[12])) / CLK_TCK
    return 0.0


def children_of() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                children.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(entry))
    return children


def tree_cpu_seconds(root: int) -> float:
    """utime+stime of a process and its live descendants (e.g. prefork pool children)."""
    children = children_of()
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += process_cpu_seconds(pid)
        todo.extend(children.get(pid, []))
    return total


def db_backends(name: str) -> dict[int, float]:
    """CPU seconds of each live PostgreSQL backend serving database `name`."""
    out: dict[int, float] = {}
    marker = f" {name} ".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            title = Path(f"/proc/{entry}/cmdline").read_bytes()
            if title.startswith(b"postgres:") and marker in title:
                out[int(entry)] = process_cpu_seconds(int(entry))
    return out


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLK_TCK, sum(values[:8]) / CLK_TCK


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- Redis ---------------------------------------------------------------------------------------


def redis_client(redis_url: str) -> Any:
    import redis

    return redis.Redis.from_url(redis_url)


def queue_length(redis_url: str, queue: str) -> int:
    client = redis_client(redis_url)
    try:
        return int(client.llen(queue))
    finally:
        client.close()


def redis_delete(redis_url: str, *patterns: str) -> int:
    """Delete the keys matching any of the patterns; returns how many."""
    client = redis_client(redis_url)
    try:
        keys = [key for pattern in patterns for key in client.scan_iter(match=pattern, count=1000)]
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        return len(keys)
    finally:
        client.close()


# --- output --------------------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *(line(row) for row in rows)])
