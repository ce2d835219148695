"""Resolvers for the fake Blink schema, answering the way Blink does.

Error channels follow Blink (docs/ARCHITECTURE.md, Blink: two error channels): queries throw (top-level ``errors`` with
``extensions.code``), mutations return ``{errors: [{code, message}]}`` in their payload, and an
input-scalar validation failure is a payload error with a message and no code. Objects are plain
dicts; ``__typename`` picks the concrete type of an interface or union, and a callable value is a
field with arguments (graphql-core's default resolver calls it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo

from fakeblink.ledger import Ledger
from fakeblink.prices import SAT_PRICE_OFFSET, PriceBook
from fakeblink.records import Account, BlinkFailure, Invoice, Tx, Wallet
from fakeblink.scenarios import ERROR_MESSAGES

_HASH = re.compile(r"[0-9a-f]{64}")
_EXTERNAL_ID = re.compile(r"[a-z0-9_-]{1,100}")
_USERNAME = re.compile(r"(?!(1|3|bc1|lnbc1))[0-9a-z_]{3,50}", re.IGNORECASE)
_MAX_MEMO_BYTES = 639
MAX_PAGE = 100  # transactions per page, as Blink caps a connection
_SEND_MODES = {
    "PENDING_THEN_SUCCESS": "pending_success",
    "PENDING_THEN_FAILURE": "pending_failure",
    "REIMBURSED_AFTER_SUCCESS": "reimbursed",
}


@dataclass
class RequestContext:
    ledger: Ledger
    prices: PriceBook
    account: Account | None
    # Scripted in-band outcome per root field for this request (transport ones never get here).
    outcomes: dict[str, str] = field(default_factory=dict)


def _ctx(info: GraphQLResolveInfo) -> RequestContext:
    context: RequestContext = info.context
    return context


def _thrown(code: str, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def _error(code: str | None, message: str) -> dict[str, Any]:
    return {"__typename": "GraphQLApplicationError", "code": code, "message": message, "path": None}


def _scripted_error(ctx: RequestContext, operation: str) -> tuple[str, str] | None:
    outcome = ctx.outcomes.get(operation)
    return (outcome, ERROR_MESSAGES[outcome]) if outcome in ERROR_MESSAGES else None


def _authorize(ctx: RequestContext, *any_of: str) -> Account:
    """Blink's scope middleware: an API key, and one of the scopes the operation accepts."""
    if ctx.account is None:
        raise _thrown("NOT_AUTHENTICATED", "Not authenticated")
    if not ctx.account.scopes.intersection(any_of):
        raise _thrown("NOT_AUTHORIZED", "not authorized to execute mutations")
    return ctx.account


def _scalar_problem(value: Any, check: Callable[[Any], bool], name: str) -> str | None:
    return None if check(value) else f"Invalid value for {name}"


def _is_sats(value: Any) -> bool:
    return type(value) is int and value > 0


def _is_memo(value: Any) -> bool:
    return value is None or (isinstance(value, str) and len(value.encode("utf-8")) <= _MAX_MEMO_BYTES)


def _is_external_id(value: Any) -> bool:
    return value is None or (isinstance(value, str) and _EXTERNAL_ID.fullmatch(value) is not None)


def _is_hex32(value: Any) -> bool:
    return value is None or _HASH.fullmatch(str(value)) is not None


def _invoice_input_problem(data: dict[str, Any]) -> str | None:
    return (
        _scalar_problem(data.get("amount"), _is_sats, "SatAmount")
        or _scalar_problem(data.get("descriptionHash"), _is_hex32, "Hex32Bytes")
        or _scalar_problem(data.get("memo"), _is_memo, "Memo")
        or _scalar_problem(data.get("externalId"), _is_external_id, "TxExternalId")
        or _scalar_problem(data.get("expiresIn"), lambda v: v is None or (type(v) is int and v >= 0), "Minutes")
    )


# -- object views -------------------------------------------------------------------------------


def tx_view(tx: Tx) -> dict[str, Any]:
    settlement: dict[str, Any] = {"preImage": tx.preimage}
    if tx.settlement == "lightning":
        settlement["__typename"] = "SettlementViaLn"
    else:
        settlement |= {
            "__typename": "SettlementViaIntraLedger",
            "counterPartyWalletId": tx.counterparty_wallet_id,
            "counterPartyUsername": tx.counterparty_username,
        }
    return {
        "id": tx.id,
        "createdAt": int(tx.created_at),
        "direction": tx.direction,
        "status": tx.status,
        "externalId": tx.external_id,
        "memo": tx.memo,
        "settlementAmount": tx.amount,
        "settlementFee": tx.fee,
        "settlementCurrency": tx.currency,
        "initiationVia": {
            "__typename": "InitiationViaLn",
            "paymentHash": tx.payment_hash,
            "paymentRequest": tx.payment_request,
        },
        "settlementVia": settlement,
    }


def _connection(
    txs: list[Tx], *, after: str | None, before: str | None, first: int | None, last: int | None
) -> dict[str, Any]:
    """Relay pagination over the wallet's history, newest first (Blink's order); the cursor is the id."""
    ids = [t.id for t in txs]
    for cursor in (after, before):
        if cursor is not None and cursor not in ids:
            raise _thrown("INVALID_INPUT", "Invalid value for cursor")
    for count in (first, last):
        if count is not None and not 0 <= count <= MAX_PAGE:
            raise _thrown("INVALID_INPUT", f"Requesting {count} records exceeds the {MAX_PAGE} records limit")
    start = ids.index(after) + 1 if after is not None else 0
    end = ids.index(before) if before is not None else len(txs)
    window = txs[start:end]
    sliced = window[: first if first is not None else MAX_PAGE]
    if last is not None:
        sliced = sliced[max(0, len(sliced) - last) :]
    edges = [{"cursor": t.id, "node": tx_view(t)} for t in sliced]
    return {
        "edges": edges,
        "pageInfo": {
            "startCursor": sliced[0].id if sliced else None,
            "endCursor": sliced[-1].id if sliced else None,
            "hasNextPage": len(window) > len(sliced) and (not sliced or sliced[-1] is not window[-1]),
            "hasPreviousPage": start > 0 or (bool(sliced) and sliced[0] is not window[0]),
        },
    }


def _wallet_view(ledger: Ledger, wallet: Wallet) -> dict[str, Any]:
    def transactions_by_hash(_info: GraphQLResolveInfo, paymentHash: str) -> list[dict[str, Any]]:
        return [tx_view(t) for t in ledger.transactions_for(wallet.id, paymentHash.lower())]

    def transactions(
        _info: GraphQLResolveInfo,
        after: str | None = None,
        before: str | None = None,
        first: int | None = None,
        last: int | None = None,
    ) -> dict[str, Any]:
        return _connection(ledger.history(wallet.id), after=after, before=before, first=first, last=last)

    return {
        "__typename": "BTCWallet" if wallet.currency == "BTC" else "UsdWallet",
        "id": wallet.id,
        "accountId": wallet.account_id,
        "walletCurrency": wallet.currency,
        "balance": wallet.balance,
        "transactions": transactions,
        "transactionsByPaymentHash": transactions_by_hash,
    }


def _invoice_view(ledger: Ledger, invoice: Invoice) -> dict[str, Any]:
    return {
        "createdAt": int(invoice.created_at),
        "externalId": invoice.external_id,
        "paymentHash": invoice.payment_hash,
        "paymentRequest": invoice.payment_request,
        "paymentSecret": invoice.payment_secret,
        "paymentStatus": ledger.invoice_state(invoice),
        "satoshis": invoice.amount_sats,
    }


# -- queries ------------------------------------------------------------------------------------


def account_default_wallet(
    _root: None,
    info: GraphQLResolveInfo,
    username: str,
    walletCurrency: str | None = None,
) -> dict[str, Any]:
    ctx = _ctx(info)
    if scripted := _scripted_error(ctx, "accountDefaultWallet"):
        raise _thrown(*scripted)
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise _thrown("INVALID_INPUT", "Invalid value for Username")
    account = ctx.ledger.account_by_username(username)
    if account is None:
        raise _thrown("NOT_FOUND", f"Account does not exist for username {username.lower()}")
    wallets = [ctx.ledger.wallets[w] for w in account.wallet_ids]
    wallet = next((w for w in wallets if walletCurrency in (None, w.currency)), None)
    if wallet is None:
        raise _thrown(
            "UNEXPECTED_CLIENT_ERROR",
            "Unexpected error occurred, please try again or contact support if it persists "
            f"(code: CouldNotFindWalletFromUsernameAndCurrencyError: {account.username})",
        )
    return {"id": wallet.id, "currency": wallet.currency, "walletCurrency": wallet.currency}


def authorization(_root: None, info: GraphQLResolveInfo) -> dict[str, Any]:
    ctx = _ctx(info)
    if scripted := _scripted_error(ctx, "authorization"):
        raise _thrown(*scripted)
    return {"scopes": sorted(ctx.account.scopes) if ctx.account else []}


def me(_root: None, info: GraphQLResolveInfo) -> dict[str, Any] | None:
    ctx = _ctx(info)
    if scripted := _scripted_error(ctx, "me"):
        raise _thrown(*scripted)
    if ctx.account is None:
        return None
    account = _authorize(ctx, "READ")
    ledger = ctx.ledger

    def wallet_by_id(_info: GraphQLResolveInfo, walletId: str) -> dict[str, Any]:
        try:
            return _wallet_view(ledger, ledger.owned_wallet(account, walletId))
        except BlinkFailure as failure:
            raise _thrown(failure.code or "INVALID_INPUT", failure.message) from None

    default_account = {
        "__typename": "ConsumerAccount",
        "id": account.id,
        "wallets": [_wallet_view(ledger, ledger.wallets[w]) for w in account.wallet_ids],
        "walletById": wallet_by_id,
    }
    return {"id": account.user_id, "username": account.username, "defaultAccount": default_account}


def invoice_payment_status_by_hash(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    ctx = _ctx(info)
    if scripted := _scripted_error(ctx, "lnInvoicePaymentStatusByHash"):
        raise _thrown(*scripted)
    payment_hash = str(input.get("paymentHash", "")).lower()
    if not _HASH.fullmatch(payment_hash):
        raise _thrown("INVALID_INPUT", "Invalid value for PaymentHash")
    ctx.ledger.touch_pending(payment_hash)
    invoice = ctx.ledger.invoices.get(payment_hash)
    if invoice is None:
        raise _thrown("NOT_FOUND", "The associated lightning invoice could not be found.")
    state = ctx.ledger.invoice_state(invoice)
    return {
        "paymentHash": payment_hash,
        "paymentRequest": invoice.payment_request,
        "paymentPreimage": invoice.preimage if state == "PAID" else None,
        "status": state,
    }


def realtime_price(_root: None, info: GraphQLResolveInfo, currency: str = "USD") -> dict[str, Any]:
    ctx = _ctx(info)
    if scripted := _scripted_error(ctx, "realtimePrice"):
        raise _thrown(*scripted)
    quote = ctx.prices.quote(str(currency))
    if quote is None:
        raise _thrown("INVALID_INPUT", "Invalid currency.")
    return {
        "id": f"price-{quote.currency}",
        "timestamp": int(ctx.ledger.now()),
        "btcSatPrice": {"base": quote.base, "offset": SAT_PRICE_OFFSET},
        "denominatorCurrencyDetails": {
            "id": quote.currency,
            "fractionDigits": quote.fraction_digits,
            "name": quote.name,
            "symbol": quote.symbol,
        },
    }


# -- mutations ----------------------------------------------------------------------------------


def _create_invoice(ctx: RequestContext, data: dict[str, Any], wallet: Wallet) -> dict[str, Any]:
    if ctx.ledger.limits is not None:
        # Keyed by the wallet's account: the creating account, or the recipient's for on-behalf creation.
        ctx.ledger.limits.consume_invoice_create(wallet.account_id)
    invoice = ctx.ledger.create_invoice(
        wallet=wallet,
        amount=data["amount"],
        memo=data.get("memo"),
        external_id=data.get("externalId"),
        expires_in=data.get("expiresIn"),
        description_hash=data.get("descriptionHash"),
    )
    return {"errors": [], "invoice": _invoice_view(ctx.ledger, invoice)}


def ln_invoice_create(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    ctx = _ctx(info)
    account = _authorize(ctx, "RECEIVE", "WRITE")
    if scripted := _scripted_error(ctx, "lnInvoiceCreate"):
        return {"errors": [_error(*scripted)], "invoice": None}
    if problem := _invoice_input_problem(input):
        return {"errors": [_error(None, problem)], "invoice": None}
    try:
        wallet = ctx.ledger.owned_wallet(account, str(input.get("walletId")))
        return _create_invoice(ctx, input, wallet)
    except BlinkFailure as failure:
        return {"errors": [_error(failure.code, failure.message)], "invoice": None}


def ln_invoice_create_on_behalf(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    ctx = _ctx(info)  # no API key needed on Blink
    if scripted := _scripted_error(ctx, "lnInvoiceCreateOnBehalfOfRecipient"):
        return {"errors": [_error(*scripted)], "invoice": None}
    if problem := _invoice_input_problem(input):
        return {"errors": [_error(None, problem)], "invoice": None}
    wallet = ctx.ledger.wallets.get(str(input.get("recipientWalletId")))
    if wallet is None:
        message = "Unexpected error occurred, please try again or contact support if it persists "
        message += f"(code: CouldNotFindWalletFromIdError: {input.get('recipientWalletId')})"
        return {"errors": [_error("UNEXPECTED_CLIENT_ERROR", message)], "invoice": None}
    try:
        return _create_invoice(ctx, input, wallet)
    except BlinkFailure as failure:
        return {"errors": [_error(failure.code, failure.message)], "invoice": None}


def ln_invoice_cancel(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    ctx = _ctx(info)
    account = _authorize(ctx, "RECEIVE", "WRITE")
    if scripted := _scripted_error(ctx, "lnInvoiceCancel"):
        return {"errors": [_error(*scripted)], "success": False}
    payment_hash = str(input.get("paymentHash", "")).lower()
    if not _HASH.fullmatch(payment_hash):
        return {"errors": [_error(None, "Invalid value for PaymentHash")], "success": False}
    try:
        wallet = ctx.ledger.owned_wallet(account, str(input.get("walletId")))
        ctx.ledger.cancel_invoice(wallet=wallet, payment_hash=payment_hash)
    except BlinkFailure as failure:
        return {"errors": [_error(failure.code, failure.message)], "success": False}
    return {"errors": [], "success": True}


def ln_invoice_payment_send(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    ctx = _ctx(info)
    account = _authorize(ctx, "WRITE")
    outcome = ctx.outcomes.get("lnInvoicePaymentSend")
    if scripted := _scripted_error(ctx, "lnInvoicePaymentSend"):
        return {"errors": [_error(*scripted)], "status": "FAILURE", "transaction": None}
    if outcome == "FAILURE":
        message = ERROR_MESSAGES["LIGHTNING_PAYMENT_ERROR"]
        return {"errors": [_error("LIGHTNING_PAYMENT_ERROR", message)], "status": "FAILURE", "transaction": None}
    request = input.get("paymentRequest")
    if not isinstance(request, str) or not request.lower().startswith("ln"):
        return {"errors": [_error(None, "Invalid value for LnPaymentRequest")], "status": None, "transaction": None}
    if not _is_memo(input.get("memo")):
        return {"errors": [_error(None, "Invalid value for Memo")], "status": None, "transaction": None}
    try:
        payer = ctx.ledger.owned_wallet(account, str(input.get("walletId")))
        mode = _SEND_MODES.get(outcome or "", "normal")
        status, tx = ctx.ledger.pay_invoice(payer=payer, payment_request=request, memo=input.get("memo"), mode=mode)
    except BlinkFailure as failure:
        return {"errors": [_error(failure.code, failure.message)], "status": "FAILURE", "transaction": None}
    if outcome == "ERROR_AFTER_APPLY":  # the ledger entry stands; only the answer says otherwise
        message = ERROR_MESSAGES["UNKNOWN_CLIENT_ERROR"]
        return {"errors": [_error("UNKNOWN_CLIENT_ERROR", message)], "status": "FAILURE", "transaction": None}
    return {"errors": [], "status": status, "transaction": tx_view(tx) if tx else None}


def ln_invoice_fee_probe(_root: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Intraledger targets (an invoice of this ledger) cost 0; outside ones the simulated route's fee."""
    ctx = _ctx(info)
    account = _authorize(ctx, "WRITE")
    if scripted := _scripted_error(ctx, "lnInvoiceFeeProbe"):
        return {"errors": [_error(*scripted)], "amount": None}
    request = input.get("paymentRequest")
    if not isinstance(request, str) or not request.lower().startswith("ln"):
        return {"errors": [_error(None, "Invalid value for LnPaymentRequest")], "amount": None}
    try:
        ctx.ledger.owned_wallet(account, str(input.get("walletId")))
        fee = 0 if ctx.ledger.invoice_by_request(request) else ctx.ledger.external.probe(request)
    except BlinkFailure as failure:
        return {"errors": [_error(failure.code, failure.message)], "amount": None}
    return {"errors": [], "amount": fee}


QUERY_RESOLVERS: dict[str, Callable[..., Any]] = {
    "accountDefaultWallet": account_default_wallet,
    "authorization": authorization,
    "lnInvoicePaymentStatusByHash": invoice_payment_status_by_hash,
    "me": me,
    "realtimePrice": realtime_price,
}
MUTATION_RESOLVERS: dict[str, Callable[..., Any]] = {
    "lnInvoiceCancel": ln_invoice_cancel,
    "lnInvoiceCreate": ln_invoice_create,
    "lnInvoiceCreateOnBehalfOfRecipient": ln_invoice_create_on_behalf,
    "lnInvoiceFeeProbe": ln_invoice_fee_probe,
    "lnInvoicePaymentSend": ln_invoice_payment_send,
}
