"""The "a webhook endpoint was disabled" banner every dashboard page shows until the merchant
dismisses it (or enables the endpoint again)."""

from __future__ import annotations

from typing import Any

from django import template

from payments.models import MerchantWebhookEndpoint

register = template.Library()


@register.inclusion_tag("dashboard/_webhook_notices.html", takes_context=True)
def webhook_notices(context: dict[str, Any]) -> dict[str, Any]:
    merchant = context.get("merchant")
    endpoints: list[MerchantWebhookEndpoint] = []
    if merchant is not None and getattr(merchant, "pk", None):
        endpoints = list(
            MerchantWebhookEndpoint.objects.filter(merchant=merchant, enabled=False, notice_dismissed=False)
            .exclude(disabled_at=None)
            .only("pk", "url", "disabled_at", "disabled_reason")
        )
    return {"disabled_endpoints": endpoints}
