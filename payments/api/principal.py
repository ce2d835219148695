"""Who is asking: the merchant (and terminal) behind a POS API request.

A terminal key's principal carries both ids (no query); a signed-in user's merchant is looked up once
per request and remembered on it.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.request import Request

from payments.api.authentication import TerminalPrincipal
from payments.models import Merchant

_MERCHANT_ATTR = "_blinkpos_merchant_id"


def request_merchant_id(request: Request) -> int | None:
    """The merchant behind the request: a terminal's merchant, or the signed-in user's merchant.
    Terminals cost no query (the id travels in the cached auth record)."""
    user = request.user
    if isinstance(user, TerminalPrincipal):
        return user.merchant_id
    if user is None or not getattr(user, "is_authenticated", False) or user.pk is None:
        return None
    cached: int | None = getattr(request, _MERCHANT_ATTR, 0)
    if cached != 0:
        return cached
    merchant_id = Merchant.objects.filter(user_id=user.pk, is_active=True).values_list("pk", flat=True).first()
    setattr(request, _MERCHANT_ATTR, merchant_id)
    return merchant_id


def request_merchant(request: Request) -> Merchant:
    merchant_id = request_merchant_id(request)
    merchant = Merchant.objects.filter(pk=merchant_id, is_active=True).first() if merchant_id else None
    if merchant is None:
        raise exceptions.PermissionDenied("This account has no active merchant.")
    return merchant


def request_terminal_id(request: Request) -> int | None:
    user = request.user
    return user.terminal_id if isinstance(user, TerminalPrincipal) else None
