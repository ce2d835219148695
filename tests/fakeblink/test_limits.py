"""Blink's account limits in the fake (fakeblink/limits.py): the invoice-creation rate limit per creating
account (per recipient account for on-behalf creation) with its block, the rolling daily intraledger
volume, and how they are configured (constructor, CLI options, control endpoint)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from fakeblink import FakeBlink
from fakeblink.__main__ import build_parser, limits_from
from fakeblink.limits import InvoiceRateLimit, LimitsConfig
from payments.wallet import errors as e
from payments.wallet.client import BlinkClient
from payments.wallet.types import SendStatus


@pytest.fixture
def control(fake_blink: FakeBlink) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{fake_blink.base_url}/control", timeout=5) as client:
        yield client


def _sale(client: BlinkClient, n: int) -> None:
    client.create_invoice(amount_sats=10, memo=None, expires_in_minutes=5, external_id=f"sale-{n}")


def test_sixty_invoices_a_minute_then_blocked_for_five_minutes(
    fake_blink: FakeBlink, blink_client: BlinkClient
) -> None:
    # given Blink's defaults (on unless a test turns them off)
    assert fake_blink.limits.config.invoice_rate == InvoiceRateLimit(points=60, window_seconds=60, block_seconds=300)
    for n in range(60):
        _sale(blink_client, n)

    # when the 61st comes within the minute
    with pytest.raises(e.RateLimited) as refused:
        _sale(blink_client, 60)

    # then it is Blink's TOO_MANY_REQUEST, and the block outlives the window
    assert refused.value.code == "TOO_MANY_REQUEST"
    fake_blink.advance_clock(61)
    with pytest.raises(e.RateLimited):
        _sale(blink_client, 61)
    # attempts during the block do not extend it: 300 s after the block started, creation works again
    fake_blink.advance_clock(240)
    _sale(blink_client, 62)
    assert len(fake_blink.dump()["invoices"]) == 61


def test_the_window_restarts_after_a_quiet_minute(fake_blink: FakeBlink, blink_client: BlinkClient) -> None:
    for n in range(60):
        _sale(blink_client, n)
    fake_blink.advance_clock(60)

    for n in range(60, 120):  # a new window: 60 more
        _sale(blink_client, n)
    with pytest.raises(e.RateLimited):
        _sale(blink_client, 120)


def test_on_behalf_creation_is_counted_against_the_recipient_account(
    fake_blink: FakeBlink, blink_client: BlinkClient, alice: str
) -> None:
    # given a low limit, and the platform account blocked by its own creations
    fake_blink.configure_limits({"invoice_rate": {"points": 2}})
    for n in range(2):
        _sale(blink_client, n)
    with pytest.raises(e.RateLimited):
        _sale(blink_client, 2)

    # when invoices are created on behalf of alice (no key: keyed by alice's account)
    for n in range(2):
        blink_client.create_invoice_for_recipient(
            recipient_wallet_id=alice, amount_sats=5, memo=None, external_id=f"a{n}"
        )

    # then alice's own count blocks the third, independently of the platform's
    with pytest.raises(e.RateLimited):
        blink_client.create_invoice_for_recipient(recipient_wallet_id=alice, amount_sats=5, memo=None, external_id="a2")
    bob = fake_blink.add_account("bob")
    blink_client.create_invoice_for_recipient(recipient_wallet_id=bob, amount_sats=5, memo=None, external_id="b0")
    state = fake_blink.limits_state()
    assert state["invoice_windows"][fake_blink.platform.id]["blocked_until"] is not None


def test_daily_intraledger_volume_answers_transaction_restricted_and_moves_nothing(
    fake_blink: FakeBlink, blink_client: BlinkClient, alice: str, control: httpx.Client
) -> None:
    # given a limit of 100 cents a day (USD at 100 000: 1 000 sats = 100 cents), set over HTTP
    assert control.post("/price", json={"currency": "USD", "btc_price": "100000"}).status_code == 200
    answer = control.post("/limits", json={"intraledger_daily_cents": 100})
    assert answer.status_code == 200 and answer.json()["config"]["intraledger_daily_cents"] == 100
    first = blink_client.create_invoice_for_recipient(
        recipient_wallet_id=alice, amount_sats=600, memo=None, external_id="l1"
    )
    second = blink_client.create_invoice_for_recipient(
        recipient_wallet_id=alice, amount_sats=500, memo=None, external_id="l2"
    )
    assert blink_client.pay_invoice(payment_request=first.payment_request).status is SendStatus.SUCCEEDED
    balance = fake_blink.balance(fake_blink.platform_wallet_id)

    # when a send would take the day's volume past the limit
    refused = blink_client.pay_invoice(payment_request=second.payment_request)

    # then Blink's explicit refusal, and nothing moved
    assert refused.status is SendStatus.FAILED
    assert refused.error_code == "TRANSACTION_RESTRICTED"
    assert fake_blink.balance(fake_blink.platform_wallet_id) == balance
    assert fake_blink.debits_for(second.payment_hash) == 0
    assert control.get("/limits").json()["intraledger_cents_24h"][fake_blink.platform.id] == 60

    # and 24 hours after the first send (a rolling window) the same amount can be sent
    fake_blink.advance_clock(24 * 3600)
    later = blink_client.create_invoice_for_recipient(
        recipient_wallet_id=alice, amount_sats=500, memo=None, external_id="l3"
    )
    assert blink_client.pay_invoice(payment_request=later.payment_request).status is SendStatus.SUCCEEDED


def test_control_endpoint_turns_limits_off_and_resets_counters(
    fake_blink: FakeBlink, blink_client: BlinkClient, control: httpx.Client
) -> None:
    control.post("/limits", json={"invoice_rate": {"points": 1, "block_seconds": 300}})
    _sale(blink_client, 0)
    with pytest.raises(e.RateLimited):
        _sale(blink_client, 1)

    # resetting the counters lifts the block; null turns the limit off
    control.post("/limits", json={"reset_counters": True})
    _sale(blink_client, 2)
    off = control.post("/limits", json={"invoice_rate": None, "intraledger_daily_cents": None})
    assert off.json()["config"] == {"invoice_rate": None, "intraledger_daily_cents": None}
    for n in range(3, 10):
        _sale(blink_client, n)
    assert control.post("/limits", json={"invoice_rat": None}).status_code == 400


def test_cli_options_keep_blinks_defaults_unless_told() -> None:
    parser = build_parser()

    assert limits_from(parser.parse_args([])) == LimitsConfig()
    assert limits_from(parser.parse_args(["--no-limits"])) == LimitsConfig.off()
    raised = limits_from(
        parser.parse_args(
            ["--invoice-rate-limit", "6000", "--invoice-rate-block", "10", "--intraledger-daily-cents", "off"]
        )
    )
    assert raised == LimitsConfig(
        invoice_rate=InvoiceRateLimit(points=6000, window_seconds=60, block_seconds=10), intraledger_daily_cents=None
    )
    assert limits_from(parser.parse_args(["--invoice-rate-limit", "off"])).invoice_rate is None
    with pytest.raises(SystemExit):
        parser.parse_args(["--intraledger-daily-cents", "-5"])


def test_each_platform_key_is_its_own_account_with_its_own_limit(
    fake_blink: FakeBlink, blink_client: BlinkClient
) -> None:
    # given a second platform account (its own key, all scopes), as BlinkPOS's platform_accounts use
    key = "blink_second0platform0key000000000000"
    wallet = fake_blink.add_account("second_platform", api_key=key, scopes=("READ", "RECEIVE", "WRITE"))
    fake_blink.configure_limits({"invoice_rate": {"points": 2}})
    with BlinkClient(url=fake_blink.url, api_key=key, wallet_id=wallet) as second:
        # when the first platform account is blocked
        for n in range(2):
            _sale(blink_client, n)
        with pytest.raises(e.RateLimited):
            _sale(blink_client, 2)

        # then the second still creates (on its own wallet, the same externalId being unique per account)
        second.create_invoice(amount_sats=10, memo=None, expires_in_minutes=5, external_id="sale-0")
        second.create_invoice(amount_sats=10, memo=None, expires_in_minutes=5, external_id="sale-1")
        # and counts its own window to Blink's limit
        with pytest.raises(e.RateLimited):
            second.create_invoice(amount_sats=10, memo=None, expires_in_minutes=5, external_id="sale-2")
    owners = {i["wallet_id"] for i in fake_blink.dump()["invoices"]}
    assert owners == {fake_blink.platform_wallet_id, wallet}
    windows = fake_blink.limits_state()["invoice_windows"]
    assert len([w for w in windows.values() if w["blocked_until"] is not None]) == 2
