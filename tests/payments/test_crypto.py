"""Secrets at rest: MultiFernet with FIELD_ENCRYPTION_KEYS (newest first), and clear failures."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ImproperlyConfigured
from pytest_django.fixtures import Settings

from payments.crypto import SecretDecryptionError, decrypt_secret, encrypt_secret, is_current, rotate_secret

SECRET = "blink_Zx81mQ2LkP0secretapikeyvalue"


@pytest.fixture
def key_a() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def key_b() -> str:
    return Fernet.generate_key().decode()


def test_round_trip(settings: Settings, key_a: str) -> None:
    settings.FIELD_ENCRYPTION_KEYS = [key_a]
    token = encrypt_secret(SECRET)
    assert SECRET not in token
    assert token.startswith("gAAAA")  # a Fernet token, opaque
    assert decrypt_secret(token) == SECRET
    assert Fernet(key_a.encode()).decrypt(token.encode()).decode() == SECRET


def test_each_encryption_is_a_fresh_token(settings: Settings, key_a: str) -> None:
    settings.FIELD_ENCRYPTION_KEYS = [key_a]
    assert encrypt_secret(SECRET) != encrypt_secret(SECRET)


def test_an_empty_secret_is_refused(settings: Settings, key_a: str) -> None:
    settings.FIELD_ENCRYPTION_KEYS = [key_a]
    with pytest.raises(ValueError, match="empty"):
        encrypt_secret("")


def test_rotation_old_key_second_still_decrypts_and_rotate_moves_to_newest(
    settings: Settings, key_a: str, key_b: str
) -> None:
    # given a value stored while A was the only key
    settings.FIELD_ENCRYPTION_KEYS = [key_a]
    old_token = encrypt_secret(SECRET)
    assert is_current(old_token)

    # when B is added in front (newest first)
    settings.FIELD_ENCRYPTION_KEYS = [key_b, key_a]

    # then the old token still opens, but is no longer current
    assert decrypt_secret(old_token) == SECRET
    assert not is_current(old_token)
    # and new values are written under B
    assert Fernet(key_b.encode()).decrypt(encrypt_secret(SECRET).encode()).decode() == SECRET

    # when the stored value is rotated
    new_token = rotate_secret(old_token)

    # then it opens with B alone, not with A, and is current
    assert new_token != old_token
    assert Fernet(key_b.encode()).decrypt(new_token.encode()).decode() == SECRET
    with pytest.raises(InvalidToken):
        Fernet(key_a.encode()).decrypt(new_token.encode())
    assert is_current(new_token)

    # and once A is retired, only the rotated value opens
    settings.FIELD_ENCRYPTION_KEYS = [key_b]
    assert decrypt_secret(new_token) == SECRET
    with pytest.raises(SecretDecryptionError):
        decrypt_secret(old_token)


def test_wrong_key_gives_a_clear_error_never_ciphertext_or_empty(settings: Settings, key_a: str, key_b: str) -> None:
    settings.FIELD_ENCRYPTION_KEYS = [key_a]
    token = encrypt_secret(SECRET)
    settings.FIELD_ENCRYPTION_KEYS = [key_b]

    with pytest.raises(SecretDecryptionError) as excinfo:
        decrypt_secret(token)

    message = str(excinfo.value)
    assert "FIELD_ENCRYPTION_KEYS" in message
    assert token not in message
    assert SECRET not in message
    assert not is_current(token)


def test_rotating_a_value_no_key_opens_raises_the_clear_error(settings: Settings, key_a: str, key_b: str) -> None:
    settings.FIELD_ENCRYPTION_KEYS = [key_a]
    token = encrypt_secret(SECRET)
    settings.FIELD_ENCRYPTION_KEYS = [key_b]
    with pytest.raises(SecretDecryptionError) as excinfo:
        rotate_secret(token)
    assert token not in str(excinfo.value)


@pytest.mark.parametrize("garbage", ["", "not-a-token", "gAAAAAB" + "x" * 80, "é"])
def test_garbage_is_a_decryption_error(settings: Settings, key_a: str, garbage: str) -> None:
    settings.FIELD_ENCRYPTION_KEYS = [key_a]
    with pytest.raises(SecretDecryptionError):
        decrypt_secret(garbage)


def test_a_tampered_token_is_refused(settings: Settings, key_a: str) -> None:
    settings.FIELD_ENCRYPTION_KEYS = [key_a]
    token = encrypt_secret(SECRET)
    tampered = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    with pytest.raises(SecretDecryptionError):
        decrypt_secret(tampered)


@pytest.mark.parametrize("keys", [[], [""], ["  ", ""]], ids=["none", "empty-string", "blank"])
@pytest.mark.parametrize("operation", ["encrypt", "decrypt", "rotate", "is_current"])
def test_empty_key_list_is_improperly_configured(settings: Settings, keys: list[str], operation: str) -> None:
    settings.FIELD_ENCRYPTION_KEYS = keys
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS is empty"):
        _call(operation)


@pytest.mark.parametrize("bad_key", ["not-a-fernet-key", "c2hvcnQ=", "!" * 44])
@pytest.mark.parametrize("operation", ["encrypt", "decrypt", "is_current"])
def test_non_fernet_key_is_improperly_configured(settings: Settings, key_a: str, bad_key: str, operation: str) -> None:
    # a bad key anywhere in the list is a configuration error, even behind a good one
    settings.FIELD_ENCRYPTION_KEYS = [key_a, bad_key]
    with pytest.raises(ImproperlyConfigured, match="not a Fernet key") as excinfo:
        _call(operation)
    assert bad_key not in str(excinfo.value)


def test_keys_are_stripped(settings: Settings, key_a: str) -> None:
    settings.FIELD_ENCRYPTION_KEYS = [f"  {key_a} ", ""]
    assert decrypt_secret(encrypt_secret(SECRET)) == SECRET


def _call(operation: str) -> object:
    token = Fernet(Fernet.generate_key()).encrypt(SECRET.encode()).decode()
    if operation == "encrypt":
        return encrypt_secret(SECRET)
    if operation == "decrypt":
        return decrypt_secret(token)
    if operation == "rotate":
        return rotate_secret(token)
    return is_current(token)
