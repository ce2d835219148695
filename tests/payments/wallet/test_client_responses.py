"""The client against canned HTTP answers: shapes and failures the fake does not produce on its own
(odd gateway statuses, inconsistent preimages, Blink's catch-all errors, bugs in our own parsing)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from payments.wallet import errors as e
from payments.wallet.client import BlinkClient
from payments.wallet.mapping import payment_lookup
from payments.wallet.types import SendStatus

from .conftest import VALID_WALLET_ID

PREIMAGE = "11" * 32
HASH = hashlib.sha256(bytes.fromhex(PREIMAGE)).hexdigest()
BOLT11 = "lnbc10n1p" + "q" * 100

Responder = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def answer() -> Iterator[Callable[[Responder], BlinkClient]]:
    clients: list[BlinkClient] = []

    def make(responder: Responder) -> BlinkClient:
        client = BlinkClient(
            url="http://blink.invalid/graphql",
            api_key="blink_cannedkey",
            wallet_id=VALID_WALLET_ID,
            transport=httpx.MockTransport(responder),
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Responder:
    return lambda request: httpx.Response(status, json=payload, headers=headers)


def _graphql_error(code: str, message: str) -> dict[str, Any]:
    return {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}


def test_the_api_key_header_is_sent(answer: Callable[[Responder], BlinkClient]) -> None:
    seen: list[httpx.Request] = []

    def responder(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": {"realtimePrice": None}})

    with pytest.raises(e.WalletProtocolError):
        answer(responder).btc_price(currency="USD")

    assert seen[0].headers["x-api-key"] == "blink_cannedkey"
    assert json.loads(seen[0].content)["variables"] == {"currency": "USD"}


@pytest.mark.parametrize(
    ("response", "error", "code"),
    [
        (_json({}, status=401), e.NotAuthorized, "HTTP_401"),
        (_json({"error": "no"}, status=404), e.WalletProtocolError, "HTTP_404"),
        (_json({}, status=503, headers={"Retry-After": "7"}), e.WalletUnavailable, "HTTP_503"),
        (lambda r: httpx.Response(200, content=b"<html>oops"), e.WalletUnavailable, "MALFORMED_RESPONSE"),
        (_json(["not", "an", "object"]), e.WalletUnavailable, "MALFORMED_RESPONSE"),
        (_json(_graphql_error("GRAPHQL_VALIDATION_FAILED", "Cannot query field"), 400), e.WalletProtocolError, None),
        (_json(_graphql_error("INTERNAL_SERVER_ERROR", "boom")), e.WalletUnavailable, None),
        (_json({"errors": [{"message": "no code at all"}]}), e.WalletUnavailable, "INTERNAL_SERVER_ERROR"),
        (_json(_graphql_error("LND_OFFLINE", "Offchain action failed")), e.WalletUnavailable, None),
        (_json(_graphql_error("SOMETHING_NEW", "a code we do not know")), e.WalletError, "SOMETHING_NEW"),
    ],
)
def test_read_failures_map_to_typed_errors(
    answer: Callable[[Responder], BlinkClient], response: Responder, error: type[e.WalletError], code: str | None
) -> None:
    with pytest.raises(error) as caught:
        answer(response).invoice_status(payment_hash=HASH)

    if code:
        assert caught.value.code == code


def test_retry_after_is_kept_on_5xx(answer: Callable[[Responder], BlinkClient]) -> None:
    with pytest.raises(e.WalletUnavailable) as caught:
        answer(_json({}, status=503, headers={"Retry-After": "7"})).invoice_status(payment_hash=HASH)

    assert caught.value.retry_after == 7.0


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("Unexpected error occurred (code: CouldNotFindWalletFromUsernameError: bob)", e.RecipientNotFound),
        ("Unexpected error occurred (code: CouldNotFindWalletFromUsernameAndCurrencyError: bob)", e.WrongCurrency),
        ("Unexpected error occurred, please try again", e.WalletUnavailable),
    ],
)
@pytest.mark.parametrize("code", ["UNKNOWN_CLIENT_ERROR", "UNEXPECTED_CLIENT_ERROR"])
def test_blinks_catch_all_errors_are_refined(
    answer: Callable[[Responder], BlinkClient], code: str, message: str, error: type[e.WalletError]
) -> None:
    with pytest.raises(error):
        answer(_json(_graphql_error(code, message))).resolve_username(username="bob")


def test_a_username_answered_with_a_usd_wallet_is_wrong_currency(answer: Callable[[Responder], BlinkClient]) -> None:
    client = answer(_json({"data": {"accountDefaultWallet": {"id": VALID_WALLET_ID, "currency": "USD"}}}))

    with pytest.raises(e.WrongCurrency):
        client.resolve_username(username="bob")


def test_a_preimage_that_does_not_match_is_a_protocol_error(answer: Callable[[Responder], BlinkClient]) -> None:
    status = {"paymentHash": HASH, "status": "PAID", "paymentPreimage": "22" * 32}
    client = answer(_json({"data": {"lnInvoicePaymentStatusByHash": status}}))

    with pytest.raises(e.WalletProtocolError) as caught:
        client.invoice_status(payment_hash=HASH)
    assert caught.value.code == "PREIMAGE_MISMATCH"


def test_paid_without_a_preimage_is_accepted(answer: Callable[[Responder], BlinkClient]) -> None:
    # Blink before 2026 does not return paymentPreimage.
    status = {"paymentHash": HASH, "status": "PAID", "paymentPreimage": None}
    client = answer(_json({"data": {"lnInvoicePaymentStatusByHash": status}}))

    assert client.invoice_status(payment_hash=HASH).preimage is None


def test_a_price_in_another_currency_is_refused(answer: Callable[[Responder], BlinkClient]) -> None:
    price = {
        "id": "x",
        "timestamp": 1,
        "btcSatPrice": {"base": 10**11, "offset": 12},
        "denominatorCurrencyDetails": {"id": "USD", "fractionDigits": 2},
    }
    client = answer(_json({"data": {"realtimePrice": price}}))

    with pytest.raises(e.WalletProtocolError) as caught:
        client.btc_price(currency="EUR")
    assert caught.value.code == "PRICE_CURRENCY_MISMATCH"


def _send(payload: Any) -> Responder:
    return _json({"data": {"lnInvoicePaymentSend": payload}})


@pytest.mark.parametrize(
    ("responder", "status", "code"),
    [
        # Top-level error only (scope middleware): Blink said nothing about the payment.
        (_json(_graphql_error("NOT_AUTHORIZED", "not authorized to execute mutations")), SendStatus.UNKNOWN, None),
        # A validation error without a status: never a failure.
        (_send({"errors": [{"message": "Invalid value for Memo"}], "status": None}), SendStatus.UNKNOWN, "NO_STATUS"),
        (_send({"errors": [], "status": "SOMETHING_NEW"}), SendStatus.UNKNOWN, "NO_STATUS"),
        (_send(None), SendStatus.UNKNOWN, "NO_PAYLOAD"),
        (_json({"data": {"lnInvoicePaymentSend": "garbage"}}), SendStatus.UNKNOWN, "MALFORMED_RESPONSE"),
        (lambda r: httpx.Response(502, content=b"bad gateway"), SendStatus.UNKNOWN, "HTTP_502"),
        (_json({}, status=401), SendStatus.UNKNOWN, "HTTP_401"),
        (
            _send({"errors": [{"code": "ROUTE_FINDING_ERROR", "message": "no route"}], "status": "FAILURE"}),
            SendStatus.FAILED,
            "ROUTE_FINDING_ERROR",
        ),
        (_send({"errors": [], "status": "FAILURE"}), SendStatus.FAILED, "FAILURE"),
        (_send({"errors": [], "status": "PENDING", "transaction": None}), SendStatus.PENDING, None),
    ],
)
def test_send_outcomes(
    answer: Callable[[Responder], BlinkClient], responder: Responder, status: SendStatus, code: str | None
) -> None:
    result = answer(responder).pay_invoice(payment_request=BOLT11)

    assert result.status is status
    if code:
        assert result.error_code == code


def test_a_bug_while_sending_is_unknown_not_a_crash(answer: Callable[[Responder], BlinkClient]) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("bug in a transport")

    result = answer(broken).pay_invoice(payment_request=BOLT11)

    assert result.status is SendStatus.UNKNOWN
    assert result.error_code == "CLIENT_ERROR"


def test_a_success_with_a_wrong_preimage_keeps_success_but_drops_the_preimage(
    answer: Callable[[Responder], BlinkClient],
) -> None:
    tx = {
        "settlementFee": 3,
        "initiationVia": {"__typename": "InitiationViaLn", "paymentHash": HASH},
        "settlementVia": {"__typename": "SettlementViaLn", "preImage": "22" * 32},
    }

    result = answer(_send({"errors": [], "status": "SUCCESS", "transaction": tx})).pay_invoice(payment_request=BOLT11)

    assert result.status is SendStatus.SUCCEEDED
    assert result.fee_sats == 3
    assert result.preimage is None


def _tx(direction: str, status: str, created_at: int, **extra: Any) -> dict[str, Any]:
    return {"direction": direction, "status": status, "createdAt": created_at, "settlementFee": 0, **extra}


@pytest.mark.parametrize(
    ("transactions", "expected"),
    [
        ([], SendStatus.UNKNOWN),
        ([_tx("RECEIVE", "SUCCESS", 10)], SendStatus.UNKNOWN),
        ([_tx("SEND", "SUCCESS", 10)], SendStatus.SUCCEEDED),
        ([_tx("SEND", "PENDING", 10)], SendStatus.PENDING),
        ([_tx("SEND", "FAILURE", 10)], SendStatus.FAILED),
        ([_tx("RECEIVE", "SUCCESS", 11), _tx("SEND", "SUCCESS", 10)], SendStatus.FAILED),  # reimbursed
        ([_tx("RECEIVE", "SUCCESS", 10), _tx("SEND", "SUCCESS", 10)], SendStatus.FAILED),  # same second
        ([_tx("SEND", "SUCCESS", 20), _tx("RECEIVE", "SUCCESS", 10)], SendStatus.SUCCEEDED),  # older receive
        ([_tx("SEND", "FAILURE", 10), _tx("SEND", "SUCCESS", 20)], SendStatus.SUCCEEDED),  # a retry went through
        # refunded, then a retry succeeded: the money is out once
        ([_tx("SEND", "SUCCESS", 30), _tx("RECEIVE", "SUCCESS", 11), _tx("SEND", "SUCCESS", 10)], SendStatus.SUCCEEDED),
        # refunded, retry still in flight
        ([_tx("SEND", "PENDING", 30), _tx("RECEIVE", "SUCCESS", 11), _tx("SEND", "SUCCESS", 10)], SendStatus.PENDING),
        # both sends refunded
        (
            [
                _tx("SEND", "SUCCESS", 10),
                _tx("RECEIVE", "SUCCESS", 11),
                _tx("SEND", "SUCCESS", 20),
                _tx("RECEIVE", "SUCCESS", 21),
            ],
            SendStatus.FAILED,
        ),
    ],
)
def test_lookup_rules(transactions: list[dict[str, Any]], expected: SendStatus) -> None:
    assert payment_lookup(transactions, payment_hash=HASH).status is expected


def test_lookup_returns_the_verified_preimage_and_fee() -> None:
    send = _tx("SEND", "SUCCESS", 10, settlementFee=-4, settlementVia={"preImage": PREIMAGE})

    lookup = payment_lookup([send], payment_hash=HASH)

    assert lookup.fee_sats == 4
    assert lookup.preimage == PREIMAGE
