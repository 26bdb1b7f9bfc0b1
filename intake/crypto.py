"""Envelope encryption: the only code that touches keys.

Each report gets a random 256-bit data key. Fields are sealed with AES-256-GCM under it,
with associated data naming the table, row and field, so a ciphertext copied to another
row or column fails to open. Data keys are stored wrapped by a key-encryption key (KEK)
named by a key id; several KEKs may be configured, the first wraps, all unwrap.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Blob = bytes | memoryview  # what a BinaryField gives back

_VERSION = b"\x01"
_NONCE_BYTES = 12
KEY_BYTES = 32


class DecryptionError(Exception):
    """A ciphertext failed authentication: tampered, swapped or wrong key."""


@dataclass(frozen=True)
class Keyring:
    keys: dict[str, bytes]  # key id -> KEK, in configuration order
    primary_id: str
    receipt_pepper: bytes
    index_key: bytes  # keyed hashes that must be stable (idempotency keys, blind index)
    secret_key: bytes  # small server-side secrets in third-party columns (TOTP seeds)

    @property
    def primary(self) -> bytes:
        return self.keys[self.primary_id]


_lock = threading.Lock()
_cached: Keyring | None = None


def _decode_key(text: str, *, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except binascii.Error as exc:
        raise ImproperlyConfigured(f"{what} is not valid base64.") from exc
    if len(raw) != KEY_BYTES:
        raise ImproperlyConfigured(f"{what} must be {KEY_BYTES} bytes, got {len(raw)}.")
    return raw


def _new_key_file(path: Path) -> None:
    payload = {
        "keys": [{"id": "k" + secrets.token_hex(4), "key": base64.b64encode(os.urandom(KEY_BYTES)).decode()}],
        "receipt_pepper": base64.b64encode(os.urandom(KEY_BYTES)).decode(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process created it first
    with os.fdopen(fd, "w") as handle:
        json.dump(payload, handle, indent=2)


def load_keyring() -> Keyring:
    """Read keys from QINGFENG_KEYS or the key file (created in development)."""
    keys: dict[str, bytes] = {}
    pepper_text = settings.QINGFENG_RECEIPT_PEPPER
    if settings.QINGFENG_KEYS:
        for item in settings.QINGFENG_KEYS.split(","):
            kid, sep, value = item.strip().partition(":")
            if not sep or not kid:
                raise ImproperlyConfigured("QINGFENG_KEYS entries must look like 'id:base64key'.")
            keys[kid] = _decode_key(value, what=f"Key {kid}")
    else:
        path = Path(settings.QINGFENG_KEY_FILE)
        if not path.exists():
            if settings.PRODUCTION:
                raise ImproperlyConfigured("No encryption key configured.")
            _new_key_file(path)
        data = json.loads(path.read_text())
        for entry in data.get("keys", []):
            keys[str(entry["id"])] = _decode_key(entry["key"], what=f"Key {entry['id']}")
        pepper_text = pepper_text or data.get("receipt_pepper", "")
    if not keys:
        raise ImproperlyConfigured("No encryption key configured.")
    if not pepper_text:
        raise ImproperlyConfigured("QINGFENG_RECEIPT_PEPPER (or receipt_pepper in the key file) is required.")
    pepper = _decode_key(pepper_text, what="Receipt pepper")
    primary_id = next(iter(keys))
    index_key = hmac.new(pepper, b"qingfeng/index-key/v1", hashlib.sha256).digest()
    secret_key = hmac.new(pepper, b"qingfeng/secret-key/v1", hashlib.sha256).digest()
    return Keyring(keys=keys, primary_id=primary_id, receipt_pepper=pepper, index_key=index_key, secret_key=secret_key)


def keyring() -> Keyring:
    global _cached
    if _cached is None:
        with _lock:
            if _cached is None:
                _cached = load_keyring()
    return _cached


def reset_keyring_cache() -> None:
    """Forget the loaded keys (after configuration changes, and in tests)."""
    global _cached
    with _lock:
        _cached = None


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _wrap_aad(owner: str) -> bytes:
    return b"qingfeng/dek/v1|" + owner.encode()


def wrap_data_key(data_key: bytes, *, owner: str) -> tuple[str, bytes]:
    """Wrap a data key under the primary KEK; `owner` binds it to its row."""
    ring = keyring()
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(ring.primary).encrypt(nonce, data_key, _wrap_aad(owner))
    return ring.primary_id, _VERSION + nonce + sealed


def unwrap_data_key(wrapped: Blob, *, key_id: str, owner: str) -> bytes:
    ring = keyring()
    kek = ring.keys.get(key_id)
    if kek is None:
        raise DecryptionError(f"Key id {key_id!r} is not configured.")
    return _open(kek, bytes(wrapped), _wrap_aad(owner))


def field_aad(*, table: str, row_id: str, field: str) -> bytes:
    return f"qingfeng/field/v1|{table}|{row_id}|{field}".encode()


def seal(data_key: bytes, plaintext: bytes, *, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return _VERSION + nonce + AESGCM(data_key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _VERSION:
        raise DecryptionError("Malformed ciphertext.")
    nonce = blob[1 : 1 + _NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, blob[1 + _NONCE_BYTES :], aad)
    except InvalidTag as exc:
        raise DecryptionError("Ciphertext failed authentication.") from exc


def open_sealed(data_key: bytes, blob: Blob, *, aad: bytes) -> bytes:
    return _open(data_key, bytes(blob), aad)


def seal_text(data_key: bytes, text: str, *, aad: bytes) -> bytes:
    return seal(data_key, text.encode("utf-8"), aad=aad)


def open_text(data_key: bytes, blob: Blob, *, aad: bytes) -> str:
    return open_sealed(data_key, blob, aad=aad).decode("utf-8")


def keyed_hash(purpose: str, value: bytes) -> str:
    """A stable keyed hash (HMAC-SHA256) for lookups that must not reveal the value."""
    key = hmac.new(keyring().index_key, purpose.encode(), hashlib.sha256).digest()
    return hmac.new(key, value, hashlib.sha256).hexdigest()


def secret_box_key(secret: bytes, *, purpose: str) -> bytes:
    """Derive a 256-bit key from a client-held secret and the server's index key.

    Used for what only the client that holds the secret may read back later (the
    receipt in a replayed idempotent response): the database alone cannot open it.
    """
    return hmac.new(keyring().index_key, purpose.encode() + b"|" + secret, hashlib.sha256).digest()


SEALED_SECRET_PREFIX = "qf1$"  # noqa: S105 - a format marker, not a secret


def seal_secret(value: bytes, *, aad: bytes) -> str:
    """A short server-side secret as text, for a column this project does not own (a TOTP
    seed: 20 bytes become 70 characters). Sealed under a key derived from the receipt
    pepper, which lives outside the database and is never rotated (receipt hashes depend
    on it), so no key id is stored and KEK rotation does not touch these values."""
    blob = seal(keyring().secret_key, value, aad=aad)
    return SEALED_SECRET_PREFIX + base64.urlsafe_b64encode(blob).decode("ascii").rstrip("=")


def is_sealed_secret(text: str) -> bool:
    return text.startswith(SEALED_SECRET_PREFIX)


def open_secret(text: str, *, aad: bytes) -> bytes:
    body = text.removeprefix(SEALED_SECRET_PREFIX)
    try:
        blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as exc:
        raise DecryptionError("Malformed sealed secret.") from exc
    return _open(keyring().secret_key, blob, aad)


def receipt_hash(code: str) -> str:
    """Argon2id of the receipt digits, salted with the server-side pepper.

    Deterministic so that a receipt can be looked up; the pepper lives outside the
    database, so a stolen database cannot be brute-forced, and the memory cost makes
    guessing expensive even for someone who also has the pepper.
    """
    from argon2.low_level import Type, hash_secret_raw

    digest = hash_secret_raw(
        code.encode("ascii"),
        keyring().receipt_pepper,
        time_cost=settings.RECEIPT_HASH_TIME_COST,
        memory_cost=settings.RECEIPT_HASH_MEMORY_KIB,
        parallelism=1,
        hash_len=32,
        type=Type.ID,
    )
    return digest.hex()
