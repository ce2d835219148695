"""Settings → Webhooks: the merchant's endpoints, their delivery log, replay, test event, secret
reveal and rotation (docs/WEBHOOKS.md).

Every write is a service call (``payments.services.webhook_endpoints``); an endpoint of another
merchant is a 404. The secret is shown on the page that answers the create, reveal or rotate POST,
never in a URL, a redirect or a message stored in the session.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from blinkpos.errors import USER_ERRORS, user_error_fields
from dashboard.access import merchant_required
from dashboard.forms_webhooks import WebhookEndpointForm
from payments.models import Merchant, MerchantWebhookAttempt, MerchantWebhookEndpoint, MerchantWebhookMessage
from payments.services import webhook_endpoints as svc

LOG_ROWS = 50


def _endpoint(merchant: Merchant, endpoint_id: int) -> MerchantWebhookEndpoint:
    endpoint = MerchantWebhookEndpoint.objects.filter(merchant=merchant, pk=endpoint_id).first()
    if endpoint is None:
        raise Http404("No such endpoint")
    return endpoint


def _list_page(
    request: HttpRequest,
    merchant: Merchant,
    *,
    form: WebhookEndpointForm | None = None,
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    context = {
        "nav": "settings",
        "merchant": merchant,
        "endpoints": MerchantWebhookEndpoint.objects.filter(merchant=merchant),
        "form": form or WebhookEndpointForm(),
        **extra,
    }
    return render(request, "dashboard/webhooks.html", context, status=status)


def _detail_page(
    request: HttpRequest,
    merchant: Merchant,
    endpoint: MerchantWebhookEndpoint,
    *,
    form: WebhookEndpointForm | None = None,
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    form = form or WebhookEndpointForm(
        initial={
            "url": endpoint.url,
            "description": endpoint.description,
            "event_types": endpoint.event_types,
            "enabled": endpoint.enabled,
        }
    )
    context = {
        "nav": "settings",
        "merchant": merchant,
        "endpoint": endpoint,
        "form": form,
        "messages_log": MerchantWebhookMessage.objects.filter(endpoint=endpoint)[:LOG_ROWS],
        "attempts": MerchantWebhookAttempt.objects.filter(endpoint=endpoint).select_related("message")[:LOG_ROWS],
        **extra,
    }
    return render(request, "dashboard/webhook_detail.html", context, status=status)


def _form_errors(form: WebhookEndpointForm, exc: Exception) -> None:
    assert isinstance(exc, USER_ERRORS)
    for field, errors in user_error_fields(exc).items():
        for error in errors:
            form.add_error(field if field in form.fields else None, error)


@require_GET
@merchant_required
def webhooks_page(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    return _list_page(request, merchant)


@require_POST
@merchant_required
def webhook_create(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    form = WebhookEndpointForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            endpoint, secret = svc.endpoint_create(
                merchant=merchant,
                url=data["url"],
                event_types=data["event_types"],
                description=data["description"],
                enabled=data["enabled"],
            )
        except USER_ERRORS as exc:
            _form_errors(form, exc)
        else:
            # Rendered, not redirected: the secret is on this answer only (and on demand later).
            return _detail_page(request, merchant, endpoint, status=201, secret=secret, secret_is_new=True)
    return _list_page(request, merchant, form=form, status=400)


@require_GET
@merchant_required
def webhook_detail(request: HttpRequest, merchant: Merchant, endpoint_id: int) -> HttpResponse:
    return _detail_page(request, merchant, _endpoint(merchant, endpoint_id))


@require_POST
@merchant_required
def webhook_update(request: HttpRequest, merchant: Merchant, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(merchant, endpoint_id)
    form = WebhookEndpointForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            svc.endpoint_update(
                endpoint=endpoint,
                url=data["url"],
                event_types=data["event_types"],
                description=data["description"],
                enabled=data["enabled"],
            )
        except USER_ERRORS as exc:
            _form_errors(form, exc)
            endpoint.refresh_from_db()
        else:
            messages.success(request, "Endpoint saved.")
            return redirect("dashboard:webhook", endpoint.pk)
    return _detail_page(request, merchant, endpoint, form=form, status=400)


@require_POST
@merchant_required
def webhook_delete(request: HttpRequest, merchant: Merchant, endpoint_id: int) -> HttpResponse:
    svc.endpoint_delete(endpoint=_endpoint(merchant, endpoint_id))
    messages.success(request, "Endpoint removed.")
    return redirect("dashboard:webhooks")


@require_POST
@merchant_required
def webhook_secret(request: HttpRequest, merchant: Merchant, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(merchant, endpoint_id)
    return _detail_page(request, merchant, endpoint, secret=svc.endpoint_secret(endpoint=endpoint))


@require_POST
@merchant_required
def webhook_rotate(request: HttpRequest, merchant: Merchant, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(merchant, endpoint_id)
    secret = svc.endpoint_rotate_secret(endpoint=endpoint)
    return _detail_page(request, merchant, endpoint, secret=secret, secret_is_new=True)


@require_POST
@merchant_required
def webhook_test(request: HttpRequest, merchant: Merchant, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(merchant, endpoint_id)
    try:
        svc.endpoint_send_test(endpoint=endpoint)
    except USER_ERRORS as exc:
        return _detail_page(request, merchant, endpoint, status=409, error=str(getattr(exc, "message", exc)))
    messages.success(request, "Test event queued: its attempt appears in the log below.")
    return redirect("dashboard:webhook", endpoint.pk)


@require_POST
@merchant_required
def webhook_replay(request: HttpRequest, merchant: Merchant, endpoint_id: int, msg_id: str) -> HttpResponse:
    endpoint = _endpoint(merchant, endpoint_id)
    message = MerchantWebhookMessage.objects.filter(endpoint=endpoint, msg_id=msg_id[:40]).first()
    if message is None:
        raise Http404("No such message")
    try:
        svc.message_replay(message=message)
    except USER_ERRORS as exc:
        return _detail_page(request, merchant, endpoint, status=409, error=str(getattr(exc, "message", exc)))
    messages.success(request, f"Replay of {message.event_type} queued.")
    return redirect("dashboard:webhook", endpoint.pk)


@require_POST
@merchant_required
def webhook_dismiss(request: HttpRequest, merchant: Merchant, endpoint_id: int) -> HttpResponse:
    svc.endpoint_dismiss_notice(endpoint=_endpoint(merchant, endpoint_id))
    return redirect("dashboard:webhook", endpoint_id)
