"""The platform wallet's history (``wallet_transactions``): newest first, Relay cursors, the balance in
the same answer, typed transactions without secrets; inputs checked before any request; odd answers
refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from fakeblink import FakeBlink
from payments.wallet import errors as e
from payments.wallet.client import BlinkClient
from payments.wallet.types import TxDirection, TxStatus

from .conftest import VALID_WALLET_ID, RecordingTransport

START_BALANCE = 100_000_000


def _sale_and_forward(fake: FakeBlink, client: BlinkClient, alice: str, n: int) -> list[str]:
    """n customer payments of 1 000 sats, each forwarded as 600 to alice; returns the payout hashes."""
    payouts = []
    for i in range(n):
        sale = client.create_invoice(amount_sats=1_000, memo=None, expires_in_minutes=15, external_id=f"sale-{i}")
        fake.pay_invoice_as_customer(sale.payment_hash)
        payout = client.create_invoice_for_recipient(
            recipient_wallet_id=alice, amount_sats=600, memo=None, external_id=f"leg-{i}"
        )
        assert client.pay_invoice(payment_request=payout.payment_request).ok is True
        payouts.append(payout.payment_hash)
    return payouts


def test_pages_walk_back_newest_first_to_the_oldest(
    fake_blink: FakeBlink, blink_client: BlinkClient, alice: str
) -> None:
    # given three sales, each forwarded: six platform transactions
    payouts = _sale_and_forward(fake_blink, blink_client, alice, 3)

    # when the history is read four at a time
    first = blink_client.wallet_transactions(first=4)
    second = blink_client.wallet_transactions(first=4, after=first.end_cursor)

    # then the newest comes first, the pages join up, and the second is the last
    assert first.has_next_page is True and second.has_next_page is False
    txs = first.transactions + second.transactions
    assert len(txs) == 6 and len({t.id for t in txs}) == 6
    assert [t.direction for t in txs] == [TxDirection.SEND, TxDirection.RECEIVE] * 3
    assert [t.payment_hash for t in txs if t.direction is TxDirection.SEND] == payouts[::-1]
    assert [t.created_at for t in txs] == sorted((t.created_at for t in txs), reverse=True)
    assert first.end_cursor == first.transactions[-1].cursor
    # and the amounts are signed sats with the balance read in the same answer
    assert {(t.direction, t.amount_sats, t.fee_sats, t.status) for t in txs} == {
        (TxDirection.RECEIVE, 1_000, 0, TxStatus.SUCCESS),
        (TxDirection.SEND, -600, 0, TxStatus.SUCCESS),
    }
    assert first.balance_sats == second.balance_sats == START_BALANCE + 3 * 400
    assert first.wallet_id == fake_blink.platform_wallet_id
    # and no secret is carried
    assert "preimage" not in repr(txs[0]).lower() and not hasattr(txs[0], "preimage")


def test_an_empty_history_is_one_empty_last_page(fake_blink: FakeBlink, blink_client: BlinkClient) -> None:
    page = blink_client.wallet_transactions()

    assert (page.transactions, page.has_next_page, page.end_cursor) == ((), False, None)
    assert page.balance_sats == START_BALANCE


@pytest.mark.parametrize(
    "kwargs", [{"first": 0}, {"first": 101}, {"first": True}, {"after": ""}, {"after": "a b"}, {"after": 5}]
)
def test_bad_page_arguments_are_refused_before_any_request(
    offline_client: BlinkClient, recording: RecordingTransport, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(e.InvalidInput):
        offline_client.wallet_transactions(**kwargs)

    assert recording.requests == []


def _wallet_answer(transactions: Any, *, currency: str = "BTC") -> Callable[[httpx.Request], httpx.Response]:
    wallet = {"id": VALID_WALLET_ID, "walletCurrency": currency, "balance": "2100", "transactions": transactions}
    body = {"data": {"me": {"defaultAccount": {"walletById": wallet}}}}
    return lambda request: httpx.Response(200, json=body)


def _client(responder: Callable[[httpx.Request], httpx.Response]) -> BlinkClient:
    transport = httpx.MockTransport(responder)
    return BlinkClient(
        url="http://blink.invalid/graphql", api_key="blink_x", wallet_id=VALID_WALLET_ID, transport=transport
    )


_NODE = {
    "id": "tx1",
    "createdAt": 1_700_000_000,
    "direction": "RECEIVE",
    "status": "PENDING",
    "externalId": "sale-1",
    "settlementAmount": "1500",
    "settlementFee": -2,
    "settlementCurrency": "BTC",
    "initiationVia": {"__typename": "InitiationViaLn", "paymentHash": "AB" * 32},
}


def test_big_integers_as_strings_and_upper_case_hashes_are_read() -> None:
    connection = {"edges": [{"cursor": "c1", "node": _NODE}], "pageInfo": {"hasNextPage": False, "endCursor": "c1"}}
    with _client(_wallet_answer(connection)) as client:
        page = client.wallet_transactions(first=10)

    (tx,) = page.transactions
    assert (page.balance_sats, tx.amount_sats, tx.fee_sats, tx.status) == (2100, 1500, 2, TxStatus.PENDING)
    assert (tx.payment_hash, tx.external_id, tx.cursor) == ("ab" * 32, "sale-1", "c1")


@pytest.mark.parametrize(
    "connection",
    [
        {"edges": [{"cursor": "c1", "node": {**_NODE, "status": "DONE"}}], "pageInfo": {"hasNextPage": False}},
        {"edges": [{"cursor": "c1", "node": {**_NODE, "settlementAmount": "1.5"}}], "pageInfo": {"hasNextPage": False}},
        {"edges": [{"node": _NODE}], "pageInfo": {"hasNextPage": False}},
        {"edges": [], "pageInfo": {"hasNextPage": True, "endCursor": None}},
        {"edges": "none", "pageInfo": {"hasNextPage": False}},
    ],
)
def test_a_malformed_page_is_a_protocol_error(connection: dict[str, Any]) -> None:
    with _client(_wallet_answer(connection)) as client, pytest.raises(e.WalletProtocolError):
        client.wallet_transactions()


def test_a_platform_wallet_that_is_not_btc_is_refused() -> None:
    connection = {"edges": [], "pageInfo": {"hasNextPage": False}}
    with _client(_wallet_answer(connection, currency="USD")) as client, pytest.raises(e.WrongCurrency):
        client.wallet_transactions()
