"""Tip recipient statistics: verified against the legs, repaired and rebuilt.

``tip_recipient_stats`` is updated by the forwarder in the same transaction as a tip leg's success.
This module is the safety net: it recomputes each recipient's figures from the succeeded tip legs
(the truth) and repairs any drift, one recipient per short transaction, under that recipient's stats
row lock. The forwarder's own update takes the same row lock, so a tip that succeeds while a refresh
runs is counted exactly once (either the refresh sees the committed leg, or the forwarder increments
after the refresh committed).

The figures live in PostgreSQL only. Their readers (the ``top_tip_recipients`` view behind the admin
overview) read them there, a handful of rows; a Redis copy would only add a second truth to invalidate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Min, Sum

from blinkpos.logging import get_logger
from payments.models import LegStatus, PaymentLeg, TipRecipientStats

log = get_logger(__name__)

STATS_FIELDS = (
    "total_tips_received",
    "total_tips_count",
    "average_tip_amount",
    "first_tip_received_at",
    "last_tip_received_at",
)
CENT = Decimal("0.01")


@dataclass(frozen=True, kw_only=True)
class Repair:
    username: str
    before: dict[str, Any]
    after: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"username": self.username, "before": self.before, "after": self.after}


@dataclass(kw_only=True)
class StatsRefreshResult:
    recipients: int = 0
    repairs: list[Repair] = field(default_factory=list)
    dry_run: bool = False

    @property
    def repaired(self) -> int:
        return len(self.repairs)


def _succeeded_tips() -> Any:
    return PaymentLeg.objects.filter(kind="tip", status=LegStatus.SUCCEEDED)


def expected_stats(username: str) -> dict[str, Any]:
    """The recipient's figures as the succeeded tip legs say they are."""
    agg = (
        _succeeded_tips()
        .filter(recipient_username=username)
        .aggregate(total=Sum("amount"), count=Count("id"), first=Min("succeeded_at"), last=Max("succeeded_at"))
    )
    total, count = int(agg["total"] or 0), int(agg["count"] or 0)
    return {
        "total_tips_received": total,
        "total_tips_count": count,
        "average_tip_amount": (Decimal(total) / count).quantize(CENT) if count else None,
        "first_tip_received_at": agg["first"],
        "last_tip_received_at": agg["last"],
    }


def _current(row: TipRecipientStats) -> dict[str, Any]:
    values = {name: getattr(row, name) for name in STATS_FIELDS}
    if values["average_tip_amount"] is not None:
        values["average_tip_amount"] = Decimal(values["average_tip_amount"]).quantize(CENT)
    return values


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, datetime):
            out[key] = value.isoformat()
        elif isinstance(value, Decimal):
            out[key] = str(value)
        else:
            out[key] = value
    return out


def _usernames() -> list[str]:
    from_legs = set(_succeeded_tips().values_list("recipient_username", flat=True).distinct())
    from_rows = set(TipRecipientStats.objects.values_list("recipient_username", flat=True))
    return sorted(from_legs | from_rows)


def recipient_stats_verify(*, username: str, repair: bool) -> Repair | None:
    """Compare one recipient's row with its legs; with ``repair``, fix it under the row lock.

    Returns the repair made (or, without ``repair``, the one that would be made), None when in line.
    """
    if not repair:
        row = TipRecipientStats.objects.filter(recipient_username=username).first()
        expected = expected_stats(username)
        before = _current(row) if row else None
        if before == expected or (before is None and expected["total_tips_count"] == 0):
            return None
        return Repair(username=username, before=_jsonable(before or {}), after=_jsonable(expected))
    with transaction.atomic():
        # Create the row if missing without racing a concurrent creator (the forwarder or another run).
        TipRecipientStats.objects.bulk_create([TipRecipientStats(recipient_username=username)], ignore_conflicts=True)
        row = TipRecipientStats.objects.select_for_update().get(recipient_username=username)
        expected = expected_stats(username)  # computed under the lock: see module docstring
        before = _current(row)
        if before == expected:
            return None
        for name, value in expected.items():
            setattr(row, name, value)
        row.save(update_fields=[*STATS_FIELDS, "updated_at"])
    return Repair(username=username, before=_jsonable(before), after=_jsonable(expected))


def tip_stats_refresh(*, repair: bool = True) -> StatsRefreshResult:
    """Verify every recipient (those with succeeded tip legs and those with a stats row) and, with
    ``repair``, fix drift. Safe to run twice or concurrently: a second run finds nothing to repair."""
    result = StatsRefreshResult(dry_run=not repair)
    for username in _usernames():
        result.recipients += 1
        fixed = recipient_stats_verify(username=username, repair=repair)
        if fixed is not None:
            result.repairs.append(fixed)
            log.warning(
                "tip_stats.drift_repaired" if repair else "tip_stats.drift_found",
                username=username,
                before_total=fixed.before.get("total_tips_received"),
                after_total=fixed.after.get("total_tips_received"),
                before_count=fixed.before.get("total_tips_count"),
                after_count=fixed.after.get("total_tips_count"),
            )
    log.info("tip_stats.refreshed", recipients=result.recipients, repaired=result.repaired, dry_run=result.dry_run)
    return result


def tip_stats_rebuild() -> StatsRefreshResult:
    """Rebuild every row from the legs (the seed's ``update_tip_recipient_stats()``). Row by row under
    lock, so it is the same operation as a repair of every recipient."""
    return tip_stats_refresh(repair=True)
