"""No API key, preimage or full bolt11 in a log line or a repr (STYLE: structured logs, no secrets)."""

from __future__ import annotations

import logging

import pytest

from fakeblink import FakeBlink
from payments.wallet.client import BlinkClient
from payments.wallet.types import (
    CreatedInvoice,
    InvoiceState,
    InvoiceStatus,
    PaymentLookup,
    SendResult,
    SendStatus,
)

from .conftest import MERCHANT_KEY


def _everything_logged(records: list[logging.LogRecord]) -> str:
    return "\n".join(f"{r.getMessage()} {r.__dict__}" for r in records)


def test_a_full_payment_flow_logs_no_secret(
    fake_blink: FakeBlink, blink_client: BlinkClient, alice: str, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    caplog.set_level(logging.DEBUG)
    fake_blink.add_account("shop", api_key=MERCHANT_KEY)

    # when a sale is created, paid, forwarded and reconciled
    sale = blink_client.create_invoice(amount_sats=1_000, memo="Coffee", expires_in_minutes=15, external_id="sale-1")
    fake_blink.pay_invoice_as_customer(sale.payment_hash)
    status = blink_client.invoice_status(payment_hash=sale.payment_hash)
    payout = blink_client.create_invoice_for_recipient(
        recipient_wallet_id=alice, amount_sats=900, memo=None, external_id="leg-1"
    )
    sent = blink_client.pay_invoice(payment_request=payout.payment_request)
    fake_blink.script("lnInvoicePaymentSend", ["TIMEOUT_AFTER_APPLY"])
    blink_client.pay_invoice(payment_request=payout.payment_request)
    lookup = blink_client.payment_lookup(payment_hash=payout.payment_hash)
    blink_client.key_info(api_key=MERCHANT_KEY)

    # then
    logged = _everything_logged(caplog.records)
    assert "blink.pay_invoice" in logged and payout.payment_hash in logged  # the logs are useful...
    secrets = [fake_blink.platform_api_key, MERCHANT_KEY, sale.payment_request, payout.payment_request]
    secrets += [s for s in (status.preimage, sent.preimage, lookup.preimage) if s]
    assert len(secrets) == 7
    for secret in secrets:
        assert secret not in logged  # ...and hold no secret


def test_reprs_hide_secrets(fake_blink: FakeBlink) -> None:
    preimage = "11" * 32
    bolt11 = "lnbc10n1p" + "q" * 100
    values = [
        CreatedInvoice(
            payment_hash="ab" * 32, payment_request=bolt11, amount_sats=1, expires_at=None, external_id=None
        ),
        InvoiceStatus(payment_hash="ab" * 32, state=InvoiceState.PAID, preimage=preimage),
        SendResult(status=SendStatus.SUCCEEDED, preimage=preimage),
        PaymentLookup(payment_hash="ab" * 32, status=SendStatus.SUCCEEDED, preimage=preimage),
    ]
    client = BlinkClient(
        url=fake_blink.url, api_key=fake_blink.platform_api_key, wallet_id=fake_blink.platform_wallet_id
    )

    text = " ".join(repr(v) for v in [*values, client, fake_blink])
    client.close()

    assert preimage not in text
    assert bolt11 not in text
    assert fake_blink.platform_api_key not in text
