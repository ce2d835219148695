"""The create's steps after validation, shared by ``InvoiceCreateApi`` (the DRF view) and its fast
path (``create_fast``): who is asking (merchant and terminal), the create itself under the
Idempotency-Key, and the answer.

The reads before the sale's own work (the terminal with its merchant, the tip's staff member or split
profile) go through a ``SaleLookups``: PostgreSQL every time for the DRF view (``DATABASE_LOOKUPS``),
the process's generation-checked copies for the fast path (payments/sale_config_cache.py)."""

from __future__ import annotations

from typing import Any, Protocol

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request

from payments import selectors, store
from payments.api.principal import request_merchant, request_merchant_id, request_terminal_id
from payments.api.status_payload import status_body
from payments.models import Merchant, PaymentSplit, SplitProfile, SplitProfileShare, Staff, Terminal
from payments.qr import invoice_qr_svg
from payments.services.idempotency import idempotency_run
from payments.services.invoices import UNKNOWN_PROFILE, UNKNOWN_STAFF, invoice_create

# Opt-in extras of the create response (query parameter ``include``).
INCLUDE_QR_SVG = "qr_svg"


class SaleLookups(Protocol):
    """The create's reads of who sells and who gets the tip (the selectors' answers, None when not
    found or not this merchant's)."""

    def terminal_with_merchant(self, *, terminal_id: int, merchant_id: int) -> Terminal | None: ...

    def staff(self, *, merchant_id: int, staff_id: int) -> Staff | None: ...

    def profile_with_shares(
        self, *, merchant_id: int, profile_id: int
    ) -> tuple[SplitProfile, list[SplitProfileShare]] | None: ...


class _DatabaseLookups:
    """PostgreSQL every time."""

    def terminal_with_merchant(self, *, terminal_id: int, merchant_id: int) -> Terminal | None:
        return selectors.terminal_with_merchant(terminal_id=terminal_id)

    def staff(self, *, merchant_id: int, staff_id: int) -> Staff | None:
        return selectors.staff_get_for_merchant(merchant_id=merchant_id, staff_id=staff_id)

    def profile_with_shares(
        self, *, merchant_id: int, profile_id: int
    ) -> tuple[SplitProfile, list[SplitProfileShare]] | None:
        return selectors.split_profile_with_shares_for_merchant(merchant_id=merchant_id, profile_id=profile_id)


DATABASE_LOOKUPS: SaleLookups = _DatabaseLookups()


def create_split(
    *, merchant: Merchant, terminal: Terminal | None, data: dict[str, Any], lookups: SaleLookups = DATABASE_LOOKUPS
) -> PaymentSplit:
    """The sale for validated input: the tip's recipient (the merchant's own staff or profile, else the
    field's 400), then ``invoice_create``."""
    merchant_id = merchant.pk
    staff = profile = shares = None
    if data.get("staff_id") is not None:
        staff = lookups.staff(merchant_id=merchant_id, staff_id=data["staff_id"])
        if staff is None:
            raise DjangoValidationError({"staff_id": [UNKNOWN_STAFF]})
    if data.get("split_profile_id") is not None:
        found = lookups.profile_with_shares(merchant_id=merchant_id, profile_id=data["split_profile_id"])
        if found is None:
            raise DjangoValidationError({"split_profile_id": [UNKNOWN_PROFILE]})
        profile, shares = found
    return invoice_create(
        merchant=merchant,
        terminal=terminal,
        amount_sats=data.get("amount_sats"),
        amount_display=data.get("amount_display"),
        tip_percent=data.get("tip_percent"),
        tip_sats=data.get("tip_sats"),
        staff=staff,
        split_profile=profile,
        split_profile_shares=shares,
        memo=data.get("memo", ""),
        currency=data.get("currency"),
    )


def create_answer(
    *,
    merchant: Merchant,
    terminal: Terminal | None,
    data: dict[str, Any],
    idempotency_key: str | None,
    path: str,
    request_body: Any,
    include_qr: bool,
    lookups: SaleLookups = DATABASE_LOOKUPS,
) -> tuple[dict[str, Any], int, dict[str, str]]:
    """The create's answer (body, status, headers) for validated ``data``: shared by the DRF view and
    its fast path (``create_fast``), so both create, store and replay the same way."""
    # The answer is stored without the inline QR: ``include`` only shapes the answer (it is not
    # part of the key's fingerprint), and a replay renders the QR again when that request asks.
    outcome = idempotency_run(
        merchant_id=merchant.pk,
        key=idempotency_key,
        method="POST",
        path=path,
        request_body=request_body,
        status=status.HTTP_201_CREATED,
        call=lambda: _created_payload(create_split(merchant=merchant, terminal=terminal, data=data, lookups=lookups)),
    )
    body = _presented(outcome.body, include_qr=include_qr)
    if outcome.replayed:  # only 201s are stored
        return body, outcome.status, {"Idempotent-Replayed": "true"}
    return body, outcome.status, {"Location": f"{path}/{body['payment_hash']}"}


def merchant_and_terminal(request: Request) -> tuple[Merchant, Terminal | None]:
    """The merchant and (for a terminal key) the terminal. Same outcomes as ``request_merchant``: an
    inactive merchant is a 403."""
    terminal_id = request_terminal_id(request)
    merchant_id = request_merchant_id(request)
    if terminal_id is None or merchant_id is None:  # a signed-in user
        return request_merchant(request), None
    return terminal_merchant_and_terminal(terminal_id=terminal_id, merchant_id=merchant_id)


def terminal_merchant_and_terminal(
    *, terminal_id: int, merchant_id: int, lookups: SaleLookups = DATABASE_LOOKUPS
) -> tuple[Merchant, Terminal | None]:
    """A terminal key's merchant and terminal: one query, where loading them separately took two (the
    create's DRF view and its fast path, ``create_fast``)."""
    terminal = lookups.terminal_with_merchant(terminal_id=terminal_id, merchant_id=merchant_id)
    if terminal is None or terminal.merchant_id != merchant_id:
        # A terminal that vanished or moved since its key was cached: the merchant on its own;
        # invoice_create refuses a terminal of another merchant.
        merchant = Merchant.objects.filter(pk=merchant_id, is_active=True).first()
        if merchant is None:
            raise PermissionDenied("This account has no active merchant.")
        return merchant, terminal
    if not terminal.merchant.is_active:
        raise PermissionDenied("This account has no active merchant.")
    return terminal.merchant, terminal


def _created_payload(split: PaymentSplit) -> dict[str, Any]:
    """The create answer (``OutputSerializer``'s output, asserted by the tests), built from the objects
    just written without a re-read or the serializer, and without the inline QR: what the idempotency
    record keeps."""
    # status_body is InvoiceStatusSerializer's output without the serializer's per-field work (~1 ms a
    # create).
    return {
        **status_body(store.snapshot(split)),
        "payment_request": split.payment_request,
        "qr_svg_url": reverse("api-invoice-qr", args=[split.payment_hash]),
        "sats_per_unit": str(split.sats_per_unit) if split.sats_per_unit is not None else None,
    }


def _presented(body: dict[str, Any], *, include_qr: bool) -> dict[str, Any]:
    """A stored or fresh create answer as this request asked for it: the QR inline only on request."""
    shown = dict(body)
    if include_qr:
        shown[INCLUDE_QR_SVG] = invoice_qr_svg(body["payment_request"])
    return shown
