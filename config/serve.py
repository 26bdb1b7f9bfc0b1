"""Run web server, Celery worker and Celery beat together in the foreground.

`python -m config.serve [--host H] [--port P]`. Stops all three when one exits or on
Ctrl-C. The web server writes no access log: citizen requests leave no trace.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def commands(host: str, port: int, web_workers: int, worker_concurrency: int) -> dict[str, list[str]]:
    bin_dir = Path(sys.executable).parent
    prefix = os.environ.get("QINGFENG_QUEUE_PREFIX", "")
    queues = f"{prefix}triage,{prefix}default"
    return {
        "web": [
            str(bin_dir / "gunicorn"), "config.wsgi:application",
            "--bind", f"{host}:{port}",
            "--workers", str(web_workers),
            "--timeout", "60",
            "--graceful-timeout", "10",
            # No access log: it would hold request lines; gunicorn's error log has no addresses.
            "--error-logfile", "-",
            "--log-level", "warning",
        ],
        "worker": [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "-Q", queues, "--concurrency", str(worker_concurrency),
            "--loglevel", "INFO", "--without-gossip", "--without-mingle", "-n", f"worker-{os.getpid()}@%h",
        ],
        "beat": [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("QINGFENG_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("QINGFENG_PORT", "8000")))
    parser.add_argument("--web-workers", type=int, default=int(os.environ.get("QINGFENG_WEB_WORKERS", "3")))
    parser.add_argument("--worker-concurrency", type=int, default=int(os.environ.get("QINGFENG_WORKER_CONCURRENCY", "2")))
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name, cmd in commands(args.host, args.port, args.web_workers, args.worker_concurrency).items():
        procs[name] = subprocess.Popen(cmd, cwd=BASE_DIR)

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    try:
        while not stopping:
            for name, proc in procs.items():
                code = proc.poll()
                if code is not None:
                    print(f"[serve] {name} exited with {code}; stopping.", file=sys.stderr, flush=True)
                    exit_code = code or 1
                    stopping = True
                    break
            time.sleep(0.5)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.time() + 15
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
