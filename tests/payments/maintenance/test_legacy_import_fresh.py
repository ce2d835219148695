"""import_tip_store on a fresh install (no merchant, no staff) with a file in the original format,
against the fake Blink over HTTP: merchants come from the legacy keys' owners (or placeholders),
staff from the tip recipients (or unresolved), the API keys never leave the encrypted columns, and an
imported tip whose recipient is unresolved is paid to nobody until an operator resolves it."""

from __future__ import annotations

import io
import json
import logging
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django_redis import get_redis_connection

from fakeblink import FakeBlink
from payments.crypto import decrypt_secret
from payments.models import LegStatus, Merchant, PaymentEvent, PaymentLeg, PaymentSplit, SplitStatus, Staff
from payments.services.detection import detect
from payments.services.forwarding import forward_split
from payments.services.invoices import invoice_create
from payments.services.maintenance import recipients_check
from payments.services.operator_actions import forwarding_retry
from payments.wallet.provider import reset_wallet_provider

pytestmark = pytest.mark.django_db(transaction=True)

SECRET_MARK = "FRESHSECRET"
NOW_MS = int(time.time() * 1000)
OLD_MS = NOW_MS - 48 * 3600 * 1000
READS = {"authorization", "me", "accountDefaultWallet"}


def _key(name: str) -> str:
    return f"blink_{SECRET_MARK}{name}0123456789"


def _entry(wallet: str | None, key: Any, *, base: int = 1000, tip: int = 0, to: Any = None, at: int = OLD_MS) -> Any:
    return {
        "baseAmount": base,
        "tipAmount": tip,
        "tipPercent": round(100 * tip / base) if base else 0,
        "tipRecipient": to,
        "userApiKey": key,
        "userWalletId": wallet,
        "displayCurrency": "EUR",
        "baseAmountDisplay": 0.61,
        "tipAmountDisplay": 0.06,
        "memo": "legacy sale",
        "timestamp": at,
    }


@pytest.fixture
def legacy(tmp_path: Path, fake_blink: FakeBlink) -> dict[str, Any]:
    """Two merchants Blink knows (one saw its base paid to its USD wallet), one whose key Blink does not
    know; recipients alice, bob, carol known, ghost unknown; eight invalid entries of several kinds."""
    wallets = {
        "cafe": fake_blink.add_account("cafe", api_key=_key("cafe")),
        "bakery": fake_blink.add_account(
            "bakery", currencies=("BTC", "USD"), api_key=_key("bakery"), scopes=("READ", "RECEIVE", "WRITE")
        ),
        "alice": fake_blink.add_account("alice"),
        "bob": fake_blink.add_account("bob"),
        "carol": fake_blink.add_account("carol"),
        "gone": str(uuid.uuid4()),  # its owner's key is unknown to Blink
    }
    bakery_usd = fake_blink.wallets_of("bakery")["USD"]
    valid = {
        "c1": _entry(wallets["cafe"], _key("cafe"), tip=100, to="alice", at=NOW_MS - 60_000),
        "c2": _entry(wallets["cafe"], _key("cafe"), tip=50, to="bob"),
        "c3": _entry(wallets["cafe"], _key("cafe")),
        "c4": {**_entry(wallets["cafe"], _key("cafe"), tip=20, to="@Alice"), "timestamp": None, "createdAt": OLD_MS},
        "b1": _entry(bakery_usd, _key("bakery"), tip=80, to="carol", at=NOW_MS - 60_000),
        "b2": _entry(bakery_usd, _key("bakery"), tip=30, to="ghost"),
        "g1": _entry(wallets["gone"], _key("gone"), tip=10, to="alice"),
        "g2": _entry(wallets["gone"], _key("gone"), at=NOW_MS - 60_000),
    }
    invalid = {
        "shape": (_entry(wallets["cafe"], f"blink {SECRET_MARK} with spaces"), "userApiKey: not a Blink API key"),
        "number": (_entry(wallets["cafe"], 12345), "userApiKey: not a Blink API key"),
        "wallet": (_entry(None, _key("cafe")), "userWalletId: missing"),
        "negative": (_entry(wallets["cafe"], _key("cafe"), base=-1), "baseAmount: negative"),
        "object": ("not an object", "entry: not a JSON object"),
        "recipient": (_entry(wallets["cafe"], _key("cafe"), tip=5, to="not a user!"), "tipRecipient: not a Blink"),
        "no_recipient": (_entry(wallets["cafe"], _key("cafe"), tip=5), "tipRecipient: missing for a tip"),
    }
    hashes = {name: secrets.token_hex(32) for name in [*valid, *invalid]}
    data: dict[str, Any] = {hashes[name]: entry for name, entry in valid.items()}
    data.update({hashes[name]: entry for name, (entry, _) in invalid.items()})
    data["not-a-hash"] = _entry(wallets["cafe"], _key("cafe"))
    path = tmp_path / ".tip-store.json"
    path.write_text(json.dumps(data))
    reasons = [reason for _, reason in invalid.values()] + ["payment hash: not 64 hex characters"]
    return {"path": path, "wallets": wallets, "bakery_usd": bakery_usd, "hashes": hashes, "reasons": reasons}


def _run(path: Path, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_tip_store", str(path), *args, "--progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _rows_as_text() -> str:
    with connection.cursor() as cursor:
        parts = []
        for table in ("merchants", "staff_members", "payment_splits", "payment_legs", "payment_events"):
            cursor.execute(f"SELECT row_to_json(t)::text FROM {table} t")  # noqa: S608 (fixed table names)
            parts.extend(row[0] for row in cursor.fetchall())
    return "\n".join(parts)


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in caplog.records)


def _state() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Merchant, Staff, PaymentSplit, PaymentLeg, PaymentEvent))


def test_fresh_install_imports_every_valid_entry_with_its_parties(
    legacy: dict[str, Any], fake_blink: FakeBlink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wallets, hashes = legacy["wallets"], legacy["hashes"]
    # when
    out, err = _run(legacy["path"])
    # then every valid entry is in, every invalid one reported with its reason
    assert "total 16, imported 8 (3 pending, 5 expired), skipped 0 (already present), failed 8" in out
    for reason in legacy["reasons"]:
        assert reason in out
    assert "merchants created 3 (1 with a placeholder username), staff created 5 (1 unresolved)" in out
    assert "provider lookups 7" in out  # 3 distinct keys + 4 distinct usernames, each asked once
    assert {op for r in fake_blink.requests() for op in r["operations"]} <= READS  # reads only
    assert "16/16 100%" in err

    cafe = Merchant.objects.get(blink_username="cafe")
    assert (cafe.wallet_id, cafe.user, cafe.needs_setup) == (wallets["cafe"], None, True)
    assert "attach a login user" in cafe.setup_note and "username" not in cafe.setup_note
    assert decrypt_secret(cafe.blink_api_key_encrypted) == _key("cafe")
    assert cafe.blink_api_key_scopes == "READ,RECEIVE"
    assert cafe.display_currency == "EUR"
    bakery = Merchant.objects.get(blink_username="bakery")
    assert bakery.wallet_id == wallets["bakery"]  # its BTC wallet, not the USD one the old service used
    assert "WRITE" in bakery.setup_note
    gone = Merchant.objects.get(wallet_id=wallets["gone"])
    assert gone.has_placeholder_username and gone.needs_setup
    assert "set the Blink username (Blink does not accept the legacy API key)" in gone.setup_note
    assert gone.blink_api_key_encrypted == ""  # a key Blink refuses is worth nothing
    assert Merchant.objects.filter(needs_setup=True).count() == 3

    staff = {(s.merchant.blink_username, s.blink_username): s for s in Staff.objects.select_related("merchant")}
    assert set(staff) == {
        ("cafe", "alice"),
        ("cafe", "bob"),
        ("bakery", "carol"),
        ("bakery", "ghost"),
        (gone.blink_username, "alice"),
    }
    assert staff[("cafe", "alice")].wallet_id == staff[(gone.blink_username, "alice")].wallet_id == wallets["alice"]
    assert staff[("bakery", "carol")].wallet_id == wallets["carol"]
    ghost = staff[("bakery", "ghost")]
    assert (ghost.wallet_id, ghost.wallet_check_ok) == ("", False)
    assert ghost.wallet_check_error.startswith("UNRESOLVED: NOT_FOUND")

    c4 = PaymentSplit.objects.get(payment_hash=hashes["c4"])  # createdAt, "@Alice": cafe's alice
    assert (c4.staff, c4.tip_recipient, c4.status) == (staff[("cafe", "alice")], "alice", SplitStatus.EXPIRED)
    b1 = PaymentSplit.objects.get(payment_hash=hashes["b1"])
    assert b1.user_wallet_id == legacy["bakery_usd"] and b1.status == SplitStatus.PENDING
    assert PaymentLeg.objects.get(split=b1, kind="merchant").recipient_wallet_id == wallets["bakery"]
    b2_tip = PaymentLeg.objects.get(split__payment_hash=hashes["b2"], kind="tip")
    assert (b2_tip.staff, b2_tip.recipient_wallet_id) == (ghost, "")

    # the keys exist only encrypted: not in any column, output or log line, not in Redis
    assert SECRET_MARK not in _rows_as_text()
    assert decrypt_secret(PaymentSplit.objects.get(payment_hash=hashes["g1"]).user_api_key_encrypted) == _key("gone")
    redis_text = " ".join(str(get_redis_connection("hot").get(k)) for k in get_redis_connection("hot").keys("*"))
    for text in (out, err, _log_text(caplog), redis_text):
        assert SECRET_MARK not in text

    # a second run imports nothing, creates nobody and asks Blink nothing
    state, requests = _state(), fake_blink.request_count
    again, _ = _run(legacy["path"])
    assert "imported 0 (0 pending, 0 expired), skipped 8 (already present), failed 8" in again
    assert "merchants created 0 (0 with a placeholder username), staff created 0 (0 unresolved)" in again
    assert _state() == state and fake_blink.request_count == requests
    assert SECRET_MARK not in again


def test_dry_run_writes_nothing_and_only_reads(legacy: dict[str, Any], fake_blink: FakeBlink) -> None:
    files_before = sorted(p.name for p in legacy["path"].parent.iterdir())
    # when
    out, _ = _run(legacy["path"], "--dry-run")
    # then
    assert "dry run, nothing written: total 16, would import 8 (3 pending, 5 expired)" in out
    assert "merchants to create 3 (1 with a placeholder username), staff to create 5 (1 unresolved)" in out
    assert _state() == (0, 0, 0, 0, 0)
    assert sorted(p.name for p in legacy["path"].parent.iterdir()) == files_before  # no backup either
    assert get_redis_connection("hot").keys("tip:*") == []
    assert {op for r in fake_blink.requests() for op in r["operations"]} <= READS
    assert SECRET_MARK not in out


def test_dry_run_without_provider_asks_nothing(legacy: dict[str, Any], fake_blink: FakeBlink) -> None:
    out, _ = _run(legacy["path"], "--dry-run", "--no-provider")
    assert "merchants to create 3 (3 with a placeholder username), staff to create 5 (5 unresolved)" in out
    assert "provider lookups 0; provider lookups switched off" in out
    assert fake_blink.request_count == 0


def test_provider_outage_gives_placeholders_and_unresolved_staff_paid_nobody_until_fixed(
    legacy: dict[str, Any], fake_blink: FakeBlink, settings: Any
) -> None:
    # given Blink is down during the import
    fake_blink.stop()
    out, _ = _run(legacy["path"])
    assert "imported 8 (3 pending, 5 expired)" in out
    assert "merchants created 3 (3 with a placeholder username), staff created 5 (5 unresolved)" in out
    assert "provider lookups 3; provider unavailable (TRANSPORT_ERROR)" in out  # then it stopped asking
    cafe = Merchant.objects.get(wallet_id=legacy["wallets"]["cafe"])
    assert cafe.has_placeholder_username and cafe.needs_setup
    assert "provider unavailable" in cafe.setup_note
    assert decrypt_secret(cafe.blink_api_key_encrypted) == _key("cafe")  # kept: nobody could check it
    assert not Staff.objects.exclude(wallet_id="").exists()
    alice = Staff.objects.get(merchant=cafe, blink_username="alice")
    assert alice.wallet_check_error.startswith("UNRESOLVED: provider unavailable")
    with pytest.raises(ValidationError, match="not resolved yet"):  # no new tip can name her
        invoice_create(merchant=cafe, terminal=None, amount_sats=1000, tip_sats=100, staff=alice)

    # when Blink is back and the pending imported sale is paid, forwarding pays the merchant only
    fake_blink.start()
    settings.BLINK_API_URL = fake_blink.url
    reset_wallet_provider()
    split = PaymentSplit.objects.get(payment_hash=legacy["hashes"]["c1"])
    detect(payment_hash=split.payment_hash, amount_sats=1100, source="test", preimage_verified=True, enqueue=False)
    assert forward_split(split_id=split.pk) == "failed"
    split.refresh_from_db()
    merchant_leg = PaymentLeg.objects.get(split=split, kind="merchant")
    tip_leg = PaymentLeg.objects.get(split=split, kind="tip")
    assert merchant_leg.status == LegStatus.SUCCEEDED
    assert fake_blink.balance(legacy["wallets"]["cafe"]) == 1000
    assert (tip_leg.status, tip_leg.last_error_code, tip_leg.payment_hash) == (
        LegStatus.FAILED,
        "RECIPIENT_UNRESOLVED",
        None,
    )
    assert tip_leg.next_attempt_at is None  # not retried on its own: an operator decides
    assert split.status == SplitStatus.FAILED and "RECIPIENT_UNRESOLVED" in split.error_message
    assert fake_blink.balance(legacy["wallets"]["alice"]) == 0
    assert forward_split(split_id=split.pk) == "not_forwardable:failed"

    # then the operator resolves her wallet and retries: the tip goes to her, once
    checked = recipients_check(staff_ids=[alice.pk], merchant_ids=[])
    assert checked.resolved == ["alice"] and checked.flagged == []
    assert recipients_check(staff_ids=[], merchant_ids=None).placeholders == 3  # skipped, not flagged
    forwarding_retry(split_id=split.pk, actor="operator")
    assert forward_split(split_id=split.pk) == "completed"
    tip_leg.refresh_from_db()
    assert (tip_leg.status, tip_leg.recipient_wallet_id) == (LegStatus.SUCCEEDED, legacy["wallets"]["alice"])
    assert fake_blink.balance(legacy["wallets"]["alice"]) == 100
    assert fake_blink.balance(legacy["wallets"]["cafe"]) == 1000  # the merchant was not paid twice
    resolved = PaymentEvent.objects.filter(leg=tip_leg, event_type="leg_retry", event_data__reason="recipient_resolved")
    assert resolved.count() == 1
