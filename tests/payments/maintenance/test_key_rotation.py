"""rotate_encryption_keys: every stored key ends under the newest Fernet key and still decrypts;
undecryptable values are reported, not dropped; no secret in output or logs."""

from __future__ import annotations

import io
import logging

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from payments.crypto import decrypt_secret, encrypt_secret, is_current
from payments.models import Merchant, PaymentSplit
from tests.factories import MerchantFactory, PaymentSplitFactory
from tests.payments.maintenance.conftest import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
MARK = "ROTATIONSECRET"


@pytest.fixture
def stored(settings: object) -> dict[str, str]:
    settings.FIELD_ENCRYPTION_KEYS = [OLD]  # type: ignore[attr-defined]
    plain: dict[str, str] = {}
    for i in range(7):
        key = f"blink_{MARK}merchant{i:03d}"
        m = MerchantFactory(blink_api_key_encrypted=encrypt_secret(key))
        plain[f"m{m.pk}"] = key
    MerchantFactory(blink_api_key_encrypted="")  # no key: nothing to rotate
    for i in range(5):
        key = f"blink_{MARK}split{i:03d}"
        s = PaymentSplitFactory(user_api_key_encrypted=encrypt_secret(key))
        plain[f"s{s.pk}"] = key
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]  # type: ignore[attr-defined]
    return plain


def _check_all_current_and_decryptable(plain: dict[str, str]) -> None:
    for m in Merchant.objects.exclude(blink_api_key_encrypted=""):
        assert is_current(m.blink_api_key_encrypted)
        assert decrypt_secret(m.blink_api_key_encrypted) == plain[f"m{m.pk}"]
    for s in PaymentSplit.objects.exclude(user_api_key_encrypted=""):
        assert is_current(s.user_api_key_encrypted)
        assert decrypt_secret(s.user_api_key_encrypted) == plain[f"s{s.pk}"]


def test_rotation_reencrypts_everything_in_batches(
    stored: dict[str, str], settings: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    out = io.StringIO()
    call_command("rotate_encryption_keys", "--batch-size", "3", stdout=out)
    text = out.getvalue()
    assert "payments.Merchant.blink_api_key_encrypted: scanned 7, re-encrypted 7" in text
    assert "payments.PaymentSplit.user_api_key_encrypted: scanned 5, re-encrypted 5" in text
    _check_all_current_and_decryptable(stored)
    # the old key can go now
    settings.FIELD_ENCRYPTION_KEYS = [NEW]  # type: ignore[attr-defined]
    _check_all_current_and_decryptable(stored)
    logs = "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in caplog.records)
    for text_ in (text, logs):
        assert MARK not in text_
        assert OLD not in text_ and NEW not in text_


def test_resumable_twice_and_concurrently(stored: dict[str, str]) -> None:
    run_concurrently(lambda: call_command("rotate_encryption_keys", "--batch-size", "2", stdout=io.StringIO()))
    _check_all_current_and_decryptable(stored)
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "re-encrypted 0, already current 7" in out.getvalue()
    assert "re-encrypted 0, already current 5" in out.getvalue()


def test_undecryptable_values_are_reported_and_kept(stored: dict[str, str]) -> None:
    foreign = Fernet(Fernet.generate_key()).encrypt(b"blink_" + MARK.encode() + b"lost").decode()
    orphan = MerchantFactory(blink_api_key_encrypted=foreign)
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 value"):
        call_command("rotate_encryption_keys", stdout=out)
    assert f"undecryptable ids (no configured key opens them; left untouched): {orphan.pk}" in out.getvalue()
    orphan.refresh_from_db()
    assert orphan.blink_api_key_encrypted == foreign
    stored.pop(f"m{orphan.pk}", None)
    for m in Merchant.objects.exclude(pk=orphan.pk).exclude(blink_api_key_encrypted=""):
        assert decrypt_secret(m.blink_api_key_encrypted) == stored[f"m{m.pk}"]
    assert MARK not in out.getvalue()
