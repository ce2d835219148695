"""Receipt links: finding a paid sale by its receipt token, and giving a token to a sale that has none.

Tokens are ``secrets.token_urlsafe(32)`` (256 bits), made when the sale is created
(``payments.services.invoices``). Rows written by raw SQL (the bench, legacy imports) have none; they
get one the first time the merchant asks for their receipt.
"""

from __future__ import annotations

import re
import secrets

from payments.models import PaymentSplit
from payments.receipts.document import RECEIPT_STATUSES

# token_urlsafe(32) gives 43 characters; anything else cannot be a token and never reaches the database.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")


def receipt_split_get(*, token: str) -> PaymentSplit | None:
    """The paid sale behind ``token``, with its merchant; None for an unknown token or an unpaid sale
    (the two answer alike, so a link says nothing about a sale that has no receipt)."""
    if not _TOKEN.fullmatch(token):
        return None
    return (
        PaymentSplit.objects.select_related("merchant").filter(receipt_token=token, status__in=RECEIPT_STATUSES).first()
    )


def receipt_token_ensure(*, split: PaymentSplit) -> str:
    """The split's receipt token, creating it when the row has none. Safe concurrently: the conditional
    UPDATE lets one writer win and everyone reads the winner's token back."""
    if split.receipt_token:
        return split.receipt_token
    PaymentSplit.objects.filter(pk=split.pk, receipt_token__isnull=True).update(receipt_token=secrets.token_urlsafe(32))
    token = PaymentSplit.objects.filter(pk=split.pk).values_list("receipt_token", flat=True).get()
    assert token is not None
    split.receipt_token = token
    return token
