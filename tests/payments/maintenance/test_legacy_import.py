"""import_tip_store on a crafted 1 000-entry legacy file for an existing merchant: exactly the valid
entries are imported, every other one is reported with a reason, a second run imports nothing, a dry
run writes nothing, and the users' API keys never show up in output, logs or Redis. (No fake Blink
here: the provider is unreachable, so unknown tip recipients become unresolved staff.)"""

from __future__ import annotations

import io
import json
import logging
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django_redis import get_redis_connection

from payments.crypto import decrypt_secret
from payments.models import Merchant, PaymentEvent, PaymentLeg, PaymentSplit, SplitStatus, Staff
from tests.factories import MerchantFactory, PaymentSplitFactory, StaffFactory

pytestmark = pytest.mark.django_db(transaction=True)

SECRET_MARK = "LEGACYSECRET"
NOW_MS = int(time.time() * 1000)
HOUR_MS = 3600 * 1000


def _key(i: int) -> str:
    return f"blink_{SECRET_MARK}{i:06d}abcdefghij"


def _entry(i: int, wallet: str, **overrides: Any) -> dict[str, Any]:
    entry = {
        "baseAmount": 1000 + i,
        "tipAmount": 150,
        "tipPercent": 15,
        "tipRecipient": "alice" if i % 2 else "bob",
        "userApiKey": _key(i),
        "userWalletId": wallet,
        "displayCurrency": "USD",
        "baseAmountDisplay": 1.23,
        "tipAmountDisplay": "0.18",
        "memo": f"order {i}",
        "timestamp": NOW_MS - 60_000,
    }
    entry.update(overrides)
    return entry


@pytest.fixture
def merchant() -> Any:
    m = MerchantFactory(blink_username="cafe")
    StaffFactory(merchant=m, blink_username="alice")
    StaffFactory(merchant=m, blink_username="bob")
    return m


@pytest.fixture
def crafted(tmp_path: Path, merchant: Any) -> dict[str, Any]:
    wallet = merchant.wallet_id
    data: dict[str, Any] = {}
    valid_pending, valid_expired = [], []
    for i in range(600):
        h = secrets.token_hex(32)
        old = i % 2 == 0
        overrides: dict[str, Any] = {"timestamp": NOW_MS - 48 * HOUR_MS} if old else {}
        if i % 10 == 0:
            overrides.update(tipAmount=0, tipPercent=0, tipRecipient=None)
        data[h] = _entry(i, wallet, **overrides)
        (valid_expired if old else valid_pending).append(h)
    existing = []
    for i in range(100):  # already in the database (a live split or an earlier import)
        h = PaymentSplitFactory(merchant=merchant).payment_hash
        data[h] = _entry(1000 + i, wallet)
        existing.append(h)
    malformed: list[Any] = ["not an object", [1, 2], 42, None, True]
    bad_values = [
        {"baseAmount": "100"},
        {"baseAmount": 10.5},
        {"tipAmount": True},
        {"timestamp": "yesterday"},
        {"baseAmountDisplay": {"x": 1}},
        {"memo": ["list"]},
    ]
    for i in range(60):
        h = secrets.token_hex(32)
        data[h] = (
            malformed[i % len(malformed)] if i < 30 else _entry(2000 + i, wallet, **bad_values[i % len(bad_values)])
        )
    for i in range(60):
        field = ("baseAmount", "tipAmount", "timestamp")[i % 3]
        data[secrets.token_hex(32)] = _entry(3000 + i, wallet, **{field: -5})
    for i in range(60):
        entry = _entry(4000 + i, wallet)
        del entry[("baseAmount", "tipAmount", "timestamp")[i % 3]]
        if i % 4 == 0:
            del entry["tipRecipient"]
            entry["tipAmount"] = 10
        data[secrets.token_hex(32)] = entry
    strangers = []
    for i in range(60):  # valid: unknown recipients become (unresolved) staff of the merchant
        h = secrets.token_hex(32)
        data[h] = _entry(5000 + i, wallet, tipRecipient=f"stranger{i}")
        valid_pending.append(h)
        strangers.append(h)
    for i in range(40):
        data[f"not-a-hash-{i}" if i % 2 else secrets.token_hex(31)] = _entry(6000 + i, wallet)
    for i in range(20):
        data[secrets.token_hex(32)] = _entry(7000 + i, wallet, tipPercent=150)
    assert len(data) == 1000
    path = tmp_path / ".tip-store.json"
    path.write_text(json.dumps(data))
    return {
        "path": path,
        "pending": valid_pending,
        "expired": valid_expired,
        "existing": existing,
        "strangers": strangers,
        "data": data,
    }


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET_MARK not in text


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in caplog.records)


def test_imports_exactly_the_valid_entries_and_reports_the_rest(
    crafted: dict[str, Any], merchant: Any, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    splits_before = PaymentSplit.objects.count()
    out, err = io.StringIO(), io.StringIO()
    # when
    call_command("import_tip_store", str(crafted["path"]), "--progress", stdout=out, stderr=err)
    # then
    text = out.getvalue()
    assert "total 1000, imported 660 (360 pending, 300 expired), skipped 100 (already present), failed 240" in text
    assert text.count("  failed ") == 240
    assert "merchants created 0 (0 with a placeholder username), staff created 60 (60 unresolved)" in text
    assert "baseAmount: negative" in text
    assert "timestamp: missing" in text
    assert "entry: not a JSON object" in text
    assert "payment hash: not 64 hex characters" in text
    assert "tipPercent: not between 0 and 100" in text
    assert "1000/1000 100%" in err.getvalue()  # the progress bar went to stderr
    assert PaymentSplit.objects.count() == splits_before + 660
    stranger = Staff.objects.get(blink_username="stranger1")
    assert (stranger.merchant, stranger.wallet_id, stranger.wallet_check_ok) == (merchant, "", False)
    assert stranger.wallet_check_error.startswith("UNRESOLVED: provider unavailable")
    tip_leg = PaymentLeg.objects.get(split__payment_hash=crafted["strangers"][1], kind="tip")
    assert (tip_leg.staff, tip_leg.recipient_wallet_id) == (stranger, "")
    backups = list(crafted["path"].parent.glob(".tip-store.json.bak-*"))
    assert len(backups) == 1 and backups[0].read_text() == crafted["path"].read_text()

    for h in crafted["pending"][:20] + crafted["expired"][:20]:
        split = PaymentSplit.objects.get(payment_hash=h)
        i = int(split.memo.split()[1])
        assert decrypt_secret(split.user_api_key_encrypted) == _key(i)
        assert split.metadata["source"] == "legacy_import"
        legs = list(PaymentLeg.objects.filter(split=split))
        assert sum(leg.amount for leg in legs) == split.total_amount == split.base_amount + split.tip_amount
        assert {leg.status for leg in legs} == {"planned"}
        assert {leg.kind for leg in legs} == ({"merchant"} if split.tip_amount == 0 else {"merchant", "tip"})
        events = set(PaymentEvent.objects.filter(split=split).values_list("event_type", flat=True))
        if h in crafted["pending"]:
            assert split.status == SplitStatus.PENDING and events == {"created"}
        else:
            assert split.status == SplitStatus.EXPIRED and events == {"created", "expired"}
    # pending imports are warm in the hot store, without the key
    redis = get_redis_connection("hot")
    raw = redis.get(f"tip:{crafted['pending'][0]}")
    assert raw is not None
    _assert_no_secret(raw.decode())
    _assert_no_secret(text, err.getvalue(), _log_text(caplog), *capsys.readouterr())


def test_second_run_imports_nothing_new(crafted: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    call_command("import_tip_store", str(crafted["path"]), stdout=io.StringIO())
    state = (
        PaymentSplit.objects.count(),
        PaymentLeg.objects.count(),
        PaymentEvent.objects.count(),
        Staff.objects.count(),
    )
    out = io.StringIO()
    call_command("import_tip_store", str(crafted["path"]), stdout=out)
    assert "imported 0 (0 pending, 0 expired), skipped 760 (already present), failed 240" in out.getvalue()
    assert "staff created 0 (0 unresolved); provider lookups 0" in out.getvalue()
    assert (
        PaymentSplit.objects.count(),
        PaymentLeg.objects.count(),
        PaymentEvent.objects.count(),
        Staff.objects.count(),
    ) == state
    _assert_no_secret(out.getvalue(), _log_text(caplog))


def test_dry_run_writes_nothing(crafted: dict[str, Any]) -> None:
    files_before = sorted(p.name for p in crafted["path"].parent.iterdir())
    state = (
        PaymentSplit.objects.count(),
        PaymentLeg.objects.count(),
        PaymentEvent.objects.count(),
        Staff.objects.count(),
    )
    out = io.StringIO()
    call_command("import_tip_store", str(crafted["path"]), "--dry-run", stdout=out)
    assert "dry run, nothing written: total 1000, would import 660 (360 pending, 300 expired)" in out.getvalue()
    assert "staff to create 60 (60 unresolved)" in out.getvalue()
    assert (
        PaymentSplit.objects.count(),
        PaymentLeg.objects.count(),
        PaymentEvent.objects.count(),
        Staff.objects.count(),
    ) == state
    assert sorted(p.name for p in crafted["path"].parent.iterdir()) == files_before  # no backup either
    assert get_redis_connection("hot").keys("tip:*") == []
    _assert_no_secret(out.getvalue())


def test_merchant_found_by_wallet_or_named(tmp_path: Path, merchant: Any) -> None:
    other = MerchantFactory(blink_username="bar")
    StaffFactory(merchant=other, blink_username="alice")
    by_wallet, forced = secrets.token_hex(32), secrets.token_hex(32)
    named = tmp_path / "named.json"
    named.write_text(json.dumps({forced: _entry(2, "wallet-nobody-has", tipRecipient="alice")}))
    own = tmp_path / "own.json"
    own.write_text(json.dumps({by_wallet: _entry(1, merchant.wallet_id)}))
    merchants_before = set(Merchant.objects.values_list("pk", flat=True))
    # when
    call_command("import_tip_store", str(named), "--merchant", "bar", stdout=io.StringIO())
    call_command("import_tip_store", str(own), stdout=io.StringIO())
    # then
    assert PaymentSplit.objects.get(payment_hash=forced).merchant == other
    assert PaymentSplit.objects.get(payment_hash=by_wallet).merchant == merchant
    assert set(Merchant.objects.values_list("pk", flat=True)) == merchants_before
    assert Staff.objects.filter(blink_username="alice").count() == 2  # matched, not created again


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not valid JSON"), ("[1, 2]", "expected a JSON object")],
)
def test_unreadable_file_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "store.json"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        call_command("import_tip_store", str(path), stdout=io.StringIO())
    assert PaymentSplit.objects.count() == 0


def test_unknown_merchant_is_refused_before_anything(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    path.write_text("{}")
    with pytest.raises(CommandError, match="merchant @nobody: not found"):
        call_command("import_tip_store", str(path), "--merchant", "nobody", stdout=io.StringIO())
    assert list(tmp_path.iterdir()) == [path]
