"""Secrets at rest: merchants' Blink API keys, encrypted with MultiFernet.

Keys come from ``FIELD_ENCRYPTION_KEYS`` (newest first): the first key encrypts, every key decrypts,
so a rotation adds a key in front and ``rotate_encryption_keys`` re-encrypts the stored values.
A value no configured key can open raises ``SecretDecryptionError``: it never comes back as
ciphertext or as an empty string.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver


class SecretDecryptionError(Exception):
    """The stored value cannot be decrypted with any key in FIELD_ENCRYPTION_KEYS."""


def _configured_keys() -> list[str]:
    return [k.strip() for k in settings.FIELD_ENCRYPTION_KEYS if k.strip()]


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    keys = _configured_keys()
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty: at least one Fernet key is required.")
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes; make one with Fernet.generate_key())."
        ) from exc


@receiver(setting_changed)
def _reset_on_settings_change(*, setting: str, **_kwargs: object) -> None:
    if setting == "FIELD_ENCRYPTION_KEYS":
        _fernet.cache_clear()


def encrypt_secret(plaintext: str) -> str:
    if not plaintext:
        raise ValueError("refusing to encrypt an empty secret")
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt_secret(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError(
            "Stored secret cannot be decrypted with any key in FIELD_ENCRYPTION_KEYS "
            "(was a key removed before rotate_encryption_keys ran?)"
        ) from exc


def rotate_secret(token: str) -> str:
    """Re-encrypt ``token`` under the first (newest) key."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError("Stored secret cannot be decrypted for rotation") from exc


def is_current(token: str) -> bool:
    """True when ``token`` already opens with the newest key alone."""
    _fernet()  # validates the configuration: no keys or a bad key is ImproperlyConfigured, not IndexError
    keys = _configured_keys()
    try:
        Fernet(keys[0].encode()).decrypt(token.encode())
    except InvalidToken:
        return False
    return True
