"""Signed webhook deliveries (the recipe a receiver follows is in README: 通知 Webhook).

Signature: hex HMAC-SHA256 with the endpoint's secret over `timestamp + "." + body`, sent
as `X-Qingfeng-Signature: sha256=<hex>` with `X-Qingfeng-Timestamp` (Unix seconds) and
`X-Qingfeng-Id`. The timestamp inside the MAC lets receivers reject replays older than
five minutes; the id (the same on every retry) lets them reject repeats within that window.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class PostResult:
    ok: bool
    status_code: int | None
    error: str


def post(*, url: str, secret: str, payload: dict[str, Any], kind: str, timeout: float) -> PostResult:
    body = encode(payload)
    timestamp = int(time.time())
    request = urllib.request.Request(url, data=body, method="POST", headers={  # noqa: S310 - admin-configured URL
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Qingfeng-Webhook/1",
        "X-Qingfeng-Id": str(payload["id"]),
        "X-Qingfeng-Event": kind,
        "X-Qingfeng-Timestamp": str(timestamp),
        "X-Qingfeng-Signature": sign(secret, timestamp, body),
    })
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return PostResult(ok=200 <= response.status < 300, status_code=response.status, error="")
    except urllib.error.HTTPError as exc:
        return PostResult(ok=False, status_code=exc.code, error=f"HTTP {exc.code}")
    except (OSError, ValueError) as exc:  # refused, timeout, bad URL
        return PostResult(ok=False, status_code=None, error=type(exc).__name__)
