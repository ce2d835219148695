"""Who may see the dashboard (a logged-in user with an active merchant) and how service errors reach a page."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from payments.models import Merchant

MerchantView = Callable[..., HttpResponse]


def merchant_required(view: MerchantView) -> Callable[..., HttpResponse]:
    """Log-in required; the view gets the user's merchant as its second argument. Every read and write in
    the dashboard goes through this merchant, which is what keeps merchants apart."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        merchant = Merchant.objects.filter(user_id=request.user.pk or 0, is_active=True).first()
        if merchant is None:
            return render(request, "dashboard/no_merchant.html", status=403)
        return view(request, merchant, *args, **kwargs)

    return wrapper


def service_error_fields(exc: Exception) -> dict[str, list[str]] | None:
    """Per-field messages from a service's error, or None when ``exc`` is not a validation-type error
    (a bug, which should surface). Services raise ``ApiError`` (with ``fields``), Django's
    ``ValidationError`` or a wallet error (``WalletError`` with ``field``)."""
    from payments.api.errors import ApiError
    from payments.services.pricing import ProviderError, ProviderUnavailable
    from payments.wallet.errors import WalletError

    if isinstance(exc, ProviderUnavailable):
        return {"__all__": ["The wallet provider is not answering; try again in a moment."]}
    if isinstance(exc, ProviderError):
        return {"__all__": [exc.message]}
    if isinstance(exc, ApiError):
        return exc.fields or {"__all__": [exc.message]}
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
        return {"__all__": [str(m) for m in exc.messages]}
    if isinstance(exc, WalletError):
        field = getattr(exc, "field", None) or "__all__"
        return {field: [getattr(exc, "message", "") or str(exc)]}
    return None


def service_exceptions() -> tuple[type[Exception], ...]:
    """The errors services raise for a request that cannot be done (as opposed to bugs)."""
    from payments.api.errors import ApiError
    from payments.services.invoices import InvoiceNotCancellable
    from payments.services.pricing import ProviderError, ProviderUnavailable
    from payments.wallet.errors import WalletError

    return (ApiError, ValidationError, WalletError, ProviderError, ProviderUnavailable, InvoiceNotCancellable)
