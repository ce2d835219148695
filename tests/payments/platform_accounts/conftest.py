"""Two Blink platform accounts at the fake Blink: the default one (the BLINK_* settings, the suite's
``fake_blink`` platform) and account B, a second platform account with its own key, wallet, webhook
endpoint and Svix secret, added through ``platform_account_create`` (its key checked over HTTP)."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.test import Client

from fakeblink import FakeBlink
from payments.models import PaymentSplit, PlatformAccount
from payments.services.platform_accounts import platform_account_create
from tests.payments.forwarding.conftest import sign, start_worker  # noqa: F401  (fixture re-exported)

PLATFORM_SCOPES = ("READ", "RECEIVE", "WRITE")


@dataclass
class SecondAccount:
    account: PlatformAccount
    username: str
    wallet_id: str
    api_key: str
    secret: str

    @property
    def webhook_url(self) -> str:
        return f"/webhooks/blink/{self.account.webhook_token}"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def make_account(fake_blink: FakeBlink) -> Callable[[str], SecondAccount]:
    def build(name: str) -> SecondAccount:
        username = f"platform_{name.lower()}_{uuid.uuid4().hex[:6]}"
        key = "blink_" + secrets.token_hex(20)
        wallet_id = fake_blink.add_account(username, balance=100_000_000, api_key=key, scopes=PLATFORM_SCOPES)
        secret = new_secret()
        account = platform_account_create(
            name=name, api_key=key, api_url=fake_blink.url, webhook_secrets=[secret, new_secret()]
        )
        assert account.wallet_id == wallet_id  # the key's BTC wallet, found at Blink
        return SecondAccount(account=account, username=username, wallet_id=wallet_id, api_key=key, secret=secret)

    return build


@pytest.fixture
def account_b(make_account: Callable[[str], SecondAccount]) -> SecondAccount:
    return make_account("B")


def paid_message(fake: FakeBlink, split: PaymentSplit, *, username: str | None) -> bytes:
    """The fake's own ``receive.lightning`` body for a customer paying ``split`` (delivered by the fake
    to a port nothing listens on; the test posts it itself). ``username``: the platform account whose
    wallet holds the invoice (None: the default platform)."""
    fake.configure_webhooks("http://127.0.0.1:9/webhooks/blink", new_secret(), username=username)
    try:
        fake.pay_invoice_as_customer(split.payment_hash)
        message = next(
            m
            for m in fake.webhook_messages()
            if m["event_type"] == "receive.lightning" and split.payment_hash in m["body"]
        )
    finally:
        fake.configure_webhooks(None, None, username=username)
    return str(message["body"]).encode()


def post_webhook(url: str, body: bytes, secret: str) -> tuple[int, dict[str, object]]:
    response = Client().post(url, data=body, content_type="application/json", headers=sign(body, secret=secret))
    return response.status_code, json.loads(response.content)


def assert_forwarded_by(fake: FakeBlink, split: PaymentSplit, *, wallet_id: str, not_by: str) -> None:
    """The split completed with every leg paid exactly once from ``wallet_id`` and never from ``not_by``,
    and its legs add up to what was received (money rules 1 and 6)."""
    split.refresh_from_db()
    legs = list(split.legs.all())
    assert split.status == "completed", split.status
    assert sum(leg.amount for leg in legs) == split.received_amount == split.total_amount
    for leg in legs:
        assert leg.status == "succeeded", (leg.pk, leg.status)
        assert fake.debits_for(leg.payment_hash or "", wallet_id) == 1, leg.pk
        assert fake.debits_for(leg.payment_hash or "", not_by) == 0, leg.pk
