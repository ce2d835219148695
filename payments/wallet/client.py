"""``BlinkClient``: the ``WalletProvider`` over Blink's GraphQL HTTP API.

One ``httpx.Client`` per instance (connection reuse, explicit connect/read timeouts), the platform
API key in ``X-API-KEY``. The key is kept only inside the httpx client's default headers: it is not
an attribute, not in ``repr``, not in any log line.

Reads and invoice creation raise typed errors (``errors.py``). ``pay_invoice`` never raises once its
input is valid: a timeout, a dropped connection, a 5xx or an unreadable answer after the request may
have reached Blink is ``SendStatus.UNKNOWN``, to be settled with ``payment_lookup``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from payments.wallet import documents, fees, mapping, validation
from payments.wallet import errors as e
from payments.wallet.fees import FeeProbe
from payments.wallet.mapping import Subject
from payments.wallet.transport import decode, log_event
from payments.wallet.types import (
    CreatedInvoice,
    InvoiceStatus,
    KeyInfo,
    PaymentLookup,
    Price,
    SendResult,
    SendStatus,
    TransactionPage,
    WalletRef,
)

logger = logging.getLogger(__name__)

# Enough of a bolt11 to recognise it in logs (network + amount), far too little to pay it.
_REQUEST_LOG_PREFIX = 12


class BlinkClient:
    def __init__(
        self,
        *,
        url: str,
        api_key: str,
        wallet_id: str | None,
        connect_timeout: float = 5,
        read_timeout: float = 15,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        validation.api_key(api_key)
        # wallet_id None: use the key's only BTC wallet, looked up on first use (the fake Blink and
        # a fresh deployment may not have BLINK_WALLET_ID yet).
        self._wallet_id = validation.wallet_id(wallet_id) if wallet_id is not None else None
        self._wallet_lock = threading.Lock()
        self._url = url
        self._http = httpx.Client(
            headers={"X-API-KEY": api_key, "Accept": "application/json", "User-Agent": "blinkpos-wallet/1"},
            timeout=httpx.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout),
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"BlinkClient(url={self._url!r}, wallet_id={self._wallet_id!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> BlinkClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- transport ----------------------------------------------------------------------------

    def _post(self, operation: str, document: str, variables: Mapping[str, Any], *, api_key: str | None = None) -> Any:
        """POST one document; return the decoded JSON body or raise a transport-level WalletError."""
        headers = {"X-API-KEY": api_key} if api_key is not None else None
        started = time.monotonic()
        http_status: int | None = None
        try:
            response = self._http.post(
                self._url, json={"query": document, "variables": dict(variables)}, headers=headers
            )
            http_status = response.status_code
            return decode(response)
        except httpx.TimeoutException as exc:
            raise e.WalletUnavailable("TIMEOUT", f"{operation}: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise e.WalletUnavailable("TRANSPORT_ERROR", f"{operation}: {type(exc).__name__}") from exc
        finally:
            log_event(
                logging.INFO,
                "blink.http",
                operation=operation,
                http_status=http_status,
                duration_ms=round((time.monotonic() - started) * 1000),
            )

    def _query(
        self,
        operation: str,
        document: str,
        variables: Mapping[str, Any],
        *,
        subject: Subject,
        api_key: str | None = None,
    ) -> Mapping[str, Any]:
        """Run a document whose failure is an exception; return ``data``."""
        body = self._post(operation, document, variables, api_key=api_key)
        # Top-level errors without a code come from Apollo's own failures (INTERNAL_SERVER_ERROR).
        mapping.raise_for_errors(body.get("errors"), subject=subject, default_code="INTERNAL_SERVER_ERROR")
        data = body.get("data")
        if not isinstance(data, Mapping):
            raise e.WalletProtocolError("UNEXPECTED_RESPONSE", f"{operation}: no data")
        return data

    def _platform_wallet_id(self) -> str:
        with self._wallet_lock:
            if self._wallet_id is None:
                btc = self._key_info(api_key=None).btc_wallet
                if btc is None:
                    raise e.WrongCurrency("NO_BTC_WALLET", "the platform API key's account has no BTC wallet")
                self._wallet_id = btc.wallet_id
                log_event(logging.INFO, "blink.platform_wallet_discovered", wallet_id=btc.wallet_id)
            return self._wallet_id

    # -- invoices -----------------------------------------------------------------------------

    def create_invoice(
        self,
        *,
        amount_sats: int,
        memo: str | None,
        expires_in_minutes: int,
        external_id: str,
        description_hash: str | None = None,
    ) -> CreatedInvoice:
        if description_hash is not None:
            # lnInvoiceCreate takes no descriptionHash; the on-behalf mutation credits any BTC wallet,
            # the platform's own included, and counts against the same per-account creation limit.
            return self.create_invoice_for_recipient(
                recipient_wallet_id=self._platform_wallet_id(),
                amount_sats=amount_sats,
                memo=memo,
                external_id=external_id,
                expires_in_minutes=expires_in_minutes,
                description_hash=description_hash,
            )
        validation.amount_sats(amount_sats)
        validation.memo(memo)
        validation.expires_in_minutes(expires_in_minutes)
        validation.external_id(external_id)
        request: dict[str, Any] = {"walletId": self._platform_wallet_id(), "amount": amount_sats}
        request |= {"expiresIn": expires_in_minutes, "externalId": external_id}
        if memo is not None:
            request["memo"] = memo
        data = self._query("lnInvoiceCreate", documents.LN_INVOICE_CREATE, {"input": request}, subject=Subject.OTHER)
        invoice = mapping.created_invoice(
            data.get("lnInvoiceCreate"), expires_in_minutes=expires_in_minutes, subject=Subject.OTHER
        )
        self._log_invoice("lnInvoiceCreate", invoice)
        return invoice

    def create_invoice_for_recipient(
        self,
        *,
        recipient_wallet_id: str,
        amount_sats: int,
        memo: str | None,
        external_id: str,
        expires_in_minutes: int = 1440,
        description_hash: str | None = None,
    ) -> CreatedInvoice:
        validation.wallet_id(recipient_wallet_id, field="recipient_wallet_id")
        if description_hash is not None:
            description_hash = validation.payment_hash(description_hash, field="description_hash")
            if memo is not None:
                raise e.InvalidInput("INVALID_INPUT", "memo: not with a description hash", field="memo")
        validation.amount_sats(amount_sats)
        validation.memo(memo)
        validation.expires_in_minutes(expires_in_minutes)
        validation.external_id(external_id)
        request: dict[str, Any] = {"recipientWalletId": recipient_wallet_id, "amount": amount_sats}
        request |= {"expiresIn": expires_in_minutes, "externalId": external_id}
        if memo is not None:
            request["memo"] = memo
        if description_hash is not None:
            request["descriptionHash"] = description_hash
        operation = "lnInvoiceCreateOnBehalfOfRecipient"
        data = self._query(
            operation, documents.LN_INVOICE_CREATE_ON_BEHALF_OF_RECIPIENT, {"input": request}, subject=Subject.RECIPIENT
        )
        invoice = mapping.created_invoice(
            data.get(operation), expires_in_minutes=expires_in_minutes, subject=Subject.RECIPIENT
        )
        self._log_invoice(operation, invoice)
        return invoice

    @staticmethod
    def _log_invoice(operation: str, invoice: CreatedInvoice) -> None:
        log_event(
            logging.INFO,
            "blink.invoice_created",
            operation=operation,
            payment_hash=invoice.payment_hash,
            amount_sats=invoice.amount_sats,
            external_id=invoice.external_id,
        )

    def invoice_status(self, *, payment_hash: str) -> InvoiceStatus:
        payment_hash = validation.payment_hash(payment_hash)
        data = self._query(
            "lnInvoicePaymentStatusByHash",
            documents.LN_INVOICE_PAYMENT_STATUS_BY_HASH,
            {"input": {"paymentHash": payment_hash}},
            subject=Subject.INVOICE,
        )
        status = mapping.invoice_status(data.get("lnInvoicePaymentStatusByHash"), payment_hash=payment_hash)
        log_event(logging.INFO, "blink.invoice_status", payment_hash=payment_hash, state=status.state.value)
        return status

    def cancel_invoice(self, *, payment_hash: str) -> bool:
        payment_hash = validation.payment_hash(payment_hash)
        request = {"paymentHash": payment_hash, "walletId": self._platform_wallet_id()}
        data = self._query("lnInvoiceCancel", documents.LN_INVOICE_CANCEL, {"input": request}, subject=Subject.INVOICE)
        payload = data.get("lnInvoiceCancel")
        if not isinstance(payload, Mapping):
            raise e.WalletProtocolError("UNEXPECTED_RESPONSE", "lnInvoiceCancel: no payload")
        found = mapping.first_error(payload.get("errors"))
        # "already been processed" (InvoiceAlreadyProcessedError): paid or cancelled before. Not an
        # error for an abandoned sale; the caller checks invoice_status to learn which.
        if found is not None and "already been processed" in found[1]:
            cancelled = False
        else:
            mapping.raise_for_errors(payload.get("errors"), subject=Subject.INVOICE)
            cancelled = payload.get("success") is True
        log_event(logging.INFO, "blink.invoice_cancel", payment_hash=payment_hash, cancelled=cancelled)
        return cancelled

    # -- recipients ---------------------------------------------------------------------------

    def resolve_username(self, *, username: str) -> WalletRef:
        username = validation.username(username)
        data = self._query(
            "accountDefaultWallet",
            documents.ACCOUNT_DEFAULT_WALLET,
            {"username": username, "walletCurrency": "BTC"},
            subject=Subject.RECIPIENT,
        )
        wallet = mapping.mapping_at(data, "accountDefaultWallet")
        wallet_id, currency = wallet.get("id"), wallet.get("currency")
        if not isinstance(wallet_id, str) or not isinstance(currency, str):
            raise e.WalletProtocolError("UNEXPECTED_RESPONSE", "accountDefaultWallet without id/currency")
        if currency != "BTC":
            raise e.WrongCurrency("WRONG_CURRENCY", f"{username} has no BTC wallet (got {currency})")
        log_event(logging.INFO, "blink.username_resolved", username=username, wallet_id=wallet_id)
        return WalletRef(wallet_id=wallet_id, currency=currency, username=username)

    # -- sends --------------------------------------------------------------------------------

    def pay_invoice(self, *, payment_request: str, memo: str | None = None) -> SendResult:
        validation.payment_request(payment_request)
        validation.memo(memo)
        request_prefix = payment_request[:_REQUEST_LOG_PREFIX]
        started = time.monotonic()
        try:
            request: dict[str, Any] = {"walletId": self._platform_wallet_id(), "paymentRequest": payment_request}
            if memo is not None:
                request["memo"] = memo
            body = self._post("lnInvoicePaymentSend", documents.LN_INVOICE_PAYMENT_SEND, {"input": request})
            result = self._send_result(body)
        except e.WalletError as exc:
            result = SendResult(
                status=SendStatus.UNKNOWN,
                error_code=exc.code,
                message=exc.message,
                retry_after=getattr(exc, "retry_after", None),
            )
        except Exception as exc:
            # A bug in our own parsing must not turn into "failed" (or escape as a crash the caller
            # could misread): the payment may have gone through, so it is UNKNOWN and logged loudly.
            logger.exception("blink.pay_invoice_client_error request=%s", request_prefix)
            result = SendResult(status=SendStatus.UNKNOWN, error_code="CLIENT_ERROR", message=type(exc).__name__)
        log_event(
            logging.INFO if result.status is not SendStatus.UNKNOWN else logging.WARNING,
            "blink.pay_invoice",
            request=request_prefix,
            outcome=result.status.value,
            already_paid=result.already_paid or None,
            error_code=result.error_code,
            fee_sats=result.fee_sats,
            duration_ms=round((time.monotonic() - started) * 1000),
        )
        return result

    @staticmethod
    def _send_result(body: Mapping[str, Any]) -> SendResult:
        data = body.get("data")
        payload = data.get("lnInvoicePaymentSend") if isinstance(data, Mapping) else None
        if payload is None:
            # Top-level errors only (auth, a refused document): Blink said nothing about the payment.
            code, message = mapping.first_error(body.get("errors")) or ("NO_PAYLOAD", "no payload")
            return SendResult(status=SendStatus.UNKNOWN, error_code=code or "UNKNOWN_ERROR", message=message)
        return mapping.send_result(payload)

    def payment_lookup(self, *, payment_hash: str) -> PaymentLookup:
        payment_hash = validation.payment_hash(payment_hash)
        data = self._query(
            "transactionsByPaymentHash",
            documents.TRANSACTIONS_BY_PAYMENT_HASH,
            {"walletId": self._platform_wallet_id(), "paymentHash": payment_hash},
            subject=Subject.INVOICE,
        )
        wallet = mapping.mapping_at(mapping.mapping_at(mapping.mapping_at(data, "me"), "defaultAccount"), "walletById")
        lookup = mapping.payment_lookup(wallet.get("transactionsByPaymentHash"), payment_hash=payment_hash)
        log_event(
            logging.INFO,
            "blink.payment_lookup",
            payment_hash=payment_hash,
            outcome=lookup.status.value,
            fee_sats=lookup.fee_sats,
        )
        return lookup

    def wallet_transactions(self, *, after: str | None = None, first: int = 50) -> TransactionPage:
        first = validation.page_size(first)
        after = validation.cursor(after)
        data = self._query(
            "walletTransactions",
            documents.WALLET_TRANSACTIONS,
            {"walletId": self._platform_wallet_id(), "first": first, "after": after},
            subject=Subject.OTHER,
        )
        wallet = mapping.mapping_at(mapping.mapping_at(mapping.mapping_at(data, "me"), "defaultAccount"), "walletById")
        page = mapping.transaction_page(wallet)
        log_event(
            logging.INFO,
            "blink.wallet_transactions",
            count=len(page.transactions),
            has_next_page=page.has_next_page,
            balance_sats=page.balance_sats,
        )
        return page

    # -- fee probe (payments/wallet/fees.py) ---------------------------------------------------

    def fee_probe(self, *, payment_request: str) -> FeeProbe:
        probe = fees.probe_fee(self._query, wallet_id=self._platform_wallet_id(), payment_request=payment_request)
        log_event(
            logging.INFO,
            "blink.fee_probe",
            request=payment_request[:_REQUEST_LOG_PREFIX],
            fee_sats=probe.fee_sats,
            error_code=probe.error_code,
        )
        return probe

    # -- price and keys -----------------------------------------------------------------------

    def btc_price(self, *, currency: str) -> Price:
        currency = validation.currency(currency)
        data = self._query("realtimePrice", documents.REALTIME_PRICE, {"currency": currency}, subject=Subject.OTHER)
        price = mapping.price(data.get("realtimePrice"), currency=currency)
        log_event(logging.INFO, "blink.price", currency=currency, base=price.base, offset=price.offset)
        return price

    def key_info(self, *, api_key: str) -> KeyInfo:
        return self._key_info(api_key=validation.api_key(api_key))

    def _key_info(self, *, api_key: str | None) -> KeyInfo:
        data = self._query("keyInfo", documents.KEY_INFO, {}, subject=Subject.OTHER, api_key=api_key)
        info = mapping.key_info(data)
        log_event(logging.INFO, "blink.key_info", scopes=",".join(sorted(info.scopes)), wallets=len(info.wallets))
        return info
