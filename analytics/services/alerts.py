"""Alerts: the collected figures (``analytics.services.metrics.metrics_collect``) against the thresholds
in ``settings.ALERT_THRESHOLDS``, plus the conditions that always need an operator's look (payouts in the
payout queue, Blink's account limits reached, books that differ from Blink's). Evaluated by every minute's
snapshot and by ``/metrics``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

from payments.models import SplitStatus

if TYPE_CHECKING:
    from analytics.services.metrics import Collected
    from payments.provider_limits import LimitStatus

MIN_LOOKUPS_FOR_RATIO_ALERT = 20


@dataclass(frozen=True, kw_only=True)
class Alert:
    name: str
    message: str
    value: float
    threshold: float


def alerts_evaluate(collected: Collected) -> list[Alert]:
    """The seed documents' thresholds (settings.ALERT_THRESHOLDS)."""
    limits = settings.ALERT_THRESHOLDS
    alerts: list[Alert] = []
    ratio_min = float(limits["hotstore_hit_ratio_min"])
    if (
        collected.hit_ratio is not None
        and collected.lookups_in_window >= MIN_LOOKUPS_FOR_RATIO_ALERT
        and collected.hit_ratio < ratio_min
    ):
        alerts.append(
            Alert(
                name="hotstore_hit_ratio_low",
                message=f"Hot-store hit ratio {collected.hit_ratio:.0%} is below {ratio_min:.0%}",
                value=collected.hit_ratio,
                threshold=ratio_min,
            )
        )
    p95_max = float(limits["latency_p95_ms_max"])
    for op, values in collected.latency.items():
        p95 = values.get("p95")
        if p95 is not None and float(p95) > p95_max:
            alerts.append(
                Alert(
                    name=f"latency_{op}_p95_high",
                    message=f"{op} p95 latency {float(p95):.0f} ms is above {p95_max:.0f} ms",
                    value=float(p95),
                    threshold=p95_max,
                )
            )
    pool_max = float(limits["pg_pool_usage_max"])
    pool_ratio = collected.pool.get("usage_ratio")
    if isinstance(pool_ratio, int | float) and pool_ratio > pool_max:
        alerts.append(
            Alert(
                name="pg_pool_usage_high",
                message=f"PostgreSQL pool usage {pool_ratio:.0%} is above {pool_max:.0%}",
                value=float(pool_ratio),
                threshold=pool_max,
            )
        )
    mem_max = float(limits["redis_memory_usage_max"])
    mem_ratio = collected.redis_memory.get("usage_ratio")
    if isinstance(mem_ratio, int | float) and mem_ratio > mem_max:
        alerts.append(
            Alert(
                name="redis_memory_high",
                message=f"Redis memory usage {mem_ratio:.0%} of maxmemory is above {mem_max:.0%}",
                value=float(mem_ratio),
                threshold=mem_max,
            )
        )
    # Forwarding gave up on these (a leg past its retry or lookup cap, or one a retry cannot fix): the
    # admin's payout queue shows why. Not in the seed thresholds, so it defaults to "any at all".
    need_operator = int(collected.payments_open.get(SplitStatus.FAILED, 0))
    need_operator_max = float(limits.get("payouts_need_operator_max", 0))
    if need_operator > need_operator_max:
        alerts.append(
            Alert(
                name="payouts_need_operator",
                message=f"{need_operator} payment(s) need an operator in the payout queue",
                value=float(need_operator),
                threshold=need_operator_max,
            )
        )
    alerts += books_alerts(collected.books)
    return alerts + _limit_alerts(collected.provider_limits)


def _blocked(status: LimitStatus) -> str:
    return ", ".join(f"{name} ({seconds} s)" for name, seconds in sorted(status.invoice_blocks.items()))


def _limited(status: LimitStatus) -> str:
    return ", ".join(f"{name} ({n})" for name, n in sorted(status.limited_legs_by_account.items()))


def _limit_alerts(status: LimitStatus | None) -> list[Alert]:
    """Blink's account limits reached (payments/provider_limits.py): always worth an operator's look, and
    the fix is Blink's (raise the platform account's limits), so any occurrence alerts."""
    if status is None:
        return []
    alerts: list[Alert] = []
    if status.invoice_block_seconds:
        alerts.append(
            Alert(
                name="provider_invoice_rate_limited",
                message=f"Blink refuses new invoices on platform account(s) {_blocked(status)} for up to "
                f"{status.invoice_block_seconds} s more (invoice rate limit): their terminals get 429; ask Blink "
                "to raise the limit or move merchants to another account",
                value=float(status.invoice_block_seconds),
                threshold=0.0,
            )
        )
    if status.legs_waiting_for_limit:
        alerts.append(
            Alert(
                name="forwards_waiting_for_daily_limit",
                message=f"{status.legs_waiting_for_limit} payout(s) wait for the daily intraledger limit of platform "
                f"account(s) {_limited(status)} (TRANSACTION_RESTRICTED); they are retried; ask Blink to raise the "
                "limit or move merchants to another account",
                value=float(status.legs_waiting_for_limit),
                threshold=0.0,
            )
        )
    if status.legs_given_up_on_limit:
        alerts.append(
            Alert(
                name="forwards_stopped_by_daily_limit",
                message=f"{status.legs_given_up_on_limit} payout(s) stopped retrying after the daily intraledger "
                "limit; retry them from the payout queue once Blink has raised it",
                value=float(status.legs_given_up_on_limit),
                threshold=0.0,
            )
        )
    return alerts


def books_alerts(books: dict[str, Any]) -> list[Alert]:
    """The books reconciliation: any difference between our books and Blink's, or a run that failed.
    Thresholds are zero by design: a books difference is always worth an operator's look."""
    alerts: list[Alert] = []
    differences = books.get("differences")
    if isinstance(differences, int) and differences > 0:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(books.get("by_kind", {}).items()))
        alerts.append(
            Alert(
                name="books_differ",
                message=f"Books run {books.get('run_id')}: {differences} difference(s) with Blink ({kinds})",
                value=float(differences),
                threshold=0.0,
            )
        )
    if books.get("latest_run_failed"):
        alerts.append(
            Alert(
                name="books_run_failed",
                message=f"Books run {books.get('latest_run_id')} could not finish; see its error in the admin",
                value=1.0,
                threshold=0.0,
            )
        )
    return alerts
