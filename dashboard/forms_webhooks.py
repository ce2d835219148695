"""The webhook endpoint form of the dashboard (Settings → Webhooks). The service validates the URL
(https, public addresses) and the events again; its errors land on the field they name."""

from __future__ import annotations

from django import forms

from payments.models.merchant_webhooks import SUBSCRIBABLE_EVENTS
from payments.services.webhook_endpoints import DESCRIPTION_MAX_CHARS, URL_MAX_CHARS

EVENT_CHOICES = [(e, e) for e in SUBSCRIBABLE_EVENTS]


class WebhookEndpointForm(forms.Form):
    url = forms.CharField(
        label="Endpoint URL", max_length=URL_MAX_CHARS, help_text="https only; it must be reachable from the internet."
    )
    description = forms.CharField(max_length=DESCRIPTION_MAX_CHARS, required=False)
    event_types = forms.MultipleChoiceField(
        label="Events", choices=EVENT_CHOICES, widget=forms.CheckboxSelectMultiple, initial=["invoice.paid"]
    )
    enabled = forms.BooleanField(required=False, initial=True)
