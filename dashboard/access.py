"""Who may see the dashboard: a logged-in user with an active merchant."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
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
