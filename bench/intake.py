"""Intake throughput benchmark: how many citizen reports per second the real server takes.

What it measures
----------------
1. Load, against the real production stack: gunicorn `config.wsgi:application` started with
   exactly the flags of `config/serve.py` (3 workers), the production settings profile
   (`QINGFENG_ENV=production`, DEBUG off), PostgreSQL, Redis (cache and Celery broker)
   and one Celery worker consuming the `triage` and `default` queues. For each
   concurrency level N client threads submit realistic Chinese reports for a fixed time
   after a short warm-up, to
     - the web form `/report/`: every submission needs a fresh GET first (the hidden
       `form_token` is single-use; a CSRF cookie/token too, if the page sets them), then a
       multipart POST. Only the POST is timed, but the GET's cost stays in the throughput;
     - the JSON API `POST /api/v1/reports/`.
   Reported per level: successful 201s per second, p50/p95 latency, errors, and the CPU
   each part of the machine spent per successful submission.
2. Cost split, in this process: 200 calls of `intake.services.report_submit` against the
   same bench database, with timing shims (monkeypatched module attributes, in this
   process only) around `crypto.receipt_hash` (Argon2id), the AES-GCM functions
   (`crypto.seal`, `crypto.wrap_data_key`, `crypto.new_data_key`), the broker publish
   (`handoff.queue_triage`) and SQL execution (Django's `execute_wrapper`).

Isolation: a database `qingfeng_bench` is created on the server of `--database-url`
(migrated, cache table created, `seed_org` run) and dropped at the end; the database in
the URL itself is never written. Throwaway keys are generated for the run. Redis uses a
database of its own (default `/15`) so the bench's Celery worker and queues never meet
those of a test run or a developer's server on `/0`; cache keys carry the prefix `bench`.

Run:
    cd /work/main && .venv/bin/python bench/intake.py \
        [--database-url URL] [--redis-url URL] [--duration SECONDS] [--concurrency 1,10,20,50]

Defaults finish in about three minutes on two cores. Extra QINGFENG_* variables in the
environment reach the server too, e.g. QINGFENG_RECEIPT_HASH_MEMORY_KIB=4096 to try a cheaper hash.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.client
import json
import math
import os
import random
import re
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
# Run as a script, this file's directory comes first on sys.path, and this module's name
# would shadow the `intake` app: put the project root there instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(BASE_DIR))
from bench.harness import (  # noqa: E402 - after sys.path is set
    DATASETS,
    Child,
    bench_env,
    create_database,
    db_backends,
    drop_database,
    machine_cpu,
    manage,
    queue_length,
    redis_delete,
    self_cpu,
    table,
    tree_cpu_seconds,
    with_database,
)

DATASET = DATASETS / "messages_unlabelled.csv"
BENCH_DB = "qingfeng_bench"
CACHE_PREFIX = "bench"
TARGET_CLIENTS = 20
TARGET_RATE = 40.0
TARGET_P95_MS = 1000.0
HTTP_TIMEOUT = 65.0  # a little over gunicorn's --timeout 60
NAMED_SHARE = 0.25  # share of reports that give name, mobile and ID number


# --- report content ------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    title: str
    body: str


def load_messages(path: Path = DATASET) -> tuple[list[Message], str]:
    """Texts from the shared dataset (its longest text column), else generated ones."""
    if path.is_file():
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        if rows:
            columns = list(rows[0].keys())
            lengths = {c: sum(len(r.get(c) or "") for r in rows) for c in columns}
            body_col = max(columns, key=lambda c: lengths[c])
            title_col = "title" if "title" in columns and body_col != "title" else None
            out = []
            for row in rows:
                body = (row.get(body_col) or "").replace("\x00", "").strip()[:20000]
                if len(body) < 10:
                    continue
                title = (row.get(title_col) or "").strip()[:500] if title_col else body[:30]
                out.append(Message(title=title, body=body))
            if out:
                return out, f"{path} (column {body_col!r}, {len(out)} texts)"
    places = ["幸福小区", "人民路菜市场", "第三中学", "城南工业园", "滨江花园", "青石镇卫生院"]
    problems = [
        "夜间施工噪音严重扰民，已持续两个多月，多次向物业和社区反映均无结果",
        "有商户长期占道经营，垃圾随意堆放，行人只能走机动车道，存在安全隐患",
        "单位拖欠工资三个月，负责人一直推脱，多名员工生活困难",
        "有工作人员办理业务时收取额外费用，且不开具任何票据",
        "小区供水水压不足，高层住户经常停水，物业称需要政府协调",
    ]
    generated = []
    for i in range(500):
        place, problem = places[i % len(places)], problems[(i // len(places)) % len(problems)]
        body = f"您好，我是{place}附近的居民。{problem}。恳请相关部门尽快调查处理，谢谢！"
        generated.append(Message(title=f"关于{place}的问题反映", body=body))
    return generated, "generated texts (dataset not found)"


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚"


def fake_id_number(rng: random.Random) -> str:
    stem = f"379901{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return stem + _ID_CHECK[sum(int(d) * w for d, w in zip(stem, _ID_WEIGHTS, strict=True)) % 11]


@dataclass(frozen=True)
class Report:
    matter_type: str
    area: str
    place_detail: str
    title: str
    body: str
    occurred: str
    accused: str
    name: str
    mobile: str
    id_number: str


class ReportFactory:
    """Thread-safe source of realistic reports."""

    def __init__(self, messages: list[Message], matter_types: list[str], areas: list[str]) -> None:
        self.messages = messages
        self.matter_types = matter_types
        self.areas = areas
        self._lock = threading.Lock()
        self._rng = random.Random(20260101)

    def make(self) -> Report:
        with self._lock:
            rng = self._rng
            msg = rng.choice(self.messages)
            named = rng.random() < NAMED_SHARE
            return Report(
                matter_type=rng.choice([*self.matter_types, ""]),
                area=rng.choice(self.areas) if self.areas and rng.random() < 0.7 else "",
                place_detail=rng.choice(["", "人民路88号附近", "小区东门", "菜市场二楼"]),
                title=msg.title,
                body=msg.body,
                occurred=rng.choice(["", "近三个月", "2026年3月", "每天晚上十点以后"]),
                accused=rng.choice(["", "", "某物业公司", "该店负责人"]),
                name=(rng.choice(_SURNAMES) + rng.choice(_GIVEN) + rng.choice(["", *_GIVEN])) if named else "",
                mobile=f"13{rng.randint(0, 9)}{rng.randint(0, 99_999_999):08d}" if named else "",
                id_number=fake_id_number(rng) if named else "",
            )


# --- HTTP clients --------------------------------------------------------------------------


class SubmitError(Exception):
    def __init__(self, reason: str, detail: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", detail.decode("utf-8", "replace"))).strip()[:300]


def _request(port: int, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    # gunicorn's sync workers close every connection after the response: one per request.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    try:
        conn.request(method, path, body=body, headers={"Accept-Language": "zh-CN,zh;q=0.9", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


_HIDDEN = {name: re.compile(rf'name="{name}" value="([^"]+)"') for name in ("csrfmiddlewaretoken", "form_token")}


def _multipart(fields: list[tuple[str, str]]) -> tuple[bytes, str]:
    boundary = "----qfbench" + secrets.token_hex(12)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode() + b"\r\n"
        for name, value in fields
    ]
    # What a browser sends for a file input left empty.
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; filename=""\r\n'
        "Content-Type: application/octet-stream\r\n\r\n\r\n".encode()
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def submit_form(port: int, report: Report) -> float:
    """GET /report/ (untimed), then the multipart POST; returns the POST's latency.

    The page's single-use `form_token` is required; a CSRF token and cookie are sent back
    only if the page hands them out (the view may be CSRF-exempt).
    """
    status, headers, page = _request(port, "GET", "/report/")
    if status != 200:
        raise SubmitError(f"GET {status}", page)
    html = page.decode("utf-8", "replace")
    form_token = _HIDDEN["form_token"].search(html)
    if form_token is None:
        raise SubmitError("GET without form_token", page)
    fields = [("form_token", form_token.group(1))]
    post_headers: dict[str, str] = {}
    csrf_field = _HIDDEN["csrfmiddlewaretoken"].search(html)
    if csrf_field is not None:
        cookies = SimpleCookie()
        for item in headers.get_all("Set-Cookie") or []:
            cookies.load(item)
        if "csrftoken" not in cookies:
            raise SubmitError("GET without CSRF cookie")
        fields.append(("csrfmiddlewaretoken", csrf_field.group(1)))
        post_headers["Cookie"] = f"csrftoken={cookies['csrftoken'].value}"
    fields += [
        ("matter_type", report.matter_type),
        ("title", report.title),
        ("body", report.body),
        ("area", report.area),
        ("place_detail", report.place_detail),
        ("occurred", report.occurred),
        ("accused", report.accused),
        ("name", report.name),
        ("mobile", report.mobile),
        ("id_number", report.id_number),
    ]
    body, content_type = _multipart(fields)
    started = time.perf_counter()
    status, _headers, reply = _request(port, "POST", "/report/", body, {"Content-Type": content_type, **post_headers})
    latency = time.perf_counter() - started
    if status != 201:
        raise SubmitError(f"POST {status}", reply)
    return latency


def submit_api(port: int, report: Report) -> float:
    payload: dict[str, Any] = {
        "matter_type": report.matter_type,
        "area_code": report.area,
        "place_detail": report.place_detail,
        "title": report.title,
        "body": report.body,
        "occurred": report.occurred,
        "accused": report.accused,
    }
    if report.name:
        payload["identity"] = {"name": report.name, "mobile": report.mobile, "id_number": report.id_number}
    body = json.dumps(payload, ensure_ascii=False).encode()
    started = time.perf_counter()
    status, _headers, reply = _request(port, "POST", "/api/v1/reports/", body, {"Content-Type": "application/json"})
    latency = time.perf_counter() - started
    if status != 201:
        raise SubmitError(f"POST {status}", reply)
    if b'"receipt"' not in reply:
        raise SubmitError("201 without receipt")
    return latency


ENDPOINTS: dict[str, tuple[str, Callable[[int, Report], float]]] = {
    "form": ("web form /report/ (GET+POST, POST timed)", submit_form),
    "api": ("JSON API /api/v1/reports/", submit_api),
}


# --- CPU accounting ---------------------------------------------------------------------------


def bench_db_backends() -> dict[int, float]:
    return db_backends(BENCH_DB)


@dataclass
class CpuSnapshot:
    web: float
    worker: float
    client: float
    db: dict[int, float]
    busy: float
    total: float

    @classmethod
    def take(cls, web_pid: int, worker_pid: int) -> CpuSnapshot:
        busy, total = machine_cpu()
        return cls(tree_cpu_seconds(web_pid), tree_cpu_seconds(worker_pid), self_cpu(), bench_db_backends(), busy, total)

    def db_since(self, before: CpuSnapshot) -> float:
        # Backends that started during the window count whole; ones that ended are lost.
        return sum(cpu - before.db.get(pid, 0.0) for pid, cpu in self.db.items())


def background_busy(seconds: float) -> float:
    """Machine CPU use (%) while the bench is idle: other people's load on the box."""
    busy0, total0 = machine_cpu()
    time.sleep(seconds)
    busy1, total1 = machine_cpu()
    return 100 * (busy1 - busy0) / max(1e-9, total1 - total0)


# --- load ----------------------------------------------------------------------------------------


@dataclass
class LevelResult:
    endpoint: str
    clients: int
    duration: float
    latencies: list[float] = field(default_factory=list)
    completed_in_window: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    first_error: str = ""
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.completed_in_window / self.duration

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(p * len(ordered)) - 1)] * 1000


def run_level(endpoint: str, clients: int, *, port: int, factory: ReportFactory, warmup: float, duration: float,
              web_pid: int, worker_pid: int) -> LevelResult:
    submit = ENDPOINTS[endpoint][1]
    result = LevelResult(endpoint=endpoint, clients=clients, duration=duration)
    lock = threading.Lock()
    t0 = time.perf_counter()
    window_start, window_end = t0 + warmup, t0 + warmup + duration

    def client() -> None:
        while time.perf_counter() < window_end:
            report = factory.make()
            try:
                latency = submit(port, report)
                reason = ""
            except SubmitError as exc:
                latency, reason = 0.0, exc.reason
                if not result.first_error:
                    result.first_error = f"{exc.reason}: {exc.detail}"
            except Exception as exc:
                latency, reason = 0.0, type(exc).__name__
            finished = time.perf_counter()
            if finished - latency < window_start:
                continue  # started during warm-up
            with lock:
                if reason:
                    result.errors[reason] += 1
                else:
                    result.latencies.append(latency)
                    if finished <= window_end:
                        result.completed_in_window += 1

    threads = [threading.Thread(target=client, name=f"{endpoint}-{i}", daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, window_start - time.perf_counter()))
    before = CpuSnapshot.take(web_pid, worker_pid)
    time.sleep(max(0.0, window_end - time.perf_counter()))
    after = CpuSnapshot.take(web_pid, worker_pid)
    for thread in threads:
        thread.join(timeout=HTTP_TIMEOUT + 5)
    n = max(1, result.completed_in_window)
    web, worker, client_cpu = after.web - before.web, after.worker - before.worker, after.client - before.client
    db = after.db_since(before)
    busy = after.busy - before.busy
    result.cpu = {
        "web": web / n * 1000,
        "worker": worker / n * 1000,
        "client": client_cpu / n * 1000,
        "postgres": db / n * 1000,
        "other": max(0.0, busy - web - worker - client_cpu - db) / n * 1000,
        "busy%": 100 * busy / max(1e-9, after.total - before.total),
    }
    server_ms = result.cpu["web"] + result.cpu["worker"] + result.cpu["postgres"]
    result.cpu["ceiling"] = (os.cpu_count() or 1) * 1000 / server_ms if result.completed_in_window else 0.0
    return result


# --- in-process cost split -----------------------------------------------------------------------


@dataclass
class CostSplit:
    calls: int
    total: float
    parts: dict[str, float]


def cost_split(factory: ReportFactory, calls: int) -> CostSplit:
    """Time report_submit end to end, and the crypto, broker and SQL time inside it."""
    from django.db import connection

    from intake import crypto, handoff
    from intake.models import Channel, Source
    from intake.services import IdentityInput, ReportInput, report_submit

    spent: dict[str, float] = defaultdict(float)

    def shim(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - started

        return timed

    def sql_timer(execute: Callable[..., Any], query: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(query, params, many, context)
        finally:
            spent["sql"] += time.perf_counter() - started

    patches: list[tuple[Any, str, str]] = [
        (crypto, "receipt_hash", "argon2"),
        (crypto, "seal", "aes"),
        (crypto, "wrap_data_key", "aes"),
        (crypto, "new_data_key", "aes"),
        (handoff, "queue_triage", "broker"),
    ]
    originals = [(module, name, getattr(module, name)) for module, name, _label in patches]

    def one() -> None:
        r = factory.make()
        identity = IdentityInput(name=r.name, mobile=r.mobile, id_number=r.id_number) if r.name else None
        report_submit(data=ReportInput(
            channel=Channel.WEB, source=Source.API, matter_type=r.matter_type, area_code=r.area,
            place_detail=r.place_detail, title=r.title, body=r.body, occurred=r.occurred, accused=r.accused,
            identity=identity,
        ))

    try:
        for module, name, label in patches:
            setattr(module, name, shim(label, getattr(module, name)))
        for _ in range(5):  # connections, keyring, first-use imports
            one()
        spent.clear()
        total = 0.0
        with connection.execute_wrapper(sql_timer):
            for _ in range(calls):
                started = time.perf_counter()
                one()
                total += time.perf_counter() - started
    finally:
        for module, name, original in originals:
            setattr(module, name, original)
    return CostSplit(calls=calls, total=total, parts=dict(spent))


# --- environment: database, processes ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str, child: Child) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if child.proc.poll() is not None:
            raise RuntimeError(f"{what} exited:\n{child.log_text()[-4000:]}")
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start in {timeout:.0f}s:\n{child.log_text()[-4000:]}")


def http_ready(port: int) -> bool:
    try:
        return _request(port, "GET", "/")[0] < 500
    except OSError:
        return False


@contextlib.contextmanager
def stack(env: dict[str, str], log_dir: Path) -> Iterator[tuple[int, Child, Child]]:
    """gunicorn with config/serve.py's flags (3 workers) and one Celery worker."""
    from config.serve import commands

    port = free_port()
    cmds = commands("127.0.0.1", port, 3, 1)
    children: list[Child] = []
    try:
        worker = Child("celery-worker", cmds["worker"], env, log_dir)
        children.append(worker)
        web = Child("gunicorn", cmds["web"], env, log_dir)
        children.append(web)
        wait_until(lambda: http_ready(port), timeout=60, what="gunicorn", child=web)
        wait_until(lambda: "ready." in worker.log_text(), timeout=60, what="celery worker", child=worker)
        yield port, web, worker
    finally:
        for child in reversed(children):
            child.stop()


def redis_cleanup(redis_url: str) -> None:
    """Delete the bench's cache keys (form-token nonces, rate counters)."""
    redis_delete(redis_url, f"{CACHE_PREFIX}:*")


# --- output -------------------------------------------------------------------------------------


def verdict(results: list[LevelResult]) -> str:
    parts, holds = [], True
    for endpoint in ENDPOINTS:
        found = [r for r in results if r.endpoint == endpoint and r.clients == TARGET_CLIENTS]
        if not found:
            return f"TARGET NOT CHECKED: no run at {TARGET_CLIENTS} concurrent clients."
        r = found[0]
        ok = r.rate >= TARGET_RATE and r.percentile(0.95) < TARGET_P95_MS
        holds = holds and ok
        parts.append(f"{endpoint} {r.rate:.1f}/s p95 {r.percentile(0.95):.0f} ms ({'ok' if ok else 'MISSED'})")
    word = "HOLDS" if holds else "DOES NOT HOLD"
    return (f"TARGET {word}: >= {TARGET_RATE:.0f} submissions/s at {TARGET_CLIENTS} concurrent clients with "
            f"p95 < {TARGET_P95_MS / 1000:.0f} s for both endpoints -- " + "; ".join(parts))


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/test",
                        help=f"PostgreSQL server to use; the bench creates and drops database {BENCH_DB!r} on it")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15",
                        help="Redis for cache and Celery broker (default: database 15, away from /0's queues)")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per level (default 15)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each level (default 2)")
    parser.add_argument("--concurrency", default="1,10,20,50", help="client counts, comma-separated")
    parser.add_argument("--calls", type=int, default=200, help="in-process report_submit calls for the cost split")
    parser.add_argument("--keep-logs", action="store_true", help="keep server and worker logs (path printed)")
    args = parser.parse_args(argv)
    args.levels = [int(v) for v in args.concurrency.split(",") if v.strip()]
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must be a PostgreSQL URL")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work_dir = Path(tempfile.mkdtemp(prefix="qingfeng-bench-"))
    bench_url = with_database(args.database_url, BENCH_DB)
    messages, source = load_messages()
    results: list[LevelResult] = []
    split: CostSplit | None = None
    backlog = -1
    started = time.time()
    print(f"cores: {os.cpu_count()}  |  database: {bench_url} (PostgreSQL, created for this run)  |  "
          f"broker+cache: {args.redis_url} (Redis, cache prefix {CACHE_PREFIX!r})", flush=True)
    print(f"texts: {source}", flush=True)
    idle_busy = background_busy(2.0)
    print(f"machine CPU use before the run (other users' load): {idle_busy:.0f}%", flush=True)
    try:
        create_database(args.database_url, BENCH_DB)
        env = {**os.environ, **bench_env(bench_url, args.redis_url, work_dir / "var", cache_prefix=CACHE_PREFIX,
                                         QINGFENG_SUBMISSIONS_PER_MINUTE="1000000",
                                         QINGFENG_FORM_TOKEN_MIN_AGE_SECONDS="0")}  # noqa: S106 - not a secret
        for name in ("migrate", "createcachetable", "seed_org"):
            manage(env, name, *(["--noinput"] if name == "migrate" else []))
        os.environ.update(bench_env_subset(env))
        import django

        django.setup()
        from django.conf import settings

        from intake.models import Area, MatterType

        print(f"receipt hash: Argon2id, {settings.RECEIPT_HASH_MEMORY_KIB} KiB, time cost {settings.RECEIPT_HASH_TIME_COST}; "
              f"settings profile: {settings.ENVIRONMENT}, DEBUG={settings.DEBUG}", flush=True)

        factory = ReportFactory(messages, list(MatterType.values), list(Area.objects.values_list("code", flat=True)))
        with stack(env, work_dir) as (port, web, worker):
            print(f"server: gunicorn config.wsgi:application, 3 sync workers (config/serve.py flags), port {port}; "
                  f"celery worker -Q triage,default --concurrency 1; setup took {time.time() - started:.0f}s", flush=True)
            for endpoint in ENDPOINTS:
                for clients in args.levels:
                    r = run_level(endpoint, clients, port=port, factory=factory, warmup=args.warmup,
                                  duration=args.duration, web_pid=web.proc.pid, worker_pid=worker.proc.pid)
                    results.append(r)
                    errs = ", ".join(f"{k} x{v}" for k, v in r.errors.most_common(3))
                    print(f"  {endpoint:4} {clients:3} clients: {r.rate:6.1f}/s  p95 {r.percentile(0.95):7.0f} ms"
                          f"{'  errors: ' + errs if errs else ''}", flush=True)
                    if r.first_error:
                        print(f"       first error: {r.first_error}", flush=True)
            split = cost_split(factory, args.calls)
            deadline = time.time() + 20
            while (backlog := queue_length(args.redis_url, "triage")) and time.time() < deadline:
                time.sleep(0.5)
            from django.db import connections

            connections.close_all()
    finally:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        drop_database(args.database_url, BENCH_DB)
        with contextlib.suppress(Exception):
            redis_cleanup(args.redis_url)
        if args.keep_logs:
            print(f"logs kept in {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)

    print()
    print("Load (successful 201s per second over the measured window; latency of the submitting POST)")
    print(table(
        ["endpoint", "clients", "submissions/s", "p50 ms", "p95 ms", "errors"],
        [[r.endpoint, str(r.clients), f"{r.rate:.1f}", f"{r.percentile(0.5):.0f}", f"{r.percentile(0.95):.0f}",
          str(sum(r.errors.values()))] for r in results],
    ))
    print("  form = GET /report/ then multipart POST (each form_token is single-use, so every submission needs the GET;")
    print("         only the POST is timed, the GET's server cost is in the throughput);")
    print("  api  = POST /api/v1/reports/ JSON.")
    print()
    print("CPU per successful submission (ms; web = gunicorn master+workers, worker = Celery, client = this load")
    print("generator, postgres = live backends of the bench database, other = everything else on the machine: Redis,")
    print("kernel, and other users' processes; busy = machine CPU use during the window; ceiling = cores x 1000 /")
    print("(web + worker + postgres): submissions/s this host could reach if CPU-bound with nothing else on it)")
    print(table(
        ["endpoint", "clients", "web", "worker", "client", "postgres", "other", "busy %", "ceiling/s"],
        [[r.endpoint, str(r.clients), f"{r.cpu['web']:.1f}", f"{r.cpu['worker']:.1f}", f"{r.cpu['client']:.1f}",
          f"{r.cpu['postgres']:.1f}", f"{r.cpu['other']:.1f}", f"{r.cpu['busy%']:.0f}", f"{r.cpu['ceiling']:.0f}"]
         for r in results],
    ))
    if split is not None:
        per = split.total / split.calls * 1000
        labels = {
            "argon2": "receipt_hash (Argon2id)",
            "aes": "AES-GCM seal/wrap/new key",
            "sql": "SQL execute (excl. COMMIT)",
            "broker": "broker publish (queue_triage)",
        }
        rows = [[label, f"{split.parts.get(key, 0.0) / split.calls * 1000:.2f}",
                 f"{100 * split.parts.get(key, 0.0) / split.total:.1f}%"] for key, label in labels.items()]
        rest = split.total - sum(split.parts.get(key, 0.0) for key in labels)
        rows.append(["other (validation, ORM, COMMIT)", f"{rest / split.calls * 1000:.2f}", f"{100 * rest / split.total:.1f}%"])
        rows.append(["report_submit total", f"{per:.2f}", "100.0%"])
        print()
        print(f"Cost split: {split.calls} in-process calls of intake.services.report_submit "
              f"({int(NAMED_SHARE * 100)}% with identity), single thread")
        print(table(["part", "ms/submission", "share"], rows))
    print()
    if backlog >= 0:
        print(f"triage queue backlog after the run: {backlog} task(s)")
    print(f"cores: {os.cpu_count()}; database: PostgreSQL ({bench_url}); broker: Redis ({args.redis_url}); "
          f"total run time {time.time() - started:.0f}s")
    if idle_busy > 10 or any(r.cpu.get("other", 0.0) > r.cpu.get("web", 0.0) for r in results):
        print(f"WARNING: the machine was not idle (background CPU {idle_busy:.0f}% before the run; see 'other'): "
              "results understate what the application can do on a dedicated host.")
    print(verdict(results))
    return 0


def bench_env_subset(env: dict[str, str]) -> dict[str, str]:
    """The bench variables for configuring Django in this process."""
    names = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "QINGFENG_CACHE_PREFIX",
             "QINGFENG_SUBMISSIONS_PER_MINUTE", "QINGFENG_FORM_TOKEN_MIN_AGE_SECONDS", "QINGFENG_KEYS",
             "QINGFENG_RECEIPT_PEPPER", "QINGFENG_VAR_DIR", "QINGFENG_ENV", "DJANGO_SECRET_KEY",
             "DJANGO_ALLOWED_HOSTS", "QINGFENG_SSL_REDIRECT")
    return {name: env[name] for name in names}


if __name__ == "__main__":
    sys.exit(main())
