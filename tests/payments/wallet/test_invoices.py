"""The real client against the fake Blink over HTTP: invoices, recipients, price, keys."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import bolt11
import pytest

from fakeblink import FakeBlink
from payments.wallet import errors as e
from payments.wallet.client import BlinkClient
from payments.wallet.conversion import fiat_to_sats, sats_to_fiat
from payments.wallet.types import InvoiceState

from .conftest import MERCHANT_KEY, PLATFORM_KEY


def test_create_invoice_on_the_platform_wallet(fake_blink: FakeBlink, blink_client: BlinkClient) -> None:
    # when
    invoice = blink_client.create_invoice(amount_sats=2_500, memo="Coffee", expires_in_minutes=15, external_id="sale-1")

    # then
    assert invoice.amount_sats == 2_500
    assert invoice.external_id == "sale-1"
    # A real BOLT11 (2 500 sats = 25 micro-BTC): amount, hash, memo and expiry are in the signed invoice.
    assert invoice.payment_request.startswith("lnbc25u1p")
    decoded = bolt11.decode(invoice.payment_request)
    assert (decoded.amount_msat, decoded.payment_hash, decoded.description) == (
        2_500_000,
        invoice.payment_hash,
        "Coffee",
    )
    assert decoded.expiry == 15 * 60
    assert invoice.expires_at is not None
    assert abs(invoice.expires_at - (datetime.now(UTC) + timedelta(minutes=15))) < timedelta(seconds=5)
    stored = fake_blink.invoice(invoice.payment_hash)
    assert stored is not None
    assert stored["wallet_id"] == fake_blink.platform_wallet_id
    assert stored["memo"] == "Coffee"
    assert stored["status"] == "PENDING"


def test_duplicate_external_id_is_reported_as_such(blink_client: BlinkClient) -> None:
    # given
    blink_client.create_invoice(amount_sats=100, memo=None, expires_in_minutes=15, external_id="sale-dup")

    # when / then
    with pytest.raises(e.DuplicateExternalId) as caught:
        blink_client.create_invoice(amount_sats=100, memo=None, expires_in_minutes=15, external_id="sale-dup")
    assert caught.value.code == "INVALID_INPUT"
    assert caught.value.field == "external_id"
    assert isinstance(caught.value, e.InvalidInput)


def test_status_goes_from_pending_to_paid_with_a_verified_preimage(
    fake_blink: FakeBlink, blink_client: BlinkClient
) -> None:
    # given
    invoice = blink_client.create_invoice(amount_sats=1_000, memo=None, expires_in_minutes=15, external_id="sale-2")
    assert blink_client.invoice_status(payment_hash=invoice.payment_hash).state is InvoiceState.PENDING

    # when a customer pays
    fake_blink.pay_invoice_as_customer(invoice.payment_hash)
    status = blink_client.invoice_status(payment_hash=invoice.payment_hash)

    # then
    assert status.state is InvoiceState.PAID
    assert status.preimage is not None
    assert hashlib.sha256(bytes.fromhex(status.preimage)).hexdigest() == invoice.payment_hash
    assert fake_blink.balance(fake_blink.platform_wallet_id) == 100_000_000 + 1_000


def test_status_of_an_expired_invoice(fake_blink: FakeBlink, blink_client: BlinkClient) -> None:
    invoice = blink_client.create_invoice(amount_sats=1_000, memo=None, expires_in_minutes=1, external_id="sale-3")

    fake_blink.advance_clock(61)

    assert blink_client.invoice_status(payment_hash=invoice.payment_hash).state is InvoiceState.EXPIRED


def test_status_of_an_unknown_hash_is_invoice_not_found(blink_client: BlinkClient) -> None:
    with pytest.raises(e.InvoiceNotFound):
        blink_client.invoice_status(payment_hash="ab" * 32)


def test_cancel_an_unpaid_invoice_then_it_cannot_be_paid(fake_blink: FakeBlink, blink_client: BlinkClient) -> None:
    invoice = blink_client.create_invoice(amount_sats=1_000, memo=None, expires_in_minutes=15, external_id="sale-4")

    assert blink_client.cancel_invoice(payment_hash=invoice.payment_hash) is True

    assert blink_client.invoice_status(payment_hash=invoice.payment_hash).state is InvoiceState.EXPIRED
    with pytest.raises(ValueError, match="expired or cancelled"):
        fake_blink.pay_invoice_as_customer(invoice.payment_hash)


def test_cancel_a_paid_invoice_answers_false(fake_blink: FakeBlink, blink_client: BlinkClient) -> None:
    invoice = blink_client.create_invoice(amount_sats=1_000, memo=None, expires_in_minutes=15, external_id="sale-5")
    fake_blink.pay_invoice_as_customer(invoice.payment_hash)

    assert blink_client.cancel_invoice(payment_hash=invoice.payment_hash) is False


def test_on_behalf_invoice_is_credited_to_the_recipient(
    fake_blink: FakeBlink, blink_client: BlinkClient, alice: str
) -> None:
    # when
    invoice = blink_client.create_invoice_for_recipient(
        recipient_wallet_id=alice, amount_sats=700, memo="Tip from table 4", external_id="leg-1"
    )

    # then
    stored = fake_blink.invoice(invoice.payment_hash)
    assert stored is not None
    assert stored["wallet_id"] == alice
    assert stored["external_id"] == "leg-1"
    assert invoice.expires_at is not None  # default 1440 minutes


def test_on_behalf_invoice_for_an_unknown_wallet_is_recipient_not_found(blink_client: BlinkClient) -> None:
    with pytest.raises(e.RecipientNotFound):
        blink_client.create_invoice_for_recipient(
            recipient_wallet_id="00000000-0000-4000-8000-000000000000", amount_sats=1, memo=None, external_id="leg-x"
        )


def test_on_behalf_invoice_for_a_usd_wallet_is_wrong_currency(fake_blink: FakeBlink, blink_client: BlinkClient) -> None:
    usd_wallet = fake_blink.add_account("dave_usd", currencies=("USD",))

    with pytest.raises(e.WrongCurrency):
        blink_client.create_invoice_for_recipient(
            recipient_wallet_id=usd_wallet, amount_sats=1, memo=None, external_id="leg-usd"
        )


def test_resolve_username(fake_blink: FakeBlink, blink_client: BlinkClient, alice: str) -> None:
    ref = blink_client.resolve_username(username="Alice")

    assert ref.wallet_id == alice
    assert ref.currency == "BTC"
    assert ref.username == "alice"


def test_resolve_username_picks_the_btc_wallet_of_a_two_wallet_account(
    fake_blink: FakeBlink, blink_client: BlinkClient
) -> None:
    # given an account whose default (first) wallet is USD
    fake_blink.add_account("erin", currencies=("USD", "BTC"))

    ref = blink_client.resolve_username(username="erin")

    assert ref.wallet_id == fake_blink.wallets_of("erin")["BTC"]


def test_resolve_unknown_username_is_recipient_not_found(blink_client: BlinkClient) -> None:
    with pytest.raises(e.RecipientNotFound) as caught:
        blink_client.resolve_username(username="nobody_here")
    assert caught.value.code == "NOT_FOUND"


def test_resolve_usd_only_username_is_wrong_currency(fake_blink: FakeBlink, blink_client: BlinkClient) -> None:
    fake_blink.add_account("dave_usd", currencies=("USD",))

    with pytest.raises(e.WrongCurrency):
        blink_client.resolve_username(username="dave_usd")


@pytest.mark.parametrize(
    ("operation", "outcome", "error"),
    [
        ("lnInvoiceCreate", "TOO_MANY_REQUEST", e.RateLimited),
        ("lnInvoiceCreate", "HTTP_429", e.RateLimited),
        ("lnInvoiceCreate", "HTTP_500", e.WalletUnavailable),
        ("lnInvoiceCreate", "TIMEOUT", e.WalletUnavailable),
        ("lnInvoiceCreate", "MALFORMED_JSON", e.WalletUnavailable),
        ("lnInvoiceCreate", "INVALID_INPUT", e.InvalidInput),
        ("lnInvoiceCreate", "NOT_AUTHORIZED", e.NotAuthorized),
    ],
)
def test_create_invoice_failures_map_to_typed_errors(
    fake_blink: FakeBlink, blink_client: BlinkClient, operation: str, outcome: str, error: type[e.WalletError]
) -> None:
    fake_blink.script(operation, [outcome])

    with pytest.raises(error):
        blink_client.create_invoice(amount_sats=10, memo=None, expires_in_minutes=15, external_id="sale-err")


def test_rate_limit_from_the_gateway_carries_retry_after(fake_blink: FakeBlink, blink_client: BlinkClient) -> None:
    fake_blink.script("lnInvoiceCreate", ["HTTP_429"])

    with pytest.raises(e.RateLimited) as caught:
        blink_client.create_invoice(amount_sats=10, memo=None, expires_in_minutes=15, external_id="sale-429")

    assert caught.value.retry_after == 2.0
    assert caught.value.retryable is True


@pytest.mark.parametrize(
    ("outcome", "error"),
    [
        ("TOO_MANY_REQUEST", e.RateLimited),
        ("RECEIVE_DISABLED", e.ReceiveDisabled),
        ("NOT_FOUND", e.RecipientNotFound),
        ("HTTP_500", e.WalletUnavailable),
        ("TIMEOUT", e.WalletUnavailable),
    ],
)
def test_on_behalf_failures_map_to_typed_errors(
    fake_blink: FakeBlink, blink_client: BlinkClient, alice: str, outcome: str, error: type[e.WalletError]
) -> None:
    fake_blink.script("lnInvoiceCreateOnBehalfOfRecipient", [outcome])

    with pytest.raises(error):
        blink_client.create_invoice_for_recipient(recipient_wallet_id=alice, amount_sats=1, memo=None, external_id="l")


def test_scripted_outcomes_are_consumed_in_order(fake_blink: FakeBlink, blink_client: BlinkClient) -> None:
    fake_blink.script("lnInvoiceCreate", ["TOO_MANY_REQUEST", "HTTP_500"])

    with pytest.raises(e.RateLimited):
        blink_client.create_invoice(amount_sats=1, memo=None, expires_in_minutes=15, external_id="a")
    with pytest.raises(e.WalletUnavailable):
        blink_client.create_invoice(amount_sats=1, memo=None, expires_in_minutes=15, external_id="a")
    assert (
        blink_client.create_invoice(amount_sats=1, memo=None, expires_in_minutes=15, external_id="a").amount_sats == 1
    )


def test_price_and_conversion(fake_blink: FakeBlink, blink_client: BlinkClient) -> None:
    # given BTC at exactly 100 000 USD: 1 sat = 0.1 US cent
    fake_blink.set_price("USD", Decimal("100000"))

    # when
    price = blink_client.btc_price(currency="usd")

    # then
    assert (price.currency, price.base, price.offset, price.fraction_digits) == ("USD", 10**11, 12, 2)
    assert price.sats_per_unit == Decimal(1000)
    assert fiat_to_sats(Decimal("12.34"), price=price) == 12_340
    assert sats_to_fiat(12_345, price=price) == Decimal("12.35")  # half a cent rounds up


def test_price_in_a_zero_decimal_currency(blink_client: BlinkClient) -> None:
    price = blink_client.btc_price(currency="JPY")

    assert price.fraction_digits == 0
    assert fiat_to_sats(Decimal(150), price=price) == 1_000  # 15 000 000 JPY per BTC


def test_price_in_an_unknown_currency_is_invalid_input(blink_client: BlinkClient) -> None:
    with pytest.raises(e.InvalidInput):
        blink_client.btc_price(currency="XXX")


def test_key_info_of_a_merchant_key(fake_blink: FakeBlink, blink_client: BlinkClient) -> None:
    # given a merchant who pasted an invoice-only key
    wallet = fake_blink.add_account("demo_merchant", api_key=MERCHANT_KEY, scopes=("READ", "RECEIVE"))

    # when the platform client checks it
    info = blink_client.key_info(api_key=MERCHANT_KEY)

    # then
    assert info.scopes == frozenset({"READ", "RECEIVE"})
    assert info.btc_wallet is not None
    assert info.btc_wallet.wallet_id == wallet
    assert info.btc_wallet.username == "demo_merchant"


def test_key_info_of_the_platform_key(fake_blink: FakeBlink, blink_client: BlinkClient) -> None:
    info = blink_client.key_info(api_key=PLATFORM_KEY)

    assert info.scopes == frozenset({"READ", "RECEIVE", "WRITE"})
    assert [w.wallet_id for w in info.wallets] == [fake_blink.platform_wallet_id]


def test_key_info_of_an_unknown_key_is_not_authorized(blink_client: BlinkClient) -> None:
    with pytest.raises(e.NotAuthorized):
        blink_client.key_info(api_key="blink_notakeyanyoneknows")


def test_a_receive_only_key_cannot_pay(fake_blink: FakeBlink, alice: str) -> None:
    # given a client running on a key without WRITE
    fake_blink.add_account("shop", api_key=MERCHANT_KEY, scopes=("READ", "RECEIVE"))
    shop_wallet = fake_blink.wallets_of("shop")["BTC"]
    with BlinkClient(url=fake_blink.url, api_key=MERCHANT_KEY, wallet_id=shop_wallet) as client:
        invoice = client.create_invoice_for_recipient(
            recipient_wallet_id=alice, amount_sats=1, memo=None, external_id="x"
        )

        # when
        result = client.pay_invoice(payment_request=invoice.payment_request)

    # then Blink refused before doing anything, which the client still reports as "unknown"
    assert result.error_code == "NOT_AUTHORIZED"
    assert result.ok is None


def test_platform_wallet_is_discovered_when_not_configured(fake_blink: FakeBlink) -> None:
    with BlinkClient(url=fake_blink.url, api_key=fake_blink.platform_api_key, wallet_id=None) as client:
        invoice = client.create_invoice(amount_sats=5, memo=None, expires_in_minutes=5, external_id="disc")

    stored = fake_blink.invoice(invoice.payment_hash)
    assert stored is not None
    assert stored["wallet_id"] == fake_blink.platform_wallet_id
