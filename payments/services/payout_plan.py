"""Planning one leg's payout invoice: which route, which invoice, how much, who pays the fee
(docs/ARCHITECTURE.md money rules 8-9; README "Payout destinations").

Called by ``forwarding`` for a ``planned`` leg, outside any transaction (it calls Blink and the
recipient's LNURL server). It returns a ``PlannedInvoice`` for the caller to commit under the split
lock, or a ``PlanRefusal`` to record on the leg; nothing here is ever paid, and an invoice that is
not committed is never paid (an orphan on the recipient's side that expires).

Routes:

- custodial (the sale pinned the recipient's Blink wallet, or resolution found one): an invoice on
  that wallet on behalf of the recipient (``lnInvoiceCreateOnBehalfOfRecipient``), intraledger, no fee.
  When Blink answers that the wallet cannot receive (RECEIVE_DISABLED, no such wallet: the account
  migrated to self-custodial), the recipient is resolved again without cache and, when the Lightning
  address resolves, the same planning continues through LNURL: no invoice was committed, so there is
  nothing that could be paid twice.
- lnurl (an outside address, or a Blink user without a custodial wallet): ``payout_invoice_request``
  checks the invoice (amount, expiry, description hash, new payment hash); the fee is probed on it
  (``lnInvoiceFeeProbe``). Recipient pays: the first invoice (whole share) only measures the fee; the
  real one asks for ``share - estimate`` and is probed again, so the estimate bounding the charged fee
  is the committed invoice's own. Merchant absorbs: the whole-share invoice is the one committed.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from blinkpos.logging import get_logger
from payments.domain import payout_fees as pf
from payments.lnurl.client import LnurlPayParams
from payments.lnurl.invoice_check import InvoiceRefusal
from payments.models import LegStatus, PaymentEvent, PaymentLeg, PaymentSplit, PayoutRouteKind
from payments.models.splits import LegKind
from payments.platform_accounts import provider_for
from payments.services.payout_invoices import payout_invoice_request
from payments.services.payout_routes import (
    PayoutDestination,
    RouteUnresolvable,
    payout_route_forget,
    payout_route_record,
    payout_route_resolve,
)
from payments.wallet.base import WalletProvider
from payments.wallet.errors import DuplicateExternalId, WalletError, WalletUnavailable

log = get_logger(__name__)

MAX_EXTERNAL_ID_SUFFIXES = 5
PAYOUT_INVOICE_MINUTES = 1440  # Blink's maximum; a payout invoice waiting on a retry stays payable
# Blink's answers to an on-behalf invoice or an intraledger payout that mean "this account has no
# custodial wallet to receive any more": re-resolve, the Lightning address may still work.
MIGRATED_CODES = frozenset({"RECEIVE_DISABLED", "RECIPIENT_NOT_FOUND", "NOT_FOUND", "WALLET_NOT_FOUND"})
# Refusals that may clear by themselves (a server down or slow, fees moving, no route now): the leg is
# retried after a backoff, at most FORWARD_MAX_ATTEMPTS plans. Everything else is the recipient's
# server misbehaving or a share its fee does not fit: an operator decides (never paid meanwhile).
_TRANSIENT_PREFIXES = ("lnurl.fetch_failed", "lnurl.http_status", "lnurl.remote_error", "lnurl.no_invoice")
_TRANSIENT_CODES = frozenset({"expires_too_soon", "FEE_ESTIMATE_ROSE", "FEE_PROBE_FAILED", "ROUTE_UNAVAILABLE"})
FEE_OVER_CAP = "FEE_OVER_CAP"
SHARE_BELOW_FEE = "SHARE_BELOW_FEE"
FEES_EXCEED_BASE = "FEES_EXCEED_BASE"


@dataclass(frozen=True, kw_only=True)
class PlannedInvoice:
    payment_request: str
    payment_hash: str
    amount_sats: int
    route_kind: str
    route_address: str
    external_id: str = ""
    fee_estimate: int | None = None
    fee_payer: str = ""
    wallet_id: str = ""


@dataclass(frozen=True, kw_only=True)
class PlanRefusal:
    code: str
    reason: str

    @property
    def retryable(self) -> bool:
        return self.code in _TRANSIENT_CODES or self.code.startswith(_TRANSIENT_PREFIXES)


def _party_destination(leg: PaymentLeg, split: PaymentSplit) -> PayoutDestination | None:
    if leg.staff_id is not None:
        assert leg.staff is not None
        return PayoutDestination.of(leg.staff)
    if leg.kind == LegKind.MERCHANT:
        return PayoutDestination.of(split.merchant)
    return None  # a legacy tip leg with no staff row: only its pinned wallet


def prefers_address(destination: PayoutDestination | None) -> bool:
    """The party chose an address outside Blink: it wins over a wallet pinned at the sale."""
    if destination is None or not destination.lightning_address:
        return False
    try:
        return destination.custodial_username() is None
    except ValueError:
        return False


def fee_owed_by_merchant(legs: list[PaymentLeg], *, exclude: int | None = None) -> int:
    return pf.absorbed(
        pf.LegFee(payer=x.fee_payer, estimate=x.fee_estimate_sats, charged=x.fee_sats, reimbursed=x.fee_reimbursed_sats)
        for x in legs
        if x.pk != exclude and x.fee_payer == pf.MERCHANT
    )


def base_waits_for_fees(split: PaymentSplit, legs: list[PaymentLeg], leg: PaymentLeg) -> bool:
    """A merchant that absorbs fees is paid last: its base leg waits while a tip leg may still charge
    a fee it must absorb (any tip leg not yet succeeded or resolved)."""
    if leg.kind != LegKind.MERCHANT or leg.status != LegStatus.PLANNED or not split.merchant.absorbs_payout_fees:
        return False
    done = (LegStatus.SUCCEEDED, LegStatus.RESOLVED)
    return any(x.pk != leg.pk and x.status not in done for x in legs)


def payout_plan(*, leg: PaymentLeg, split: PaymentSplit, legs: list[PaymentLeg]) -> PlannedInvoice | PlanRefusal:
    """The invoice to commit for ``leg`` now (see the module docstring). ``legs``: the split's legs as
    read just before (the absorption budget). Raises ``WalletUnavailable`` (the task retries)."""
    destination = _party_destination(leg, split)
    provider = provider_for(account_id=split.platform_account_id)  # the sale's account pays its legs
    share = leg.amount
    if leg.kind == LegKind.MERCHANT and split.merchant.absorbs_payout_fees:
        share = leg.amount - fee_owed_by_merchant(legs, exclude=leg.pk)
        if share < 1:
            return PlanRefusal(code=FEES_EXCEED_BASE, reason=f"Absorbed fees leave {share} sats of the base.")
    if leg.recipient_wallet_id and not prefers_address(destination):
        planned = _custodial(leg, wallet_id=leg.recipient_wallet_id, amount=share, provider=provider)
        if not (isinstance(planned, PlanRefusal) and planned.code in MIGRATED_CODES and destination):
            return planned
        log.info("payout_plan.custodial_refused", leg_id=leg.pk, code=planned.code)
        if not resolves_elsewhere(destination):
            return planned
        return _resolved(leg, split, legs, destination, share=share, fresh=False, provider=provider)
    if destination is None:
        return PlanRefusal(code="RECIPIENT_UNRESOLVED", reason="No wallet and no payout destination for this leg.")
    return _resolved(leg, split, legs, destination, share=share, fresh=False, provider=provider)


def resolves_elsewhere(destination: PayoutDestination | None) -> bool:
    """Blink said the custodial wallet cannot receive: does the recipient, resolved again without
    cache, now have an LNURL route (migrated to self-custodial, or paid at their address)? When it
    still resolves to a custodial wallet, or not at all, an operator decides (no new invoice)."""
    if destination is None:
        return False
    payout_route_forget(destination=destination)
    try:
        route = payout_route_resolve(destination=destination, use_cache=False)
    except RouteUnresolvable as exc:
        log.warning("payout_plan.reroute_unresolvable", code=exc.code)
        return False
    return route.kind is PayoutRouteKind.LNURL


def migrated_leg_reroutes(*, leg_id: int) -> bool:
    """``resolves_elsewhere`` for a leg (outside any transaction), after a confirmed refusal."""
    leg = PaymentLeg.objects.select_related("staff", "split__merchant").get(pk=leg_id)
    return resolves_elsewhere(_party_destination(leg, leg.split))


def _resolved(
    leg: PaymentLeg,
    split: PaymentSplit,
    legs: list[PaymentLeg],
    destination: PayoutDestination,
    *,
    share: int,
    fresh: bool,
    provider: WalletProvider,
) -> PlannedInvoice | PlanRefusal:
    if fresh:
        payout_route_forget(destination=destination)
    try:
        route = payout_route_resolve(destination=destination, use_cache=not fresh)
    except RouteUnresolvable as exc:
        code = exc.code if exc.code.startswith("lnurl.") else f"lnurl.{exc.code}"
        return PlanRefusal(code=code[:50], reason=exc.reason)
    party = leg.staff if leg.staff_id is not None else split.merchant
    if party is not None:
        payout_route_record(party=party, route=route)
    if route.kind is PayoutRouteKind.CUSTODIAL:
        assert route.wallet_id
        if any(x.pk != leg.pk and x.recipient_wallet_id == route.wallet_id for x in legs):
            return PlanRefusal(code="RECIPIENT_UNRESOLVED", reason="Resolves to a wallet this payment already pays.")
        return _custodial(leg, wallet_id=route.wallet_id, amount=share, provider=provider)
    assert route.lnurl is not None
    return _lnurl(leg, split, legs, route.lnurl, share=share, provider=provider)


def _custodial(
    leg: PaymentLeg, *, wallet_id: str, amount: int, provider: WalletProvider
) -> PlannedInvoice | PlanRefusal:
    """Payout ``externalId``: the leg's ``external_id``, then ``{external_id}-r{n}`` with n = invoices
    already committed for the leg. A crash between Blink's create and our commit leaves the id taken:
    DuplicateExternalId moves to the next suffix (bounded); that orphan was never committed."""
    committed = PaymentEvent.objects.filter(leg_id=leg.pk, event_type="leg_invoice_created").count()
    memo = "BlinkPOS tip" if leg.kind == LegKind.TIP else "BlinkPOS payment"
    for n in range(committed, committed + MAX_EXTERNAL_ID_SUFFIXES):
        external_id = payout_external_id(leg.external_id, n)
        try:
            invoice = provider.create_invoice_for_recipient(
                recipient_wallet_id=wallet_id,
                amount_sats=amount,
                memo=memo,
                external_id=external_id,
                expires_in_minutes=PAYOUT_INVOICE_MINUTES,
            )
        except DuplicateExternalId:
            log.warning("forwarding.payout_external_id_taken", leg_id=leg.pk, external_id=external_id)
            continue
        except WalletUnavailable:
            raise
        except WalletError as exc:
            return PlanRefusal(code=exc.code, reason=exc.message)
        if invoice.amount_sats != amount:
            return PlanRefusal(code="AMOUNT_MISMATCH", reason=f"Invoice for {invoice.amount_sats} sats.")
        return PlannedInvoice(
            payment_request=invoice.payment_request,
            payment_hash=invoice.payment_hash,
            amount_sats=amount,
            route_kind=PayoutRouteKind.CUSTODIAL.value,
            route_address=wallet_id,
            external_id=external_id,
            wallet_id=wallet_id,
        )
    return PlanRefusal(code="DUPLICATE_EXTERNAL_ID", reason="No free payout externalId.")


def payout_external_id(base: str, n: int) -> str:
    return base if n == 0 else f"{base[: 100 - len(f'-r{n}')]}-r{n}"


def _probe(payment_request: str, *, provider: WalletProvider) -> int | PlanRefusal:
    probe = provider.fee_probe(payment_request=payment_request)
    if not probe.ok or probe.fee_sats is None:
        code = "ROUTE_UNAVAILABLE" if probe.error_code == "ROUTE_FINDING_ERROR" else "FEE_PROBE_FAILED"
        return PlanRefusal(code=code, reason=f"Fee probe: {probe.error_code}: {probe.message or ''}"[:500])
    return probe.fee_sats


def _refused(refusal: InvoiceRefusal) -> PlanRefusal:
    return PlanRefusal(code=refusal.code[:50], reason=refusal.reason)


def _lnurl(
    leg: PaymentLeg,
    split: PaymentSplit,
    legs: list[PaymentLeg],
    params: LnurlPayParams,
    *,
    share: int,
    provider: WalletProvider,
) -> PlannedInvoice | PlanRefusal:
    first = payout_invoice_request(params=params, amount_sats=share, leg_id=leg.pk)
    if isinstance(first, InvoiceRefusal):
        return _refused(first)
    estimate = _probe(first.payment_request, provider=provider)
    if isinstance(estimate, PlanRefusal):
        return estimate
    cap = pf.fee_cap(share_sats=share, cap_bps=settings.PAYOUT_FEE_CAP_BPS, cap_sats=settings.PAYOUT_FEE_CAP_SATS)
    if estimate > cap:
        return PlanRefusal(code=FEE_OVER_CAP, reason=f"Routing fee estimate {estimate} sats is above the cap {cap}.")
    payer = pf.RECIPIENT
    if leg.kind == LegKind.TIP and split.merchant.absorbs_payout_fees:
        base = next((x.amount for x in legs if x.kind == LegKind.MERCHANT), 0)
        if pf.absorb_fits(base_sats=base, already=fee_owed_by_merchant(legs, exclude=leg.pk), estimate_sats=estimate):
            payer = pf.MERCHANT
    amount = pf.invoice_amount(share_sats=share, estimate_sats=estimate, payer=payer)
    if amount <= estimate:
        return PlanRefusal(code=SHARE_BELOW_FEE, reason=f"A {share}-sat share cannot carry a {estimate}-sat fee.")
    invoice = first
    if amount != share:
        second = payout_invoice_request(params=params, amount_sats=amount, leg_id=leg.pk)
        if isinstance(second, InvoiceRefusal):
            return _refused(second)
        charged = _probe(second.payment_request, provider=provider)
        if isinstance(charged, PlanRefusal):
            return charged
        if amount + charged > share:
            return PlanRefusal(code="FEE_ESTIMATE_ROSE", reason=f"Fee rose to {charged} sats for {amount} sats.")
        invoice, estimate = second, charged
    return PlannedInvoice(
        payment_request=invoice.payment_request,
        payment_hash=invoice.payment_hash,
        amount_sats=amount,
        route_kind=PayoutRouteKind.LNURL.value,
        route_address=params.address,
        fee_estimate=estimate,
        fee_payer=payer,
    )


def base_leg_committed(legs: list[PaymentLeg]) -> bool:
    return any(x.kind == LegKind.MERCHANT and x.status != LegStatus.PLANNED for x in legs)


def _most_out(leg: PaymentLeg, owed_by_merchant: int, absorbs: bool) -> int:
    """The most this leg can take out of the platform wallet from now on (or has taken)."""
    if leg.status == LegStatus.PLANNED:
        return leg.amount - owed_by_merchant if (absorbs and leg.kind == LegKind.MERCHANT) else leg.amount
    payout = leg.payout_amount if leg.payout_amount is not None else leg.amount
    if leg.fee_sats is not None:
        return payout + max(0, leg.fee_sats - (leg.fee_reimbursed_sats or 0))
    return payout + (leg.fee_estimate_sats or 0)


def outflow_problem(split: PaymentSplit, legs: list[PaymentLeg], *, planned: PlannedInvoice, leg_id: int) -> str:
    """Money rule: everything that leaves the platform wallet for a split (payouts plus their fees, with
    ``planned`` committed for ``leg_id``) stays within what the split received. Empty when it does."""
    received = split.received_amount if split.received_amount is not None else split.total_amount
    received -= split.pooled_amount  # a pooled tip belongs to its shift's pool, not to this sale's legs
    absorbs = split.merchant.absorbs_payout_fees
    owed = fee_owed_by_merchant(legs, exclude=leg_id)
    if planned.fee_payer == pf.MERCHANT:
        owed += planned.fee_estimate or 0
    total = planned.amount_sats + (planned.fee_estimate or 0)
    total += sum(_most_out(x, owed, absorbs) for x in legs if x.pk != leg_id)
    if total > received:
        return f"Payouts and fees would take {total} sats out of {received} received."
    return ""
