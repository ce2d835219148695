"""``POST /webhooks/blink`` (the default platform account) and ``POST /webhooks/blink/<token>`` (another
platform account, by its unguessable webhook token): Blink's Svix webhook. The only CSRF-exempt view in
the project. An unknown token is a 404 before anything is read or written.

CSRF protects browser sessions; this endpoint has none and is authenticated by the Svix signature
over the raw body instead. The view reads the raw bytes (never re-serialised JSON), calls one
service and answers an ACKNOWLEDGEMENT: the delivery is recorded (one INSERT) and, when there is work,
handed to a Celery worker that detects the payment and forwards it (``services/webhooks.py``).

Answers: 200 ``{"status": "accepted", "outcome": "queued" | <final classification>}``, 200
``{"status": "duplicate", "outcome": "duplicate"}`` for a redelivered svix-id, 401 (generic) for a
signature that does not verify, 400 for a signed body that is not a JSON object, 413 for a body over
``DATA_UPLOAD_MAX_MEMORY_SIZE`` (not read, not verified, nothing written). A receive for a sale
already past detection answers ``already_handled`` (final, no task). Otherwise the detection's outcome
(``paid``, ``paid_late``...) is not known at answer time; it is stored on the delivery row
(``webhook_deliveries.outcome``) when the worker is done.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from blinkpos.logging import get_logger
from payments.api.errors import error_body
from payments.models import PlatformAccount
from payments.services.webhooks import WebhookRejected, webhook_receive

log = get_logger(__name__)


@csrf_exempt
@require_POST
def blink_webhook(request: HttpRequest, token: str | None = None) -> JsonResponse:
    source_ip = request.META.get("REMOTE_ADDR") or None
    headers = {k.lower(): v for k, v in request.headers.items()}
    account = None
    if token is not None:
        account = PlatformAccount.objects.filter(webhook_token=token).first()
        if account is None:
            log.warning("webhook.unknown_endpoint", source_ip=source_ip)
            return JsonResponse(error_body("not_found", "No such webhook endpoint."), status=404)
    try:
        body = request.body
    except RequestDataTooBig:
        # Blink's events are a few KiB; Django refuses to read more (its own answer would be a 400).
        log.warning("webhook.body_too_large", svix_id=headers.get("svix-id", "")[:100], source_ip=source_ip)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return JsonResponse(
            error_body("request_too_large", f"The request body is larger than {limit} bytes."), status=413
        )
    try:
        result = webhook_receive(body=body, headers=headers, source_ip=source_ip, account=account)
    except WebhookRejected as exc:
        # Generic answer: the caller learns nothing about why. The log has what an operator needs
        # (never the secret or the signature).
        log.warning(
            "webhook.rejected", svix_id=headers.get("svix-id", "")[:100], source_ip=source_ip, reason=exc.reason
        )
        return JsonResponse(error_body(exc.code, exc.message), status=exc.http_status)
    except ValueError:
        log.warning("webhook.malformed_body", svix_id=headers.get("svix-id", "")[:100], source_ip=source_ip)
        return JsonResponse(error_body("invalid_body", "Webhook body must be a JSON object."), status=400)
    status = "duplicate" if result.duplicate else "accepted"
    return JsonResponse({"status": status, "outcome": result.outcome}, status=200)
