"""Blink's Svix webhooks (DESIGN §5 rule 4, API.md §7).

``webhook_receive`` verifies the Svix signature over the RAW body with each configured secret (several
during a rotation); svix itself refuses timestamps more than 5 minutes off. Then, in ONE transaction:
the delivery row (``svix_id`` unique: a redelivery is acknowledged without work) and, for
``receive.lightning`` with status ``success``, ``payment_detected`` (idempotent on the payment hash).
Forwarding is enqueued after commit; the request does nothing slower than that.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from svix.webhooks import Webhook, WebhookVerificationError

from blinkpos.logging import get_logger
from payments.models import PaymentSplit, WebhookDelivery
from payments.services.detection import payment_detected

log = get_logger(__name__)

SVIX_HEADERS = ("svix-id", "svix-timestamp", "svix-signature")
_HASH = re.compile(r"^[0-9a-f]{64}$")


class WebhookRejected(Exception):
    """The signature did not verify (or no secret is configured). ``reason`` is for the log only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class WebhookOutcome:
    svix_id: str
    event_type: str
    outcome: str
    duplicate: bool = False


def signature_verify(*, body: bytes, headers: Mapping[str, str]) -> None:
    """Raise ``WebhookRejected`` unless one configured secret verifies ``body`` with ``headers``."""
    svix_headers = {name: headers.get(name, "") for name in SVIX_HEADERS}
    if not all(svix_headers.values()):
        raise WebhookRejected("missing svix headers")
    configured = list(getattr(settings, "BLINK_WEBHOOK_SECRETS", []) or [])
    if not configured:
        log.error("webhook.no_secret_configured")
        raise WebhookRejected("no webhook secret configured")
    last = "no secret verified"
    for secret in configured:
        try:
            Webhook(secret).verify(body, svix_headers)
            return
        except WebhookVerificationError as exc:
            last = str(exc)
        except Exception as exc:  # a malformed secret in the settings: try the others, say which kind
            last = f"unusable secret ({type(exc).__name__})"
    raise WebhookRejected(last)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value.strip())
    return None


def _payment_hash(transaction_body: Mapping[str, Any]) -> str:
    initiation = transaction_body.get("initiationVia")
    candidate = initiation.get("paymentHash") if isinstance(initiation, Mapping) else None
    if isinstance(candidate, str) and _HASH.match(candidate.lower()):
        return candidate.lower()
    # Fallback: our invoices carry the split's externalId.
    external_id = transaction_body.get("externalId")
    if isinstance(external_id, str) and external_id:
        found = PaymentSplit.objects.filter(external_id=external_id).values_list("payment_hash", flat=True).first()
        if found:
            return found
    return ""


def webhook_receive(*, body: bytes, headers: Mapping[str, str], source_ip: str | None) -> WebhookOutcome:
    """Verify, deduplicate and act on one delivery. Raises ``WebhookRejected`` (answer 401) or
    ``ValueError`` for a correctly signed body that is not a JSON object (answer 400)."""
    signature_verify(body=body, headers=headers)
    svix_id = headers["svix-id"][:100]
    payload = json.loads(body)  # ValueError for junk; signed junk is still junk
    if not isinstance(payload, dict):
        raise ValueError("webhook body is not a JSON object")
    event_type = str(payload.get("eventType") or "")[:50]
    tx = payload.get("transaction") if isinstance(payload.get("transaction"), Mapping) else {}
    assert isinstance(tx, Mapping)
    payment_hash = _payment_hash(tx) if event_type == "receive.lightning" else ""
    platform_wallet = getattr(settings, "BLINK_WALLET_ID", "")
    with transaction.atomic():
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    svix_id=svix_id,
                    event_type=event_type,
                    payment_hash=payment_hash,
                    source_ip=source_ip,
                    outcome="received",
                )
        except IntegrityError:
            log.info("webhook.duplicate", svix_id=svix_id, event_type=event_type)
            return WebhookOutcome(svix_id=svix_id, event_type=event_type, outcome="duplicate", duplicate=True)
        if event_type != "receive.lightning":
            outcome = "ignored"  # our own send.* events, other receive types, future types
        elif platform_wallet and payload.get("walletId") not in (None, platform_wallet):
            outcome = "ignored_other_wallet"
        elif tx.get("status") != "success":
            outcome = "ignored_not_success"  # pending receives settle later with their own event
        elif not payment_hash:
            outcome = "ignored_no_hash"
            log.error("webhook.receive_without_hash", svix_id=svix_id)
        else:
            settlement = tx.get("settlementVia")
            preimage = settlement.get("revealedPreImage") if isinstance(settlement, Mapping) else None
            outcome = payment_detected(
                payment_hash=payment_hash,
                amount_sats=_as_int(tx.get("settlementAmount")),
                source="webhook",
                preimage=preimage if isinstance(preimage, str) and preimage else None,
            )
        delivery.outcome = outcome[:30]
        delivery.save(update_fields=["outcome"])
    log.info("webhook.received", svix_id=svix_id, event_type=event_type, payment_hash=payment_hash, outcome=outcome)
    return WebhookOutcome(svix_id=svix_id, event_type=event_type, outcome=outcome)
