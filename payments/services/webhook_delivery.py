"""Sending merchants' webhooks: claim a stored message, sign it, POST it, log the attempt, schedule the
retry or give up (docs/WEBHOOKS.md).

- A message is claimed with one conditional UPDATE (``pending`` and due → ``sending`` until
  ``claimed_until``): two workers, or a worker and the sweep, never send the same attempt twice. A
  claim that lapses (the worker died mid-send) is swept back to ``pending``: webhooks are
  at-least-once, receivers dedupe on ``webhook-id``.
- Signed with the ``standardwebhooks`` library; during a secret rotation both secrets sign (two
  ``v1,`` signatures in ``webhook-signature``).
- Sent only through ``payments.net.safe_http`` (https, public addresses, pinned, no redirects, time
  and size caps). No call is made inside a transaction.
- Outcome: 2xx succeeded. 410 Gone: the receiver says the endpoint is gone, so it is disabled and
  nothing is retried. Any other answer (3xx, 4xx, 5xx) and any timeout, connection or refusal is
  retried on ``RETRY_DELAYS``, a last attempt coming ``FAILURE_WINDOW`` (3 days) after the first:
  a 4xx is usually a receiver being fixed (a wrong secret, a deploy), and retrying it costs the
  receiver little. An endpoint that failed every attempt for the whole window is disabled and its
  merchant told (dashboard notice, e-mail, an operator log line).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from standardwebhooks import Webhook

from blinkpos.logging import get_logger
from payments.crypto import decrypt_secret
from payments.models import (
    MerchantWebhookAttempt,
    MerchantWebhookEndpoint,
    MerchantWebhookMessage,
    MessageStatus,
)
from payments.models.merchant_webhooks import RESPONSE_BODY_MAX_CHARS
from payments.net.safe_http import SafeHttpError, SafeHttpPolicy, safe_post

log = get_logger(__name__)

M = MessageStatus

# After the n-th failed attempt of a round, wait RETRY_DELAYS[n-1]; after the last one, one final
# attempt FAILURE_WINDOW after the round's first (Svix's schedule, stretched to 3 days).
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
    timedelta(hours=20),
)
FAILURE_WINDOW = timedelta(days=3)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 2
# Longer than a send can take (the policy's whole-fetch timeout), so a live worker keeps its claim.
CLAIM_LEASE = timedelta(seconds=60)
USER_AGENT = "blinkpos-webhooks/1"


def policy_from_settings() -> SafeHttpPolicy:
    """Merchants' endpoints: https and public addresses only, except the exact ``host:port`` pairs
    in ``MERCHANT_WEBHOOKS_ALLOW_HTTP_HOSTS`` (tests and the local demo; production refuses any)."""
    hosts = getattr(settings, "MERCHANT_WEBHOOKS_ALLOW_HTTP_HOSTS", [])
    return SafeHttpPolicy(
        allow_http_hosts=frozenset(h.strip().lower() for h in hosts if h),
        timeout_seconds=float(getattr(settings, "MERCHANT_WEBHOOKS_TIMEOUT_SECONDS", 10.0)),
        max_bytes=64 * 1024,
    )


def signing_secrets(endpoint: MerchantWebhookEndpoint, *, now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during a rotation's overlap."""
    secrets = [decrypt_secret(endpoint.secret_encrypted)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires is not None and now < expires:
        secrets.append(decrypt_secret(endpoint.previous_secret_encrypted))
    return secrets


def signed_headers(*, msg_id: str, body: str, secrets: list[str], at: datetime) -> dict[str, str]:
    signatures = " ".join(Webhook(secret).sign(msg_id, at, body) for secret in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


@dataclass(frozen=True, kw_only=True)
class _Result:
    status_code: int | None
    body: str
    error: str
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _post(url: str, *, body: str, headers: Mapping[str, str]) -> _Result:
    started = time.monotonic()
    try:
        response = safe_post(url, policy=policy_from_settings(), content=body.encode(), headers=headers)
    except SafeHttpError as exc:
        return _Result(status_code=None, body="", error=exc.code, duration_ms=_ms(started))
    text = response.body[: RESPONSE_BODY_MAX_CHARS * 4].decode("utf-8", errors="replace")
    # PostgreSQL text cannot hold NUL; the log shows the first KB only.
    return _Result(
        status_code=response.status_code,
        body=text.replace("\x00", "")[:RESPONSE_BODY_MAX_CHARS],
        error="",
        duration_ms=_ms(started),
    )


def _ms(started: float) -> int:
    return max(0, int((time.monotonic() - started) * 1000))


def _claim(message_id: int, now: datetime) -> datetime | None:
    """Take the message for one attempt; the lease end is the claim's token (None: not ours to send)."""
    until = now + CLAIM_LEASE
    claimed = MerchantWebhookMessage.objects.filter(
        pk=message_id, status=M.PENDING, next_attempt_at__lte=now, endpoint__enabled=True
    ).update(status=M.SENDING, claimed_until=until, attempts=F("attempts") + 1)
    return until if claimed == 1 else None


def message_deliver(*, message_id: int) -> str:
    """One attempt of a due message. Returns ``not_due`` (not pending, not due, already claimed or its
    endpoint disabled), ``succeeded``, ``retry``, ``failed`` or ``lost_claim``.

    No transaction is open while the receiver is called; the outcome is written under the claim's
    token, so a worker whose lease was swept cannot overwrite a newer attempt's result."""
    now = timezone.now()
    token = _claim(message_id, now)
    if token is None:
        return "not_due"
    message = MerchantWebhookMessage.objects.select_related("endpoint").filter(pk=message_id).first()
    if message is None:
        return "not_due"  # its endpoint was removed (with its messages) since the claim
    endpoint = message.endpoint
    if message.round_started_at is None:
        MerchantWebhookMessage.objects.filter(pk=message_id).update(round_started_at=now)
        message.round_started_at = now
    headers = signed_headers(
        msg_id=message.msg_id, body=message.body, secrets=signing_secrets(endpoint, now=now), at=now
    )
    result = _post(endpoint.url, body=message.body, headers=headers)
    return _record(message, token, result, attempted_at=now)


def _next_attempt(message: MerchantWebhookMessage, now: datetime) -> datetime | None:
    """When to try again after ``message.attempts`` failed attempts in this round; None: give up."""
    n = message.attempts
    if n <= len(RETRY_DELAYS):
        return now + RETRY_DELAYS[n - 1]
    last = (message.round_started_at or now) + FAILURE_WINDOW
    return last if n == len(RETRY_DELAYS) + 1 and now < last else None


def _record(message: MerchantWebhookMessage, token: datetime, result: _Result, *, attempted_at: datetime) -> str:
    endpoint = message.endpoint
    now = timezone.now()
    with transaction.atomic():
        locked = (
            MerchantWebhookMessage.objects.select_for_update()
            .filter(pk=message.pk, status=M.SENDING, claimed_until=token)
            .first()
        )
        if locked is None:
            log.warning("merchant_webhook.lost_claim", message_id=message.pk)
            return "lost_claim"
        MerchantWebhookAttempt.objects.create(
            message=message,
            endpoint=endpoint,
            attempted_at=attempted_at,
            trigger=locked.trigger,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            response_body=result.body,
            error=result.error,
            succeeded=result.succeeded,
        )
        fields: dict[str, Any] = {
            "claimed_until": None,
            "last_status_code": result.status_code,
            "last_error": result.error,
        }
        if result.succeeded:
            outcome = "succeeded"
            fields.update(status=M.SUCCEEDED, delivered_at=now, next_attempt_at=None)
            MerchantWebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
        elif result.status_code == 410:
            outcome = "failed"
            fields.update(status=M.FAILED, next_attempt_at=None)
            _disable_locked(endpoint.pk, reason="the endpoint answered 410 Gone", now=now)
        else:
            retry_at = _next_attempt(locked, now)
            outcome = "retry" if retry_at is not None else "failed"
            fields.update(status=M.PENDING if retry_at else M.FAILED, next_attempt_at=retry_at)
            MerchantWebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(
                failing_since=attempted_at
            )
            failing_since = (
                MerchantWebhookEndpoint.objects.filter(pk=endpoint.pk).values_list("failing_since", flat=True).get()
            )
            if failing_since is not None and now - failing_since >= FAILURE_WINDOW:
                fields.update(status=M.FAILED, next_attempt_at=None)
                outcome = "failed"
                _disable_locked(endpoint.pk, reason="every delivery failed for 3 days", now=now)
        MerchantWebhookMessage.objects.filter(pk=message.pk).update(**fields)
    log.info(
        "merchant_webhook.attempt",
        message_id=message.pk,
        endpoint_id=endpoint.pk,
        event_type=message.event_type,
        status_code=result.status_code,
        error=result.error,
        outcome=outcome,
        duration_ms=result.duration_ms,
    )
    return outcome


def _disable_locked(endpoint_id: int, *, reason: str, now: datetime) -> None:
    """Disable the endpoint and close its open messages (inside the caller's transaction); tell the
    merchant after commit. A merchant re-enables it, and replays what they need, from the dashboard."""
    changed = MerchantWebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True).update(
        enabled=False, disabled_at=now, disabled_reason=reason[:200], notice_dismissed=False
    )
    if not changed:
        return
    MerchantWebhookMessage.objects.filter(endpoint_id=endpoint_id, status=M.PENDING).update(
        status=M.FAILED, next_attempt_at=None, last_error="endpoint disabled"
    )
    transaction.on_commit(lambda: _tell_merchant(endpoint_id, reason))


def _tell_merchant(endpoint_id: int, reason: str) -> None:
    endpoint = MerchantWebhookEndpoint.objects.select_related("merchant__user").get(pk=endpoint_id)
    # The operator's signal: an error-level structured event the alerting picks up (ids and the reason;
    # the URL stays out of logs, since merchants sometimes put tokens in it).
    log.error(
        "merchant_webhook.endpoint_disabled",
        endpoint_id=endpoint.pk,
        merchant_id=endpoint.merchant_id,
        reason=reason,
    )
    user = endpoint.merchant.user
    if user is None or not user.email:
        return
    try:
        send_mail(
            subject="BlinkPOS: a webhook endpoint was disabled",
            message=(
                f"Your webhook endpoint {endpoint.url} was disabled: {reason}.\n"
                "Fix the receiver, then enable it again in Settings → Webhooks; you can replay the "
                "deliveries it missed from its delivery log."
            ),
            from_email=None,
            recipient_list=[user.email],
        )
    except Exception as exc:  # a mail server down must not undo the disable; the dashboard still says it
        log.error("merchant_webhook.notice_mail_failed", endpoint_id=endpoint.pk, error=type(exc).__name__)


def messages_sweep(*, batch_size: int = 500) -> dict[str, int]:
    """The beat's pass: give lapsed claims back (their worker died mid-send) and publish a send for
    every due message whose task was lost or is not published yet. The row is the truth; the claim
    keeps duplicates harmless, and ``published_at`` keeps a backlog from being multiplied."""
    from payments.services.webhook_outbox import publish_sends

    now = timezone.now()
    reclaimed = MerchantWebhookMessage.objects.filter(status=M.SENDING, claimed_until__lt=now).update(
        status=M.PENDING, claimed_until=None, next_attempt_at=now, last_error="claim lapsed"
    )
    stale = now - timedelta(minutes=2)
    due = list(
        MerchantWebhookMessage.objects.filter(status=M.PENDING, next_attempt_at__lte=now, endpoint__enabled=True)
        .filter(Q(published_at__isnull=True) | Q(published_at__lt=stale) | Q(published_at__lt=F("next_attempt_at")))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    if due:
        MerchantWebhookMessage.objects.filter(pk__in=due).update(published_at=now)
        publish_sends(due)
    return {"reclaimed": reclaimed, "published": len(due)}


# Final messages (and their attempts, deleted first: the foreign key) past retention.
_OLD_FINAL_MESSAGES = "created_at < %s AND status IN ('succeeded', 'failed')"
_THEIR_ATTEMPTS = (
    "message_id IN (SELECT id FROM merchant_webhook_messages"
    " WHERE created_at < %s AND status IN ('succeeded', 'failed'))"
)


def messages_cleanup(*, cutoff: datetime, dry_run: bool = False, batch_size: int = 5000) -> int:
    """Delete merchants' webhook messages with a final status created before ``cutoff``, with their
    delivery log (``cleanup_old_data``, ``RETENTION_DAYS_WEBHOOK_DELIVERIES``). Pending ones stay.
    Returns the messages deleted (counted with ``dry_run``)."""
    from payments.services.table_rows import count_rows, delete_in_batches

    if dry_run:
        return count_rows("merchant_webhook_messages", _OLD_FINAL_MESSAGES, [cutoff])
    delete_in_batches("merchant_webhook_attempts", _THEIR_ATTEMPTS, [cutoff], batch_size)
    return delete_in_batches("merchant_webhook_messages", _OLD_FINAL_MESSAGES, [cutoff], batch_size)
