"""BlinkPOS's pay codes read by BlinkPOS's own strict LNURL-pay client (the one that pays tips out to
Lightning addresses), over real HTTP against the live server: the payRequest passes its LUD-16
checks and the callback's invoice passes the payout-invoice check (mainnet, exact amount, description
hash = SHA-256 of the metadata). Server and client agree on LUD-06/16."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from fakeblink import FakeBlink
from payments.lnurl.address import parse_address
from payments.lnurl.client import fetch_pay_params, request_invoice
from payments.lnurl.invoice_check import CheckedInvoice, check_payout_invoice
from payments.net.safe_http import policy_from_settings
from payments.services.paycodes import paycode_create
from tests.factories import MerchantFactory, StaffFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_our_own_lnurl_client_accepts_a_pay_code_and_its_invoice(live_server, fake_blink: FakeBlink, settings) -> None:
    port = urlsplit(live_server.url).port
    host = f"127.0.0.1:{port}"
    settings.LNURL_ALLOW_HTTP_HOSTS = [*settings.LNURL_ALLOW_HTTP_HOSTS, host]
    merchant = MerchantFactory(blink_username="interop", wallet_id=fake_blink.add_account("interop"))
    staff = StaffFactory(
        merchant=merchant, blink_username="interopdana", wallet_id=fake_blink.add_account("interopdana")
    )
    paycode_create(merchant=merchant, kind="staff", username="dana", staff=staff)
    policy = policy_from_settings()

    params = fetch_pay_params(parse_address(f"dana@{host}"), policy=policy)
    invoice = request_invoice(params, amount_msat=42_000, policy=policy)
    checked = check_payout_invoice(
        invoice.payment_request, amount_msat=42_000, metadata=params.metadata, hash_seen=lambda _h: False
    )

    assert isinstance(checked, CheckedInvoice), checked
    assert checked.amount_sats == 42
    assert (params.min_sendable_msat, params.max_sendable_msat) == (1000, 1_000_000_000)
