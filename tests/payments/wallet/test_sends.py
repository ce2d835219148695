"""Sends against the fake Blink, one test per outcome. The rules under test (docs/ARCHITECTURE.md, money rules):
FAILED only when Blink explicitly says so; anything we cannot be sure of is UNKNOWN and the lookup
settles it; paying the same invoice twice never debits twice."""

from __future__ import annotations

import hashlib

import pytest

from fakeblink import FakeBlink
from payments.wallet.client import BlinkClient
from payments.wallet.types import CreatedInvoice, SendStatus

START_BALANCE = 100_000_000


def _payout(client: BlinkClient, wallet_id: str, amount: int = 1_000, leg: str = "leg-1") -> CreatedInvoice:
    return client.create_invoice_for_recipient(
        recipient_wallet_id=wallet_id, amount_sats=amount, memo="tip", external_id=leg
    )


def test_pay_success(fake_blink: FakeBlink, blink_client: BlinkClient, alice: str) -> None:
    # given
    invoice = _payout(blink_client, alice)

    # when
    result = blink_client.pay_invoice(payment_request=invoice.payment_request, memo="Tip share")

    # then
    assert result.status is SendStatus.SUCCEEDED
    assert result.ok is True
    assert result.already_paid is False
    assert result.fee_sats == 0
    assert result.preimage is not None
    assert hashlib.sha256(bytes.fromhex(result.preimage)).hexdigest() == invoice.payment_hash
    assert fake_blink.balance(alice) == 1_000
    assert fake_blink.balance(fake_blink.platform_wallet_id) == START_BALANCE - 1_000
    assert fake_blink.debits_for(invoice.payment_hash) == 1


def test_paying_twice_is_already_paid_with_exactly_one_debit(
    fake_blink: FakeBlink, blink_client: BlinkClient, alice: str
) -> None:
    # given a payout already paid
    invoice = _payout(blink_client, alice)
    blink_client.pay_invoice(payment_request=invoice.payment_request)

    # when the worker retries the same bolt11
    again = blink_client.pay_invoice(payment_request=invoice.payment_request)

    # then
    assert again.status is SendStatus.SUCCEEDED
    assert again.already_paid is True
    assert again.ok is True
    assert fake_blink.debits_for(invoice.payment_hash) == 1
    assert fake_blink.balance(alice) == 1_000
    assert fake_blink.balance(fake_blink.platform_wallet_id) == START_BALANCE - 1_000


def test_explicit_failure_is_failed(fake_blink: FakeBlink, blink_client: BlinkClient, alice: str) -> None:
    invoice = _payout(blink_client, alice)
    fake_blink.script("lnInvoicePaymentSend", ["FAILURE"])

    result = blink_client.pay_invoice(payment_request=invoice.payment_request)

    assert result.status is SendStatus.FAILED
    assert result.ok is False
    assert result.error_code == "LIGHTNING_PAYMENT_ERROR"
    assert fake_blink.debits_for(invoice.payment_hash) == 0


def test_insufficient_balance_is_an_explicit_failure(
    fake_blink: FakeBlink, blink_client: BlinkClient, alice: str
) -> None:
    # given a platform wallet that cannot cover the payout
    fake_blink.set_balance(fake_blink.platform_wallet_id, 999)
    invoice = _payout(blink_client, alice)

    result = blink_client.pay_invoice(payment_request=invoice.payment_request)

    assert result.status is SendStatus.FAILED
    assert result.error_code == "INSUFFICIENT_BALANCE"
    assert fake_blink.balance(fake_blink.platform_wallet_id) == 999


def test_receive_disabled_recipient_is_an_explicit_failure(
    fake_blink: FakeBlink, blink_client: BlinkClient, alice: str
) -> None:
    # given a recipient in Blink's custodial wind-down, with an invoice made before it
    invoice = _payout(blink_client, alice)
    fake_blink.set_receive_disabled("alice")

    result = blink_client.pay_invoice(payment_request=invoice.payment_request)

    assert result.status is SendStatus.FAILED
    assert result.error_code == "RECEIVE_DISABLED"
    assert fake_blink.debits_for(invoice.payment_hash) == 0


@pytest.mark.parametrize("code", ["TOO_MANY_REQUEST", "RECEIVE_DISABLED", "INVALID_INPUT", "NOT_FOUND"])
def test_scripted_error_codes_are_failed_with_the_code(
    fake_blink: FakeBlink, blink_client: BlinkClient, alice: str, code: str
) -> None:
    invoice = _payout(blink_client, alice)
    fake_blink.script("lnInvoicePaymentSend", [code])

    result = blink_client.pay_invoice(payment_request=invoice.payment_request)

    # Blink answered status FAILURE with this code: nothing moved.
    assert result.status is SendStatus.FAILED
    assert result.error_code == code
    assert fake_blink.debits_for(invoice.payment_hash) == 0


def test_expired_invoice_fails(fake_blink: FakeBlink, blink_client: BlinkClient, alice: str) -> None:
    invoice = blink_client.create_invoice_for_recipient(
        recipient_wallet_id=alice, amount_sats=10, memo=None, external_id="leg-exp", expires_in_minutes=1
    )
    fake_blink.advance_clock(120)

    result = blink_client.pay_invoice(payment_request=invoice.payment_request)

    assert result.status is SendStatus.FAILED
    assert result.error_code == "LIGHTNING_PAYMENT_ERROR"
    assert fake_blink.debits_for(invoice.payment_hash) == 0


def test_pending_then_success_is_resolved_by_lookup(
    fake_blink: FakeBlink, blink_client: BlinkClient, alice: str
) -> None:
    # given a send Blink reports as in flight, settling after 2 lookups (fixture: pending_polls=2)
    invoice = _payout(blink_client, alice)
    fake_blink.script("lnInvoicePaymentSend", ["PENDING_THEN_SUCCESS"])

    # when
    result = blink_client.pay_invoice(payment_request=invoice.payment_request)
    lookups = [blink_client.payment_lookup(payment_hash=invoice.payment_hash).status for _ in range(3)]

    # then
    assert result.status is SendStatus.PENDING
    assert result.ok is None
    assert lookups == [SendStatus.PENDING, SendStatus.PENDING, SendStatus.SUCCEEDED]
    assert fake_blink.balance(alice) == 1_000
    assert fake_blink.debits_for(invoice.payment_hash) == 1


def test_a_retry_while_pending_is_still_pending_not_failed(
    fake_blink: FakeBlink, blink_client: BlinkClient, alice: str
) -> None:
    invoice = _payout(blink_client, alice)
    fake_blink.script("lnInvoicePaymentSend", ["PENDING_THEN_SUCCESS"])
    blink_client.pay_invoice(payment_request=invoice.payment_request)

    # Blink answers FAILURE "There is a pending payment for this invoice": money is moving.
    retry = blink_client.pay_invoice(payment_request=invoice.payment_request)

    assert retry.status is SendStatus.PENDING
    assert fake_blink.debits_for(invoice.payment_hash) == 1


def test_pending_then_failure_returns_the_money(fake_blink: FakeBlink, blink_client: BlinkClient, alice: str) -> None:
    invoice = _payout(blink_client, alice)
    fake_blink.set_pending_polls(0)
    fake_blink.script("lnInvoicePaymentSend", ["PENDING_THEN_FAILURE"])

    assert blink_client.pay_invoice(payment_request=invoice.payment_request).status is SendStatus.PENDING
    lookup = blink_client.payment_lookup(payment_hash=invoice.payment_hash)

    assert lookup.status is SendStatus.FAILED
    assert fake_blink.balance(fake_blink.platform_wallet_id) == START_BALANCE
    assert fake_blink.balance(alice) == 0


@pytest.mark.parametrize("outcome", ["TIMEOUT_AFTER_APPLY", "MALFORMED_JSON", "HTTP_500_AFTER_APPLY"])
def test_unknown_outcome_after_apply_then_lookup_finds_the_payment(
    fake_blink: FakeBlink, blink_client: BlinkClient, alice: str, outcome: str
) -> None:
    # given Blink applies the payment but the answer never arrives intact
    invoice = _payout(blink_client, alice)
    fake_blink.script("lnInvoicePaymentSend", [outcome])

    # when
    result = blink_client.pay_invoice(payment_request=invoice.payment_request)
    lookup = blink_client.payment_lookup(payment_hash=invoice.payment_hash)

    # then: unknown, never failed; the lookup says it went through, once
    assert result.status is SendStatus.UNKNOWN
    assert result.ok is None
    assert lookup.status is SendStatus.SUCCEEDED
    assert lookup.preimage is not None
    assert fake_blink.debits_for(invoice.payment_hash) == 1


def test_timeout_by_a_slow_answer_is_unknown(fake_blink: FakeBlink, impatient_client: BlinkClient, alice: str) -> None:
    invoice = _payout(impatient_client, alice)
    fake_blink.script("lnInvoicePaymentSend", ["TIMEOUT_AFTER_APPLY_SLEEP"])

    result = impatient_client.pay_invoice(payment_request=invoice.payment_request)

    assert result.status is SendStatus.UNKNOWN
    assert result.error_code == "TIMEOUT"
    assert impatient_client.payment_lookup(payment_hash=invoice.payment_hash).status is SendStatus.SUCCEEDED
    assert fake_blink.debits_for(invoice.payment_hash) == 1


@pytest.mark.parametrize(("outcome", "code"), [("HTTP_500", "HTTP_500"), ("TIMEOUT", "TRANSPORT_ERROR")])
def test_unknown_outcome_without_apply_then_lookup_finds_nothing_and_a_retry_pays_once(
    fake_blink: FakeBlink, blink_client: BlinkClient, alice: str, outcome: str, code: str
) -> None:
    invoice = _payout(blink_client, alice)
    fake_blink.script("lnInvoicePaymentSend", [outcome])

    result = blink_client.pay_invoice(payment_request=invoice.payment_request)
    lookup = blink_client.payment_lookup(payment_hash=invoice.payment_hash)
    retry = blink_client.pay_invoice(payment_request=invoice.payment_request)

    assert result.status is SendStatus.UNKNOWN
    assert result.error_code == code
    assert lookup.status is SendStatus.UNKNOWN  # no send in the ledger: safe to pay the same bolt11
    assert retry.status is SendStatus.SUCCEEDED
    assert fake_blink.debits_for(invoice.payment_hash) == 1


def test_gateway_rate_limit_on_a_send_is_unknown_with_retry_after(
    fake_blink: FakeBlink, blink_client: BlinkClient, alice: str
) -> None:
    invoice = _payout(blink_client, alice)
    fake_blink.script("lnInvoicePaymentSend", ["HTTP_429"])

    result = blink_client.pay_invoice(payment_request=invoice.payment_request)

    assert result.status is SendStatus.UNKNOWN
    assert result.retry_after == 2.0


def test_reimbursed_after_success_is_failed_on_lookup(
    fake_blink: FakeBlink, blink_client: BlinkClient, alice: str
) -> None:
    # given Blink reports SUCCESS and later refunds the send under the same hash (Blink #4022)
    invoice = _payout(blink_client, alice)
    fake_blink.script("lnInvoicePaymentSend", ["REIMBURSED_AFTER_SUCCESS"])

    # when
    result = blink_client.pay_invoice(payment_request=invoice.payment_request)
    lookup = blink_client.payment_lookup(payment_hash=invoice.payment_hash)

    # then
    assert result.status is SendStatus.SUCCEEDED
    assert lookup.status is SendStatus.FAILED
    assert fake_blink.balance(fake_blink.platform_wallet_id) == START_BALANCE
    assert fake_blink.balance(alice) == 0


def test_a_retry_after_a_reimbursement_pays_once_more_and_lookup_says_succeeded(
    fake_blink: FakeBlink, blink_client: BlinkClient, alice: str
) -> None:
    # given a send that was reimbursed (so the invoice is still unpaid)
    invoice = _payout(blink_client, alice)
    fake_blink.script("lnInvoicePaymentSend", ["REIMBURSED_AFTER_SUCCESS"])
    blink_client.pay_invoice(payment_request=invoice.payment_request)
    assert blink_client.payment_lookup(payment_hash=invoice.payment_hash).status is SendStatus.FAILED

    # when the operator retries the same bolt11
    retry = blink_client.pay_invoice(payment_request=invoice.payment_request)
    lookup = blink_client.payment_lookup(payment_hash=invoice.payment_hash)

    # then the second send stands: the recipient is paid exactly once
    assert retry.status is SendStatus.SUCCEEDED
    assert lookup.status is SendStatus.SUCCEEDED
    assert fake_blink.debits_for(invoice.payment_hash) == 2
    assert fake_blink.balance(alice) == 1_000
    assert fake_blink.balance(fake_blink.platform_wallet_id) == START_BALANCE - 1_000


def test_lookup_of_a_hash_never_paid_is_unknown(blink_client: BlinkClient) -> None:
    lookup = blink_client.payment_lookup(payment_hash="cd" * 32)

    assert lookup.status is SendStatus.UNKNOWN
    assert lookup.fee_sats is None


def test_lookup_ignores_receives_into_the_platform_wallet(fake_blink: FakeBlink, blink_client: BlinkClient) -> None:
    # given a customer paid a platform invoice (a RECEIVE with that hash, no SEND)
    invoice = blink_client.create_invoice(amount_sats=10, memo=None, expires_in_minutes=5, external_id="sale-r")
    fake_blink.pay_invoice_as_customer(invoice.payment_hash)

    assert blink_client.payment_lookup(payment_hash=invoice.payment_hash).status is SendStatus.UNKNOWN


def test_paying_an_invoice_blink_does_not_know_fails_without_a_route(blink_client: BlinkClient) -> None:
    result = blink_client.pay_invoice(payment_request="lnbc10n1p" + "q" * 100)

    assert result.status is SendStatus.FAILED
    assert result.error_code == "ROUTE_FINDING_ERROR"


def test_latency_longer_than_the_read_timeout_is_unknown(
    fake_blink: FakeBlink, impatient_client: BlinkClient, alice: str
) -> None:
    invoice = _payout(impatient_client, alice)
    fake_blink.set_latency("lnInvoicePaymentSend", 0.5)

    result = impatient_client.pay_invoice(payment_request=invoice.payment_request)

    assert result.status is SendStatus.UNKNOWN
    assert result.error_code == "TIMEOUT"
