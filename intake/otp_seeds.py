"""TOTP seeds encrypted at rest.

django-otp keeps each authenticator's seed as hex in `otp_totp_totpdevice.key`; whoever
reads that column (a backup, a replica, an SQL injection elsewhere) could compute every
second factor. Here the column holds the seed sealed with AES-256-GCM (intake.crypto,
bound to the device's user), and the model instance holds the hex seed in memory only:
opened when a row is loaded (post_init), sealed just before a write that includes the
key (pre_save), and put back in memory after it (post_save). django-otp's own code
(token checks, the enrolment QR code) keeps working on the in-memory hex seed. The admin
never shows a seed: django-otp's device admin (which shows the key and a QR code of it)
is replaced by a list that only removes devices (intake/admin.py).

A seed that fails to open (copied from another user's row, edited, or a wrong pepper)
verifies nothing: the device is held with a random seed nobody knows, an error is logged,
and the stored value is never overwritten. An administrator removes the device and the
user enrols again.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django_otp.plugins.otp_totp.models import TOTPDevice

from intake import crypto

logger = logging.getLogger(__name__)

_PLAIN = "_qingfeng_plain_seed"
_UNOPENED = "_qingfeng_unopened_seed"


def seed_aad(user_id: int | None) -> bytes:
    return crypto.field_aad(table="otp_totp_totpdevice", row_id=str(user_id), field="key")


def seal_seed(hex_seed: str, *, user_id: int | None) -> str:
    return crypto.seal_secret(bytes.fromhex(hex_seed), aad=seed_aad(user_id))


def open_seed(stored: str, *, user_id: int | None) -> str:
    return crypto.open_secret(stored, aad=seed_aad(user_id)).hex()


def _opened(sender: Any, instance: TOTPDevice, **kwargs: Any) -> None:
    stored = instance.__dict__.get("key")
    if isinstance(stored, str) and crypto.is_sealed_secret(stored):
        try:
            instance.key = open_seed(stored, user_id=instance.__dict__.get("user_id"))
        except crypto.DecryptionError:
            # Fail closed without breaking every page the user opens: the instance gets a
            # fresh random seed nobody knows (so it verifies no code), and a save writes
            # the stored value back unchanged (a wrong pepper must not destroy the seeds).
            logger.error("TOTP device %s: its seed does not open (moved or edited row, or another pepper)",
                         instance.__dict__.get("id"))
            instance.__dict__[_UNOPENED] = stored
            instance.key = secrets.token_hex(20)


def _sealing(sender: Any, instance: TOTPDevice, update_fields: Any = None, **kwargs: Any) -> None:
    if update_fields is not None and "key" not in update_fields:
        return
    unopened = instance.__dict__.get(_UNOPENED)
    if unopened is not None:
        setattr(instance, _PLAIN, instance.key)
        instance.key = unopened
    elif instance.key and not crypto.is_sealed_secret(instance.key):
        setattr(instance, _PLAIN, instance.key)
        instance.key = seal_seed(instance.key, user_id=instance.user_id)


def _sealed(sender: Any, instance: TOTPDevice, **kwargs: Any) -> None:
    plain = instance.__dict__.pop(_PLAIN, None)
    if plain is not None:
        instance.key = plain


def connect() -> None:
    from django.db.models.signals import post_init, post_save, pre_save

    from intake.models import StaffAuthenticator

    # Model signals name the class the instance was loaded as: the proxy is hooked up too.
    for model in (TOTPDevice, StaffAuthenticator):
        name = model._meta.label_lower
        post_init.connect(_opened, sender=model, weak=False, dispatch_uid=f"intake.otp_seed_open.{name}")
        pre_save.connect(_sealing, sender=model, weak=False, dispatch_uid=f"intake.otp_seed_seal.{name}")
        post_save.connect(_sealed, sender=model, weak=False, dispatch_uid=f"intake.otp_seed_restore.{name}")
