"""Platform-wide payment statistics for operators, read from the PostgreSQL views
(``payment_statistics``, ``active_payments``, ``top_tip_recipients``): today, the rolling 24 hours,
a daily series, open payments and the top tip recipients. Days here are UTC days, as in the views.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db import connections
from django.db.models import Count, Q, Sum
from django.utils import timezone

from blinkpos.db_router import read_alias
from payments.models import PaymentSplit, SplitStatus

CHART_DAYS = 14


def _rows(sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    with connections[read_alias()].cursor() as cursor:
        cursor.execute(sql, params or [])
        names = [c.name for c in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def statistics_today() -> dict[str, Any]:
    """Today's row of the ``payment_statistics`` view (UTC day), zeros when there were no payments."""
    rows = _rows("SELECT * FROM payment_statistics WHERE date = %s", [timezone.now().date()])
    return rows[0] if rows else {"total_payments": 0, "completed_payments": 0, "total_volume": 0, "total_tips": 0}


def statistics_24h() -> dict[str, Any]:
    """The same measures as ``payment_statistics`` over a rolling 24 hours."""
    since = timezone.now() - timedelta(hours=24)
    done = Q(status=SplitStatus.COMPLETED)
    return PaymentSplit.objects.filter(created_at__gte=since).aggregate(
        total_payments=Count("id"),
        completed_payments=Count("id", filter=done),
        pending_payments=Count("id", filter=Q(status=SplitStatus.PENDING)),
        failed_payments=Count("id", filter=Q(status=SplitStatus.FAILED)),
        total_volume=Sum("total_amount", filter=done, default=0),
        total_tips=Sum("tip_amount", filter=done, default=0),
    )


def daily_series(days: int = CHART_DAYS) -> list[dict[str, Any]]:
    """One row per UTC day for the last ``days`` days (missing days filled with zeros)."""
    today = timezone.now().date()
    start = today - timedelta(days=days - 1)
    found = {
        r["date"]: r
        for r in _rows("SELECT date, total_volume, total_tips FROM payment_statistics WHERE date >= %s", [start])
    }
    out = []
    for i in range(days):
        day: date = start + timedelta(days=i)
        row = found.get(day, {})
        out.append({"date": day, "volume": int(row.get("total_volume") or 0), "tips": int(row.get("total_tips") or 0)})
    return out


def active_payments(limit: int = 20) -> dict[str, Any]:
    rows = _rows("SELECT * FROM active_payments ORDER BY created_at DESC LIMIT %s", [limit])
    count = _rows("SELECT COUNT(*) AS n FROM active_payments")[0]["n"]
    return {"rows": rows, "count": count}


def top_tip_recipients(limit: int = 10) -> list[dict[str, Any]]:
    return _rows("SELECT * FROM top_tip_recipients LIMIT %s", [limit])
