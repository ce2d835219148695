"""One refund per refund form, however often it is submitted.

A double click on "Create refund", or a reload that posts the form again, would otherwise create a
second refund with a second funding invoice: no money moves until the merchant pays one, but the
extra refund holds part of the sale's refundable amount until it expires. Each rendered form carries a
random ``form_key`` (``RefundForm``); the create runs through the POS API's ``Idempotency-Key``
mechanism (``payments.services.idempotency``) under that key, so a repeat of the same form shows the
refund the first submit created. A submit still running is waited for (briefly); the same form sent
again with other values is refused, naming the form. A refused or failed create releases the key:
the corrected form goes through.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import QueryDict

from payments.models import Merchant, PaymentSplit, Terminal
from payments.services.idempotency import IdempotencyConflict, IdempotencyInProgress, idempotency_run
from payments.services.refunds import RefundRequest, refund_create

# How long a repeated submit waits for the first one (a funding invoice is one Blink round trip).
WAIT_SECONDS = 5.0
POLL_SECONDS = 0.2

RESUBMITTED_OTHER_VALUES = (
    "This form was already sent with other values, and its refund is listed on the sale. "
    "Reload the page to start another refund."
)
STILL_RUNNING = "This refund is still being created: it will be listed on the sale in a moment."


def new_form_key() -> str:
    return secrets.token_urlsafe(18)


def renew_stale_key(form: Form) -> None:
    """A form sent without a valid key (a page from before this field existed, a hand-made post) is
    shown again with a fresh one, so that sending it again works."""
    if form.is_bound and "form_key" in form.errors:
        data = QueryDict(mutable=True)
        data.update(form.data)
        data["form_key"] = new_form_key()
        form.data = data


def refund_submit(
    *,
    cleaned: dict[str, Any],
    merchant: Merchant,
    split: PaymentSplit,
    path: str,
    requested_by: str,
    terminal: Terminal | None = None,
) -> int:
    """The id of the refund this form created: created now, or by an earlier submit of the same form.

    Raises the create's own refusals (``USER_ERRORS``; the key is released, nothing written) and a
    ``ValidationError`` on ``form_key`` when the form was sent before with other values or its first
    submit is still running after ``WAIT_SECONDS``."""
    request = RefundRequest(
        amount_sats=cleaned.get("amount_sats"), tip_refunded=cleaned["tip_refunded"], reason=cleaned["reason"]
    )

    def create() -> dict[str, int]:
        refund = refund_create(
            merchant=merchant,
            payment_hash=split.payment_hash,
            request=request,
            requested_by=requested_by,
            terminal=terminal,
        )
        return {"id": refund.pk}

    body = {"amount_sats": request.amount_sats, "tip_refunded": request.tip_refunded, "reason": request.reason}
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            outcome = idempotency_run(
                merchant_id=merchant.pk,
                key=f"form:{cleaned['form_key']}",
                method="POST",
                path=path,
                request_body=body,
                status=201,
                call=create,
            )
        except IdempotencyConflict:
            raise ValidationError({"form_key": [RESUBMITTED_OTHER_VALUES]}) from None
        except IdempotencyInProgress:
            if time.monotonic() >= deadline:
                raise ValidationError({"form_key": [STILL_RUNNING]}) from None
            time.sleep(POLL_SECONDS)
            continue
        return int(outcome.body["id"])
