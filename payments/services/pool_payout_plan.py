"""Planning a pool payout's invoice (``payments.services.pool_payouts``, step 1): which route, which
invoice, how much. Called outside any transaction (it calls Blink and the recipient's LNURL server); it
returns a ``PlannedInvoice`` for the caller to commit under the payout's lock, or a ``PlanRefusal`` to
record. Nothing here is paid; an invoice never committed expires unpaid.

- custodial: an invoice on the person's Blink wallet on behalf of them, externalId the payout's
  ``external_id`` then ``-r<n>`` (n = invoices already committed for the payout), so a crash between
  Blink's create and our commit never blocks the payout;
- Lightning address: an invoice for exactly the share, checked (``payout_invoice_request``), its
  routing fee probed and capped; the recipient pays the fee out of the share (the committed invoice
  asks for ``share - estimate`` and is probed again), so a pool never pays out more than it holds.
"""

from __future__ import annotations

from django.conf import settings

from payments.domain import payout_fees as pf
from payments.lnurl.client import LnurlPayParams
from payments.lnurl.invoice_check import InvoiceRefusal
from payments.models import Merchant, PayoutRouteKind, PoolPayout
from payments.platform_accounts import provider_for
from payments.services.payout_invoices import payout_invoice_request
from payments.services.payout_plan import PAYOUT_INVOICE_MINUTES, PlannedInvoice, PlanRefusal, payout_external_id
from payments.services.payout_routes import PayoutDestination, RouteUnresolvable, payout_route_resolve
from payments.wallet.base import WalletProvider
from payments.wallet.errors import DuplicateExternalId, WalletError, WalletUnavailable

MAX_EXTERNAL_ID_SUFFIXES = 5


def pool_payout_provider(payout: PoolPayout) -> WalletProvider:
    """The merchant's current platform account pays (their pooled tips were received on it)."""
    merchant = Merchant.objects.only("platform_account_id").get(shifts__pk=payout.shift_id)
    return provider_for(account_id=merchant.platform_account_id)


def _destination(payout: PoolPayout) -> PayoutDestination:
    party = payout.staff if payout.staff_id is not None else payout.shift.merchant
    assert party is not None
    return PayoutDestination.of(party)


def pool_payout_plan(payout: PoolPayout) -> PlannedInvoice | PlanRefusal:
    """The invoice to commit for ``payout`` now. Raises ``WalletUnavailable`` (the task retries)."""
    destination = _destination(payout)
    try:
        route = payout_route_resolve(destination=destination)
    except RouteUnresolvable as exc:
        code = exc.code if exc.code.startswith("lnurl.") else f"lnurl.{exc.code}"
        return PlanRefusal(code=code[:50], reason=exc.reason)
    provider = pool_payout_provider(payout)
    if route.kind is PayoutRouteKind.CUSTODIAL:
        assert route.wallet_id
        return _custodial(payout, wallet_id=route.wallet_id, provider=provider)
    assert route.lnurl is not None
    return _lnurl(payout, route.lnurl, provider=provider)


def _custodial(payout: PoolPayout, *, wallet_id: str, provider: WalletProvider) -> PlannedInvoice | PlanRefusal:
    committed = payout.events.filter(event_type="pool_payout_committed").count()
    for n in range(committed, committed + MAX_EXTERNAL_ID_SUFFIXES):
        external_id = payout_external_id(payout.external_id, n)
        try:
            invoice = provider.create_invoice_for_recipient(
                recipient_wallet_id=wallet_id,
                amount_sats=payout.amount_sats,
                memo="BlinkPOS tip pool",
                external_id=external_id,
                expires_in_minutes=PAYOUT_INVOICE_MINUTES,
            )
        except DuplicateExternalId:
            continue
        except WalletUnavailable:
            raise
        except WalletError as exc:
            return PlanRefusal(code=exc.code, reason=exc.message)
        if invoice.amount_sats != payout.amount_sats:
            return PlanRefusal(code="AMOUNT_MISMATCH", reason=f"Invoice for {invoice.amount_sats} sats.")
        return PlannedInvoice(
            payment_request=invoice.payment_request,
            payment_hash=invoice.payment_hash,
            amount_sats=payout.amount_sats,
            route_kind=PayoutRouteKind.CUSTODIAL.value,
            route_address=wallet_id,
            external_id=external_id,
            wallet_id=wallet_id,
        )
    return PlanRefusal(code="DUPLICATE_EXTERNAL_ID", reason="No free payout externalId.")


def _probe(payment_request: str, provider: WalletProvider) -> int | PlanRefusal:
    probe = provider.fee_probe(payment_request=payment_request)
    if not probe.ok or probe.fee_sats is None:
        code = "ROUTE_UNAVAILABLE" if probe.error_code == "ROUTE_FINDING_ERROR" else "FEE_PROBE_FAILED"
        return PlanRefusal(code=code, reason=f"Fee probe: {probe.error_code}"[:500])
    return probe.fee_sats


def _checked(params: LnurlPayParams, amount: int) -> PlanRefusal | tuple[str, str]:
    invoice = payout_invoice_request(params=params, amount_sats=amount)
    if isinstance(invoice, InvoiceRefusal):
        return PlanRefusal(code=invoice.code[:50], reason=invoice.reason)
    return invoice.payment_request, invoice.payment_hash


def _lnurl(payout: PoolPayout, params: LnurlPayParams, *, provider: WalletProvider) -> PlannedInvoice | PlanRefusal:
    """The recipient pays the routing fee out of their share: the committed invoice asks for
    ``share - estimate`` and is probed again, so the pool never pays out more than the share."""
    share = payout.amount_sats
    first = _checked(params, share)
    if isinstance(first, PlanRefusal):
        return first
    estimate = _probe(first[0], provider)
    if isinstance(estimate, PlanRefusal):
        return estimate
    cap = pf.fee_cap(share_sats=share, cap_bps=settings.PAYOUT_FEE_CAP_BPS, cap_sats=settings.PAYOUT_FEE_CAP_SATS)
    if estimate > cap:
        return PlanRefusal(code="FEE_OVER_CAP", reason=f"Routing fee estimate {estimate} sats is above the cap {cap}.")
    amount = pf.invoice_amount(share_sats=share, estimate_sats=estimate, payer=pf.RECIPIENT)
    if amount <= estimate:
        return PlanRefusal(code="SHARE_BELOW_FEE", reason=f"A {share}-sat share cannot carry a {estimate}-sat fee.")
    request, payment_hash = first
    if amount != share:
        second = _checked(params, amount)
        if isinstance(second, PlanRefusal):
            return second
        charged = _probe(second[0], provider)
        if isinstance(charged, PlanRefusal):
            return charged
        if amount + charged > share:
            return PlanRefusal(code="FEE_ESTIMATE_ROSE", reason=f"Fee rose to {charged} sats for {amount} sats.")
        (request, payment_hash), estimate = second, charged
    return PlannedInvoice(
        payment_request=request,
        payment_hash=payment_hash,
        amount_sats=amount,
        route_kind=PayoutRouteKind.LNURL.value,
        route_address=params.address,
        fee_estimate=estimate,
        fee_payer=pf.RECIPIENT,
    )
