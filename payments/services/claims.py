"""Claiming a batch of rows for the reconciler (docs/ARCHITECTURE.md: money rule 5).

A batch is taken with ``SELECT ... FOR UPDATE SKIP LOCKED`` and a short lease written into
``next_attempt_at`` in the same transaction, so two reconcilers take disjoint rows. A pass that stops
before acting on part of its batch (time budget, soft time limit) releases those rows: their lease is
cleared, and claims order rows without a lease first, so the next pass resumes with them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.db.models import Q, QuerySet

from payments.models import PaymentLeg, PaymentSplit


def due(now: datetime) -> Q:
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)


def claim_ids(
    qs: QuerySet[PaymentSplit] | QuerySet[PaymentLeg],
    model: type[PaymentSplit] | type[PaymentLeg],
    lease: datetime,
    batch_size: int,
) -> list[int]:
    with transaction.atomic():
        ids = list(qs.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True)[:batch_size])
        if ids:
            model.objects.filter(pk__in=ids).update(next_attempt_at=lease)  # .update(): updated_at untouched
    return ids


def release(model: type[PaymentSplit] | type[PaymentLeg], ids: Iterable[int], lease: datetime) -> int:
    """Clear the lease of claimed rows a pass did not reach (only where it is still our lease)."""
    pending = list(ids)
    if not pending:
        return 0
    return int(model.objects.filter(pk__in=pending, next_attempt_at=lease).update(next_attempt_at=None))
