"""Turning Blink's answers into typed values and errors.

Kept apart from the HTTP code so each rule is one small function: which Blink error code means
which ``WalletError``, when a send counts as failed, how a refund shows up in a lookup. Anything
that does not have the expected shape is a ``WalletProtocolError``; for sends it is UNKNOWN.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from payments.wallet import errors as e
from payments.wallet.types import (
    CreatedInvoice,
    InvoiceState,
    InvoiceStatus,
    KeyInfo,
    PaymentLookup,
    Price,
    SendResult,
    SendStatus,
    TransactionPage,
    TxDirection,
    TxStatus,
    WalletRef,
    WalletTransaction,
    preimage_matches,
)

logger = logging.getLogger(__name__)


class Subject(enum.Enum):
    """What the call was about, so NOT_FOUND and friends can become the precise error."""

    RECIPIENT = "recipient"
    INVOICE = "invoice"
    OTHER = "other"


# Blink says the backend is temporarily unable to serve: worth retrying later.
_UNAVAILABLE_CODES = frozenset(
    {"LND_OFFLINE", "DEALER_OFFLINE", "DEALER_ERROR", "PRICE_SERVICE_OFFLINE", "DB_ERROR", "LIQUIDITY_ERROR"}
)
_AUTH_CODES = frozenset({"NOT_AUTHENTICATED", "NOT_AUTHORIZED"})
# Apollo's codes for a document or variables it refused: our bug, not Blink's mood.
_PROTOCOL_CODES = frozenset({"GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED", "BAD_USER_INPUT", "BAD_REQUEST"})
# Blink's catch-alls wrap a domain error name into the message ("... (code: CouldNotFind...Error)").
_CATCH_ALL_CODES = frozenset({"UNKNOWN_CLIENT_ERROR", "UNEXPECTED_CLIENT_ERROR", "INTERNAL_SERVER_ERROR"})
_WRONG_CURRENCY_MARKERS = ("CouldNotFindWalletFromUsernameAndCurrency", "wallet's currency")
_RECIPIENT_MISSING_MARKERS = (
    "CouldNotFindWalletFromUsername",
    "CouldNotFindAccountFromUsername",
    "CouldNotFindWalletFromId",
    "CouldNotFindUserFromWalletId",
)
DUPLICATE_EXTERNAL_ID_MESSAGE = "External id for invoice or transaction already exists"
# Blink answers FAILURE + this message when the invoice has a payment in flight (LnPaymentRequestInTransit).
# The money is moving, so reporting FAILED would invite a second send: it is PENDING.
_IN_TRANSIT_MESSAGE = "pending payment for this invoice"


def error_from_blink(code: str | None, message: str, *, subject: Subject) -> e.WalletError:
    """One Blink error (top-level ``extensions.code`` or payload ``code``) -> our error class."""
    # Payload errors without a code are Blink's input-scalar validation failures (docs/ARCHITECTURE.md,
    # Blink: two error channels).
    code = code or "INVALID_INPUT"
    if code == "TOO_MANY_REQUEST":
        return e.RateLimited(code, message)
    if code == "RECEIVE_DISABLED":
        return e.ReceiveDisabled(code, message)
    if code == "INSUFFICIENT_BALANCE":
        return e.InsufficientBalance(code, message)
    if code in _AUTH_CODES:
        return e.NotAuthorized(code, message)
    if code in _PROTOCOL_CODES:
        return e.WalletProtocolError(code, message)
    if code in _UNAVAILABLE_CODES:
        return e.WalletUnavailable(code, message)
    if code == "INVALID_INPUT":
        if DUPLICATE_EXTERNAL_ID_MESSAGE in message:
            return e.DuplicateExternalId(code, message, field="external_id")
        if subject is Subject.RECIPIENT and any(m in message for m in _WRONG_CURRENCY_MARKERS):
            return e.WrongCurrency(code, message)
        return e.InvalidInput(code, message)
    if code == "NOT_FOUND":
        if subject is Subject.RECIPIENT:
            return e.RecipientNotFound(code, message)
        if subject is Subject.INVOICE:
            return e.InvoiceNotFound(code, message)
        return e.NotFound(code, message)
    if code in _CATCH_ALL_CODES:
        if any(m in message for m in _WRONG_CURRENCY_MARKERS):
            return e.WrongCurrency(code, message)
        if any(m in message for m in _RECIPIENT_MISSING_MARKERS):
            return e.RecipientNotFound(code, message)
        return e.WalletUnavailable(code, message)
    return e.WalletError(code, message)


def first_error(errors: object) -> tuple[str | None, str] | None:
    """(code, message) of the first entry of a GraphQL ``errors`` list, top-level or payload."""
    if not isinstance(errors, Sequence) or isinstance(errors, str) or not errors:
        return None
    entry = errors[0]
    if not isinstance(entry, Mapping):
        return None, str(entry)
    code = entry.get("code")
    extensions = entry.get("extensions")
    if code is None and isinstance(extensions, Mapping):
        code = extensions.get("code")
    message = entry.get("message")
    return (str(code) if code is not None else None), (str(message) if message is not None else "")


def raise_for_errors(errors: object, *, subject: Subject, default_code: str | None = None) -> None:
    found = first_error(errors)
    if found is not None:
        code, message = found
        raise error_from_blink(code or default_code, message, subject=subject)


def _protocol(what: str) -> e.WalletProtocolError:
    return e.WalletProtocolError("UNEXPECTED_RESPONSE", f"unexpected response: {what}")


def mapping_at(source: object, key: str) -> Mapping[str, Any]:
    value = source.get(key) if isinstance(source, Mapping) else None
    if not isinstance(value, Mapping):
        raise _protocol(f"{key} missing or not an object")
    return value


def _str_at(source: Mapping[str, Any], key: str) -> str:
    value = source.get(key)
    if not isinstance(value, str) or not value:
        raise _protocol(f"{key} missing or not a string")
    return value


def as_int(value: object) -> int | None:
    """Blink amounts arrive as JSON numbers (parsed to int/Decimal, never float) or numeric strings."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _timestamp(value: object) -> datetime | None:
    seconds = as_int(value)
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds is not None else None


def created_invoice(payload: object, *, expires_in_minutes: int, subject: Subject) -> CreatedInvoice:
    if not isinstance(payload, Mapping):
        raise _protocol("invoice payload missing")
    raise_for_errors(payload.get("errors"), subject=subject)
    invoice = mapping_at(payload, "invoice")
    amount = as_int(invoice.get("satoshis"))
    if amount is None:
        raise _protocol("invoice.satoshis is not an integer")
    created_at = _timestamp(invoice.get("createdAt"))
    return CreatedInvoice(
        payment_hash=_str_at(invoice, "paymentHash").lower(),
        payment_request=_str_at(invoice, "paymentRequest"),
        amount_sats=amount,
        expires_at=created_at + timedelta(minutes=expires_in_minutes) if created_at else None,
        external_id=invoice.get("externalId") or None,
    )


def invoice_status(payload: object, *, payment_hash: str) -> InvoiceStatus:
    if not isinstance(payload, Mapping):
        raise _protocol("lnInvoicePaymentStatusByHash missing")
    try:
        state = InvoiceState(payload.get("status"))
    except ValueError:
        raise _protocol(f"invoice status {payload.get('status')!r}") from None
    preimage = payload.get("paymentPreimage") or None
    if preimage is not None:
        if not isinstance(preimage, str) or not preimage_matches(preimage=preimage, payment_hash=payment_hash):
            raise e.WalletProtocolError("PREIMAGE_MISMATCH", f"preimage does not hash to {payment_hash}")
        if state is not InvoiceState.PAID:
            raise _protocol(f"preimage revealed for a {state.value} invoice")
    return InvoiceStatus(payment_hash=payment_hash, state=state, preimage=preimage)


def _settlement(tx: object, *, expected_hash: str | None) -> tuple[int | None, str | None]:
    """(fee in sats, verified preimage) from a Transaction; a bad preimage is dropped and logged."""
    if not isinstance(tx, Mapping):
        return None, None
    fee = as_int(tx.get("settlementFee"))
    settlement = tx.get("settlementVia")
    preimage = settlement.get("preImage") if isinstance(settlement, Mapping) else None
    initiation = tx.get("initiationVia")
    tx_hash = initiation.get("paymentHash") if isinstance(initiation, Mapping) else None
    payment_hash = expected_hash or (tx_hash if isinstance(tx_hash, str) else None)
    if isinstance(preimage, str) and preimage:
        if payment_hash and preimage_matches(preimage=preimage, payment_hash=payment_hash):
            return (abs(fee) if fee is not None else None), preimage
        logger.warning("blink.preimage_unverified payment_hash=%s", payment_hash, extra={"payment_hash": payment_hash})
    return (abs(fee) if fee is not None else None), None


def send_result(payload: object) -> SendResult:
    """``PaymentSendPayload`` -> ``SendResult``. FAILED only on an explicit FAILURE status."""
    if not isinstance(payload, Mapping):
        return SendResult(status=SendStatus.UNKNOWN, error_code="MALFORMED_RESPONSE", message="no payload")
    code, message = first_error(payload.get("errors")) or (None, None)
    status = payload.get("status")
    if status == "SUCCESS":
        fee, preimage = _settlement(payload.get("transaction"), expected_hash=None)
        return SendResult(status=SendStatus.SUCCEEDED, fee_sats=fee, preimage=preimage)
    if status == "ALREADY_PAID":
        return SendResult(status=SendStatus.SUCCEEDED, already_paid=True)
    if status == "PENDING":
        fee, _ = _settlement(payload.get("transaction"), expected_hash=None)
        return SendResult(status=SendStatus.PENDING, fee_sats=fee)
    if status == "FAILURE":
        if message and _IN_TRANSIT_MESSAGE in message.lower():
            return SendResult(status=SendStatus.PENDING, error_code=code, message=message)
        return SendResult(status=SendStatus.FAILED, error_code=code or "FAILURE", message=message)
    # No status (Blink gives null on some validation errors) or an unknown one: we cannot tell.
    return SendResult(status=SendStatus.UNKNOWN, error_code=code or "NO_STATUS", message=message)


def _is_fee_reimbursement(receive: Mapping[str, Any], send: Mapping[str, Any]) -> bool:
    """A RECEIVE smaller than the send's principal (its debit less its fee) can only be part of the
    fee coming back; a refund returns at least the principal."""
    back = abs(as_int(receive.get("settlementAmount")) or 0)
    debit = abs(as_int(send.get("settlementAmount")) or 0)
    fee = abs(as_int(send.get("settlementFee")) or 0)
    return fee > 0 and 0 < back <= fee and back < debit - fee


def payment_lookup(transactions: object, *, payment_hash: str) -> PaymentLookup:
    """The platform wallet's transactions for one hash -> the send's fate.

    A RECEIVE with the hash at or after a SUCCESS send is a reimbursement (Blink issue #4022): that
    send's money came back, unless it is no more than the send's fee: then it is the unused part of
    the routing fee Blink returns after an outside payment, and the send stands (fee reduced).
    Refunds are matched to sends in time order, so a send that succeeded
    after an earlier one was refunded still counts. No SEND at all means Blink never debited us:
    UNKNOWN, and paying the same invoice again is safe.
    """
    if not isinstance(transactions, Sequence) or isinstance(transactions, str):
        raise _protocol("transactionsByPaymentHash is not a list")
    if not all(isinstance(tx, Mapping) for tx in transactions):
        raise _protocol("transaction is not an object")
    sends = [tx for tx in transactions if tx.get("direction") == "SEND"]
    if not sends:
        return PaymentLookup(payment_hash=payment_hash, status=SendStatus.UNKNOWN)
    # Oldest first; within one second a send comes before the refund it caused.
    events = sorted(
        (tx for tx in transactions if tx.get("status") == "SUCCESS"),
        key=lambda tx: (as_int(tx.get("createdAt")) or 0, tx.get("direction") != "SEND"),
    )
    standing: list[Mapping[str, Any]] = []  # successful sends not (yet) refunded
    reimbursed: dict[int, int] = {}  # id(send) -> fee given back
    for tx in events:
        if tx.get("direction") == "SEND":
            standing.append(tx)
        elif tx.get("direction") == "RECEIVE" and standing:
            if _is_fee_reimbursement(tx, standing[0]):
                # Blink charges the probed fee up front and returns what the route did not use: the
                # payment stands (reading it as a refund would pay the recipient twice).
                key = id(standing[0])
                reimbursed[key] = reimbursed.get(key, 0) + abs(as_int(tx.get("settlementAmount")) or 0)
            else:
                standing.pop(0)
    if standing:
        fee, preimage = _settlement(standing[-1], expected_hash=payment_hash)
        back = reimbursed.get(id(standing[-1]), 0) if fee is not None else 0
        if fee is not None:
            back = min(back, fee)
            fee -= back
        return PaymentLookup(
            payment_hash=payment_hash,
            status=SendStatus.SUCCEEDED,
            fee_sats=fee,
            preimage=preimage,
            fee_reimbursed_sats=back,
        )
    if any(tx.get("status") == "PENDING" for tx in sends):
        return PaymentLookup(payment_hash=payment_hash, status=SendStatus.PENDING)
    return PaymentLookup(payment_hash=payment_hash, status=SendStatus.FAILED)


def _wallet_transaction(edge: object) -> WalletTransaction:
    if not isinstance(edge, Mapping):
        raise _protocol("transaction edge is not an object")
    node = mapping_at(edge, "node")
    try:
        direction, status = TxDirection(node.get("direction")), TxStatus(node.get("status"))
    except ValueError:
        raise _protocol(f"transaction direction/status {node.get('direction')!r}/{node.get('status')!r}") from None
    amount, fee = as_int(node.get("settlementAmount")), as_int(node.get("settlementFee"))
    created_at = _timestamp(node.get("createdAt"))
    if amount is None or fee is None or created_at is None:
        raise _protocol("transaction settlementAmount/settlementFee/createdAt")
    initiation = node.get("initiationVia")
    payment_hash = initiation.get("paymentHash") if isinstance(initiation, Mapping) else None
    external_id = node.get("externalId")
    return WalletTransaction(
        id=_str_at(node, "id"),
        cursor=_str_at(edge, "cursor"),
        created_at=created_at,
        direction=direction,
        status=status,
        amount_sats=amount,
        fee_sats=abs(fee),
        currency=str(node.get("settlementCurrency") or ""),
        payment_hash=payment_hash.lower() if isinstance(payment_hash, str) and payment_hash else None,
        external_id=external_id if isinstance(external_id, str) and external_id else None,
    )


def transaction_page(wallet: Mapping[str, Any]) -> TransactionPage:
    """``walletById { id balance transactions { edges pageInfo } }`` -> ``TransactionPage``."""
    if wallet.get("walletCurrency") != "BTC":
        raise e.WrongCurrency("WRONG_CURRENCY", f"the platform wallet is {wallet.get('walletCurrency')!r}, not BTC")
    balance = as_int(wallet.get("balance"))
    if balance is None:
        raise _protocol("wallet balance")
    connection = wallet.get("transactions")
    if connection is None:  # Blink's TransactionConnection is nullable: no history to list
        return TransactionPage(
            wallet_id=_str_at(wallet, "id"), balance_sats=balance, transactions=(), has_next_page=False, end_cursor=None
        )
    if not isinstance(connection, Mapping):
        raise _protocol("transactions is not an object")
    edges = connection.get("edges") or []
    if not isinstance(edges, Sequence) or isinstance(edges, str):
        raise _protocol("transactions.edges is not a list")
    page_info = mapping_at(connection, "pageInfo")
    has_next = page_info.get("hasNextPage")
    end_cursor = page_info.get("endCursor")
    if not isinstance(has_next, bool) or not (end_cursor is None or isinstance(end_cursor, str)):
        raise _protocol("transactions.pageInfo")
    transactions = tuple(_wallet_transaction(edge) for edge in edges)
    if has_next and not end_cursor:
        raise _protocol("transactions.pageInfo: a next page without a cursor")
    return TransactionPage(
        wallet_id=_str_at(wallet, "id"),
        balance_sats=balance,
        transactions=transactions,
        has_next_page=has_next,
        end_cursor=end_cursor or None,
    )


def price(payload: object, *, currency: str) -> Price:
    if not isinstance(payload, Mapping):
        raise _protocol("realtimePrice missing")
    sat_price = mapping_at(payload, "btcSatPrice")
    details = mapping_at(payload, "denominatorCurrencyDetails")
    # A price in the wrong currency would silently mis-charge every sale: refuse it.
    if str(details.get("id", "")).upper() != currency:
        raise e.WalletProtocolError("PRICE_CURRENCY_MISMATCH", f"asked for {currency}, got {details.get('id')!r}")
    base, offset, digits = (
        as_int(sat_price.get("base")),
        as_int(sat_price.get("offset")),
        as_int(details.get("fractionDigits")),
    )
    if base is None or base <= 0 or offset is None or offset < 0 or digits is None or digits < 0:
        raise _protocol("realtimePrice numbers")
    return Price(
        currency=currency,
        base=base,
        offset=offset,
        fraction_digits=digits,
        timestamp=_timestamp(payload.get("timestamp")),
    )


def key_info(data: Mapping[str, Any]) -> KeyInfo:
    scopes = mapping_at(data, "authorization").get("scopes")
    if not isinstance(scopes, Sequence) or isinstance(scopes, str):
        raise _protocol("authorization.scopes")
    me = data.get("me")
    if not isinstance(me, Mapping):
        # Blink answers me: null for a request it could not tie to an account.
        raise e.NotAuthorized("NOT_AUTHENTICATED", "the API key is not tied to an account")
    username = me.get("username") if isinstance(me.get("username"), str) else None
    wallets = mapping_at(me, "defaultAccount").get("wallets")
    if not isinstance(wallets, Sequence) or isinstance(wallets, str):
        raise _protocol("defaultAccount.wallets")
    refs = tuple(
        WalletRef(wallet_id=_str_at(w, "id"), currency=_str_at(w, "walletCurrency"), username=username)
        for w in wallets
        if isinstance(w, Mapping)
    )
    return KeyInfo(scopes=frozenset(str(s) for s in scopes), wallets=refs)
