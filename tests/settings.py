"""Test settings: the project settings, with the environment a test run needs.

Only environment defaults are set here (fixed test keys, a test var dir, a cache prefix
per run); everything else is config.settings exactly as production reads it.
"""

import base64
import os
from pathlib import Path

_BASE = Path(__file__).resolve().parent.parent
os.environ["QINGFENG_TESTING"] = "1"
os.environ.setdefault("QINGFENG_VAR_DIR", str(_BASE / "var" / "test"))
os.environ.setdefault(
    "QINGFENG_KEYS",
    "t2:" + base64.b64encode(b"\x02" * 32).decode() + ",t1:" + base64.b64encode(b"\x01" * 32).decode(),
)
os.environ.setdefault("QINGFENG_RECEIPT_PEPPER", base64.b64encode(b"\x07" * 32).decode())
os.environ.setdefault("QINGFENG_CACHE_PREFIX", f"qftest{os.getpid()}")
# Queues of their own: a concurrent run's worker on the same Redis never takes our tasks.
os.environ.setdefault("QINGFENG_QUEUE_PREFIX", f"test{os.getpid()}-")

from config.settings import *  # noqa: E402, F403
