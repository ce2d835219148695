"""Where a person's share goes: a Blink custodial wallet or a Lightning address (LNURL-pay).

Resolution (README "Payout destinations"): custodial first for Blink's own domains (a bare Blink
username, or ``name@<BLINK_LIGHTNING_DOMAINS>``): ``accountDefaultWallet`` with BTC. When that finds
no wallet (unknown, migrated to self-custodial, no BTC wallet, RECEIVE_DISABLED), or the address is
on any other domain, the Lightning address is resolved with LNURL-pay through the SSRF-safe client.

A custodial result is never cached: Blink's migration can take the wallet away at any moment. An
LNURL result (public pay parameters, no secrets) is cached in Redis for ``LNURL_ROUTE_CACHE_SECONDS``.
Provider outages (``WalletUnavailable`` and friends) propagate: they are the platform's problem, not
the recipient's, and must not flag anyone.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils import timezone

from blinkpos.logging import get_logger
from payments.lnurl.address import InvalidAddress, LightningAddress, parse_address
from payments.lnurl.client import LnurlError, LnurlPayParams, fetch_pay_params
from payments.models import Merchant, PayoutRouteKind, Staff
from payments.net.safe_http import SafeHttpPolicy, policy_from_settings
from payments.wallet import errors as we
from payments.wallet import validation
from payments.wallet.provider import get_wallet_provider

log = get_logger(__name__)

CACHE_PREFIX = "lnurlp:"
# Wallet answers that mean "no custodial wallet to pay here": fall back to the Lightning address.
_NO_CUSTODIAL = (we.RecipientNotFound, we.WrongCurrency, we.ReceiveDisabled, we.InvalidInput)


class RouteUnresolvable(Exception):
    """Neither a custodial wallet nor a working Lightning address. ``reason`` starts with what the
    custodial lookup said (when there was one), so a flag reads "RECEIVE_DISABLED: ...; lnurl: ..."."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class PayoutDestination:
    """What the merchant entered: a Blink username and/or a Lightning address (one may be empty)."""

    blink_username: str = ""
    lightning_address: str = ""

    @classmethod
    def of(cls, party: Merchant | Staff) -> PayoutDestination:
        return cls(blink_username=party.blink_username, lightning_address=party.lightning_address)

    def custodial_username(self) -> str | None:
        """The Blink username to try custodially, or None when the address is on another domain."""
        if not self.lightning_address:
            return self.blink_username or None
        address = parse_address(self.lightning_address)
        if address.domain not in blink_domains():
            return None
        try:
            return validation.username(address.name)
        except we.InvalidInput:
            return None

    def address(self) -> LightningAddress:
        if self.lightning_address:
            return parse_address(self.lightning_address)
        return parse_address(f"{self.blink_username}@{settings.BLINK_LIGHTNING_ADDRESS_DOMAIN}")


@dataclass(frozen=True, kw_only=True)
class PayoutRoute:
    kind: PayoutRouteKind
    checked_at: datetime
    wallet_id: str | None = None
    lnurl: LnurlPayParams | None = None
    # Why the custodial wallet was not used (empty when it was, or was never tried).
    custodial_refusal: str = ""

    @property
    def detail(self) -> str:
        if self.kind is PayoutRouteKind.CUSTODIAL:
            return self.wallet_id or ""
        assert self.lnurl is not None
        return f"{self.lnurl.address} via {self.lnurl.callback_host}"


def blink_domains() -> frozenset[str]:
    return frozenset([*settings.BLINK_LIGHTNING_DOMAINS, settings.BLINK_LIGHTNING_ADDRESS_DOMAIN])


def lnurl_policy() -> SafeHttpPolicy:
    return policy_from_settings()


def _cache_key(address: LightningAddress) -> str:
    return CACHE_PREFIX + hashlib.sha256(str(address).encode()).hexdigest()


def _lnurl_route(address: LightningAddress, *, use_cache: bool, custodial_refusal: str) -> PayoutRoute:
    key = _cache_key(address)
    cached = cache.get(key) if use_cache else None
    if isinstance(cached, dict):
        try:
            params = LnurlPayParams.from_cache(cached)
            return PayoutRoute(
                kind=PayoutRouteKind.LNURL,
                lnurl=params,
                checked_at=params.fetched_at,
                custodial_refusal=custodial_refusal,
            )
        except (KeyError, ValueError, TypeError):
            cache.delete(key)
    try:
        params = fetch_pay_params(address, policy=lnurl_policy(), now=datetime.now(UTC))
    except LnurlError as exc:
        prefix = f"{custodial_refusal}; " if custodial_refusal else ""
        raise RouteUnresolvable(exc.code, f"{prefix}lightning address {address}: {exc.code}: {exc.reason}") from exc
    cache.set(key, params.as_cache(), timeout=settings.LNURL_ROUTE_CACHE_SECONDS)
    return PayoutRoute(
        kind=PayoutRouteKind.LNURL, lnurl=params, checked_at=params.fetched_at, custodial_refusal=custodial_refusal
    )


def payout_route_resolve(*, destination: PayoutDestination, use_cache: bool = True) -> PayoutRoute:
    """The route to pay ``destination`` now. Raises ``RouteUnresolvable`` (flag the person) or a
    ``WalletError`` other than the "no custodial wallet" ones (the provider is away: flag nobody)."""
    try:
        username = destination.custodial_username()
        address = destination.address()
    except InvalidAddress as exc:
        raise RouteUnresolvable("invalid_address", str(exc)) from exc
    refusal = ""
    if username is not None:
        try:
            wallet = get_wallet_provider().resolve_username(username=username)
        except _NO_CUSTODIAL as exc:
            refusal = f"{exc.code}: {exc.message}"
        else:
            return PayoutRoute(kind=PayoutRouteKind.CUSTODIAL, wallet_id=wallet.wallet_id, checked_at=timezone.now())
    return _lnurl_route(address, use_cache=use_cache, custodial_refusal=refusal)


def payout_route_forget(*, destination: PayoutDestination) -> None:
    """Drop a cached LNURL route (e.g. after its invoice was refused, before asking again)."""
    with contextlib.suppress(InvalidAddress):
        cache.delete(_cache_key(destination.address()))


def payout_route_record(*, party: Merchant | Staff, route: PayoutRoute) -> None:
    """Store the route and when it was checked on the party's row (display: dashboard, admin, API)."""
    # No new sale-configuration generation (payments/sale_config.py): every forward writes these display
    # columns, and no create reads them.
    type(party).objects.filter(pk=party.pk).update(
        payout_route=route.kind.value, payout_route_detail=route.detail[:255], payout_route_checked_at=route.checked_at
    )


def payout_destination_parse(value: object, *, field: str) -> PayoutDestination:
    """A merchant's input: ``name@domain`` (Lightning address) or a Blink username (``@`` optional).
    Raises a ``ValidationError`` keyed by ``field``; no I/O."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ValidationError({field: ["Give a Blink username or a Lightning address (name@domain)."]})
    if "@" in text.lstrip("@"):
        try:
            address = parse_address(text)
        except InvalidAddress as exc:
            raise ValidationError({field: [str(exc)]}) from exc
        username = ""
        if address.domain in blink_domains():
            try:
                username = validation.username(address.name)
            except we.InvalidInput as exc:
                raise ValidationError({field: ["This is not a valid Blink username before the @."]}) from exc
        return PayoutDestination(blink_username=username, lightning_address=str(address))
    try:
        return PayoutDestination(blink_username=validation.username(text.lstrip("@")).lower())
    except we.InvalidInput as exc:
        raise ValidationError(
            {field: ["Must be a Blink username (3-50 letters, digits or underscores) or a Lightning address."]}
        ) from exc
