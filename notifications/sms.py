"""Pluggable SMS senders for reporters who opted in. `settings.SMS_BACKEND` names the
class; a real gateway subclasses BaseSMSBackend and implements `send`."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class BaseSMSBackend:
    def send(self, *, to: str, text: str) -> None:
        raise NotImplementedError


class ConsoleSMSBackend(BaseSMSBackend):
    """Development: prints the message; the number is masked so logs never hold it."""

    def send(self, *, to: str, text: str) -> None:
        print(f"SMS to {mask(to)}: {text}", flush=True)


class FileSMSBackend(BaseSMSBackend):
    """Tests and trials: one JSON file per message in SMS_FILE_PATH."""

    def send(self, *, to: str, text: str) -> None:
        directory = Path(settings.SMS_FILE_PATH)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{time.time_ns()}.json"
        path.write_text(json.dumps({"to": to, "text": text}, ensure_ascii=False))


def mask(number: str) -> str:
    return number[:3] + "****" + number[-4:] if len(number) >= 7 else "****"


def sms_backend() -> BaseSMSBackend:
    return import_string(settings.SMS_BACKEND)()  # type: ignore[no-any-return]
