"""The monthly partitions of ``payment_events`` (layout: migration 0014 and payments/models/events.py).

- ``event_partitions_ensure``: the months from this one to ``EVENT_PARTITIONS_AHEAD_MONTHS`` ahead
  exist for both retention classes (daily beat job; idempotent: an existing month is left alone).
- ``event_partitions_drop_expired``: retention of non-money events. An 'ops' month whose last day is
  older than the cutoff is detached and dropped in one short transaction, instead of deleting its
  rows; non-money rows in the 'ops' default partition are deleted in batches. 'money' partitions are
  never touched.

A month can only be created while the default partition holds no row of that month. Creating months
ahead keeps it so; if the job did not run for months, the creation fails for that month, is logged
and is left to an operator (docs/SCALING.md, partitions) while the rows stay in the default partition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from blinkpos.logging import get_logger
from payments.services.table_rows import count_rows, delete_in_batches

log = get_logger(__name__)

CLASS_PARENTS = {"money": "payment_events_money", "ops": "payment_events_ops"}
OPS_DEFAULT = "payment_events_ops_default"
_MONTH_NAME = re.compile(r"^payment_events_(money|ops)_y(\d{4})m(\d{2})$")


def month_start(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def add_months(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def partition_name(retention_class: str, month: date) -> str:
    return f"payment_events_{retention_class}_y{month.year:04d}m{month.month:02d}"


def monthly_partitions(retention_class: str) -> dict[date, str]:
    """The month partitions of one class, by their first day."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [CLASS_PARENTS[retention_class]],
        )
        names = [row[0] for row in cursor.fetchall()]
    months = {}
    for name in names:
        match = _MONTH_NAME.match(name)
        if match and match.group(1) == retention_class:
            months[date(int(match.group(2)), int(match.group(3)), 1)] = name
    return months


@dataclass(kw_only=True)
class EnsureResult:
    created: int = 0
    failed: list[str] = field(default_factory=list)  # months that could not be created (see module doc)


def event_partitions_ensure(*, now: datetime | None = None, ahead: int | None = None) -> EnsureResult:
    """Create this month's and the next ``ahead`` months' partitions that are missing."""
    now = now or timezone.now()
    ahead = settings.EVENT_PARTITIONS_AHEAD_MONTHS if ahead is None else ahead
    first = month_start(now.astimezone(UTC))
    result = EnsureResult()
    for offset in range(ahead + 1):
        month = add_months(first, offset)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT payment_events_create_month(%s)", [month])
                result.created += int(cursor.fetchone()[0])
        except DatabaseError as exc:
            # The default partition already holds rows of this month: moving them is an operator's call.
            log.error("events.partition_create_failed", month=month.isoformat(), error=type(exc).__name__)
            result.failed.append(month.isoformat())
    log.info("events.partitions_ensured", created=result.created, failed=len(result.failed))
    return result


@dataclass(kw_only=True)
class DropResult:
    partitions_dropped: list[str] = field(default_factory=list)
    rows_dropped: int = 0  # rows of the dropped partitions + rows deleted from the 'ops' default


def event_partitions_drop_expired(*, cutoff: datetime, dry_run: bool = False, batch_size: int = 5000) -> DropResult:
    """Drop every 'ops' month that ended before ``cutoff`` and delete older 'ops' rows of the default
    partition. ``dry_run`` only counts."""
    result = DropResult()
    for month, name in sorted(monthly_partitions("ops").items()):
        if datetime.combine(add_months(month, 1), datetime.min.time(), tzinfo=UTC) > cutoff:
            continue
        rows = count_rows(name)
        if not dry_run:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f'ALTER TABLE payment_events_ops DETACH PARTITION "{name}"')
                cursor.execute(f'DROP TABLE "{name}"')
        result.partitions_dropped.append(name)
        result.rows_dropped += rows
    result.rows_dropped += _ops_default_cleanup(cutoff=cutoff, dry_run=dry_run, batch_size=batch_size)
    log.info(
        "events.partitions_dropped",
        dry_run=dry_run,
        partitions=len(result.partitions_dropped),
        rows=result.rows_dropped,
        cutoff=cutoff.isoformat(),
    )
    return result


def _ops_default_cleanup(*, cutoff: datetime, dry_run: bool, batch_size: int) -> int:
    where = '"timestamp" < %s'
    if dry_run:
        return count_rows(OPS_DEFAULT, where, [cutoff])
    return delete_in_batches(OPS_DEFAULT, where, [cutoff], batch_size)
