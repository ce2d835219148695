"""Merchants' webhook endpoints: register, change, remove, rotate the secret, replay, send a test event
(docs/WEBHOOKS.md). The dashboard and the API call these; every refusal is an ``ApplicationError``
naming the field, raised before anything is written.

A ``whsec_`` secret is 32 random bytes, stored encrypted (``payments.crypto``), shown to the merchant
when created or rotated and on demand, never logged. A rotation keeps the previous secret signing
beside the new one for ``ROTATION_OVERLAP`` (24 h), so a receiver can switch without missing a
delivery.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from blinkpos.errors import ApplicationError
from blinkpos.logging import get_logger
from payments.crypto import decrypt_secret, encrypt_secret
from payments.models import (
    Merchant,
    MerchantWebhookEndpoint,
    MerchantWebhookMessage,
    MessageStatus,
    WebhookEventType,
)
from payments.models.merchant_webhooks import SUBSCRIBABLE_EVENTS
from payments.net.safe_http import FetchFailed, UnsafeUrl, check_url
from payments.services.webhook_delivery import policy_from_settings
from payments.services.webhook_outbox import event_body, new_msg_id, publish_sends

log = get_logger(__name__)

ROTATION_OVERLAP = timedelta(hours=24)
URL_MAX_CHARS = 500
DESCRIPTION_MAX_CHARS = 200
MAX_ENDPOINTS_PER_MERCHANT = 20


class WebhookEndpointInvalid(ApplicationError):
    code = "invalid_input"
    http_status = 400


class WebhookConflict(ApplicationError):
    code = "conflict"
    http_status = 409


def _invalid(field: str, message: str) -> WebhookEndpointInvalid:
    return WebhookEndpointInvalid(message, fields={field: [message]})


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def validate_url(url: str) -> str:
    """An https URL whose host resolves to public addresses only (in production settings); the same
    check ``safe_post`` makes before every send, so a refused URL is refused at registration too."""
    url = (url or "").strip()
    if not url:
        raise _invalid("url", "Enter the URL of your webhook receiver.")
    if len(url) > URL_MAX_CHARS:
        raise _invalid("url", f"The URL is longer than {URL_MAX_CHARS} characters.")
    try:
        check_url(url, policy=policy_from_settings())
    except UnsafeUrl as exc:
        raise _invalid("url", f"This URL cannot receive webhooks: {exc.reason}.") from exc
    except FetchFailed as exc:
        raise _invalid("url", f"This URL cannot receive webhooks: {exc.reason}.") from exc
    return url


def validate_event_types(event_types: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(event_types))
    unknown = [e for e in chosen if e not in SUBSCRIBABLE_EVENTS]
    if unknown:
        raise _invalid("event_types", f"Unknown event type(s): {', '.join(sorted(unknown))[:200]}.")
    if not chosen:
        raise _invalid("event_types", "Choose at least one event.")
    return chosen


def _validate_description(description: str) -> str:
    description = (description or "").strip()
    if len(description) > DESCRIPTION_MAX_CHARS:
        raise _invalid("description", f"At most {DESCRIPTION_MAX_CHARS} characters.")
    if "\x00" in description:
        raise _invalid("description", "Control characters are not allowed.")
    return description


def endpoint_create(
    *, merchant: Merchant, url: str, event_types: Iterable[str], description: str = "", enabled: bool = True
) -> tuple[MerchantWebhookEndpoint, str]:
    """Register an endpoint; returns it and its new secret (to show once)."""
    url = validate_url(url)
    chosen = validate_event_types(event_types)
    description = _validate_description(description)
    if MerchantWebhookEndpoint.objects.filter(merchant=merchant).count() >= MAX_ENDPOINTS_PER_MERCHANT:
        raise _invalid("url", f"At most {MAX_ENDPOINTS_PER_MERCHANT} endpoints per merchant.")
    secret = new_secret()
    endpoint = MerchantWebhookEndpoint.objects.create(
        merchant=merchant,
        url=url,
        description=description,
        event_types=chosen,
        enabled=enabled,
        secret_encrypted=encrypt_secret(secret),
    )
    log.info("merchant_webhook.endpoint_created", endpoint_id=endpoint.pk, merchant_id=merchant.pk)
    return endpoint, secret


def endpoint_update(
    *,
    endpoint: MerchantWebhookEndpoint,
    url: str | None = None,
    event_types: Iterable[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> MerchantWebhookEndpoint:
    """Change what is given. Enabling a disabled endpoint clears its failure state (messages closed
    by the disable stay failed: the merchant replays those they need)."""
    changes: dict[str, object] = {}
    if url is not None:
        changes["url"] = validate_url(url)
    if event_types is not None:
        changes["event_types"] = validate_event_types(event_types)
    if description is not None:
        changes["description"] = _validate_description(description)
    if enabled is not None:
        changes["enabled"] = enabled
        if enabled and not endpoint.enabled:
            changes.update(disabled_at=None, disabled_reason="", failing_since=None, notice_dismissed=False)
    for name, value in changes.items():
        setattr(endpoint, name, value)
    if changes:
        endpoint.save(update_fields=[*changes.keys(), "updated_at"])
    return endpoint


def endpoint_delete(*, endpoint: MerchantWebhookEndpoint) -> None:
    log.info("merchant_webhook.endpoint_deleted", endpoint_id=endpoint.pk, merchant_id=endpoint.merchant_id)
    endpoint.delete()


def endpoint_secret(*, endpoint: MerchantWebhookEndpoint) -> str:
    """The current secret, decrypted (shown to the merchant on demand; never logged)."""
    return decrypt_secret(endpoint.secret_encrypted)


def endpoint_rotate_secret(*, endpoint: MerchantWebhookEndpoint) -> str:
    """A new secret signs from now on; the current one keeps signing beside it for 24 h. Returns the
    new secret. A second rotation inside the overlap drops the oldest secret at once."""
    secret = new_secret()
    now = timezone.now()
    with transaction.atomic():
        locked = MerchantWebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret_encrypted = locked.secret_encrypted
        locked.previous_secret_expires_at = now + ROTATION_OVERLAP
        locked.secret_encrypted = encrypt_secret(secret)
        locked.save(
            update_fields=["previous_secret_encrypted", "previous_secret_expires_at", "secret_encrypted", "updated_at"]
        )
    endpoint.refresh_from_db()
    log.info("merchant_webhook.secret_rotated", endpoint_id=endpoint.pk, merchant_id=endpoint.merchant_id)
    return secret


def endpoint_dismiss_notice(*, endpoint: MerchantWebhookEndpoint) -> None:
    MerchantWebhookEndpoint.objects.filter(pk=endpoint.pk).update(notice_dismissed=True)


def _require_enabled(endpoint: MerchantWebhookEndpoint) -> None:
    if not endpoint.enabled:
        raise WebhookConflict(
            "This endpoint is disabled: enable it first.", fields={"enabled": ["Enable the endpoint first."]}
        )


def message_replay(*, message: MerchantWebhookMessage) -> MerchantWebhookMessage:
    """A new attempt of the same message (same ``webhook-id`` and body, newly signed), now, as a new
    round of the retry schedule. A message being sent right now is refused (409)."""
    _require_enabled(message.endpoint)
    now = timezone.now()
    replayed = MerchantWebhookMessage.objects.filter(
        pk=message.pk, status__in=(MessageStatus.SUCCEEDED, MessageStatus.FAILED, MessageStatus.PENDING)
    ).update(
        status=MessageStatus.PENDING,
        attempts=0,
        round_started_at=None,
        next_attempt_at=now,
        published_at=now,
        trigger="replay",
        last_error="",
    )
    if not replayed:
        raise WebhookConflict("This message is being sent right now; try again in a minute.")
    transaction.on_commit(lambda: publish_sends([message.pk]))
    message.refresh_from_db()
    return message


def endpoint_send_test(*, endpoint: MerchantWebhookEndpoint) -> MerchantWebhookMessage:
    """Store and send a ``webhook.test`` event to this endpoint, whatever it subscribed to."""
    _require_enabled(endpoint)
    now = timezone.now()
    data = {"endpoint_id": endpoint.pk, "message": "A test event from BlinkPOS: your endpoint is reachable."}
    message = MerchantWebhookMessage.objects.create(
        endpoint=endpoint,
        msg_id=new_msg_id(),
        event_type=WebhookEventType.TEST,
        body=event_body(WebhookEventType.TEST, data, at=now),
        created_at=now,
        next_attempt_at=now,
        published_at=now,
        trigger="test",
    )
    transaction.on_commit(lambda: publish_sends([message.pk]))
    return message
