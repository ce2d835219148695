"""The database page's reads: PostgreSQL's statistics views and catalogue only, in a read-only
transaction (``console.readonly``), so nothing on the page can write.

A row that names a payment hash (a query's text, an open transaction's last statement) is linked to its
split by the view; old pending splits are listed beside the sessions, since an invoice nobody paid and a
forward stuck in ``processing`` are what an operator usually comes here looking for.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from blinkpos import health
from console.masking import mask_text
from console.readonly import read_only_rows
from payments.models import PaymentSplit, SplitStatus

QUERY_PREVIEW = 400
STUCK_AFTER = timedelta(minutes=30)
_HASH = re.compile(r"\b[0-9a-f]{64}\b")

CONNECTIONS_BY_STATE = """
SELECT COALESCE(state, 'background') AS state, COUNT(*) AS connections,
       MAX(EXTRACT(EPOCH FROM (now() - state_change)))::bigint AS longest_in_state_seconds
  FROM pg_stat_activity
 WHERE datname = current_database()
 GROUP BY 1 ORDER BY 2 DESC
"""

IDLE_IN_TRANSACTION = """
SELECT pid, usename AS user, application_name, client_addr::text AS client,
       EXTRACT(EPOCH FROM (now() - xact_start))::bigint AS transaction_seconds,
       EXTRACT(EPOCH FROM (now() - state_change))::bigint AS idle_seconds,
       left(query, 2000) AS last_query
  FROM pg_stat_activity
 WHERE datname = current_database() AND state IN ('idle in transaction', 'idle in transaction (aborted)')
 ORDER BY xact_start NULLS LAST
 LIMIT 50
"""

LONGEST_RUNNING = """
SELECT pid, usename AS user, application_name, state, wait_event_type, wait_event,
       EXTRACT(EPOCH FROM (now() - query_start))::bigint AS running_seconds,
       left(query, 2000) AS query
  FROM pg_stat_activity
 WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()
 ORDER BY query_start NULLS LAST
 LIMIT 20
"""

LOCKS_WAITED_ON = """
SELECT waiting.pid AS waiting_pid, waiting_activity.usename AS waiting_user,
       waiting.locktype, waiting.mode, waiting.relation::regclass::text AS relation,
       EXTRACT(EPOCH FROM (now() - waiting_activity.query_start))::bigint AS waiting_seconds,
       left(waiting_activity.query, 2000) AS waiting_query,
       pg_blocking_pids(waiting.pid) AS blocked_by
  FROM pg_locks waiting
  JOIN pg_stat_activity waiting_activity ON waiting_activity.pid = waiting.pid
 WHERE NOT waiting.granted
 ORDER BY waiting_activity.query_start NULLS LAST
 LIMIT 50
"""

TABLE_SIZES = """
SELECT c.relname AS table, c.reltuples::bigint AS row_estimate,
       s.n_live_tup AS live_tuples, s.n_dead_tup AS dead_tuples,
       pg_total_relation_size(c.oid) AS total_bytes,
       pg_size_pretty(pg_total_relation_size(c.oid)) AS total_size,
       pg_size_pretty(pg_relation_size(c.oid)) AS table_size,
       pg_size_pretty(pg_indexes_size(c.oid)) AS index_size,
       s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
       s.autovacuum_count, s.autoanalyze_count
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
 WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public'
 ORDER BY pg_total_relation_size(c.oid) DESC
 LIMIT 60
"""

INDEX_SIZES = """
SELECT s.relname AS table, s.indexrelname AS index, s.idx_scan AS scans,
       pg_relation_size(s.indexrelid) AS bytes, pg_size_pretty(pg_relation_size(s.indexrelid)) AS size
  FROM pg_stat_user_indexes s
 ORDER BY pg_relation_size(s.indexrelid) DESC
 LIMIT 40
"""

STATEMENTS_AVAILABLE = """
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements') AS installed
"""

SLOWEST_STATEMENTS = """
SELECT calls, round(total_exec_time::numeric, 1) AS total_ms, round(mean_exec_time::numeric, 2) AS mean_ms,
       rows, left(query, 2000) AS query
  FROM pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
 ORDER BY total_exec_time DESC
 LIMIT 15
"""


def _with_links(rows: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
    """Mask the text of ``field`` and attach the splits it names (``split_links``: [(hash, id)])."""
    hashes = {h for row in rows for h in _HASH.findall(row.get(field) or "")}
    ids = dict(PaymentSplit.objects.filter(payment_hash__in=hashes).values_list("payment_hash", "id")) if hashes else {}
    for row in rows:
        text = row.get(field) or ""
        row[field] = mask_text(text)[:QUERY_PREVIEW]
        row["split_links"] = [(h, ids[h]) for h in dict.fromkeys(_HASH.findall(text)) if h in ids]
    return rows


def statements() -> dict[str, Any]:
    """The slowest statements by total time, or why they cannot be shown."""
    installed = read_only_rows(STATEMENTS_AVAILABLE)[0]["installed"]
    if not installed:
        return {"available": False, "reason": "the pg_stat_statements extension is not installed in this database"}
    try:
        rows = read_only_rows(SLOWEST_STATEMENTS)
    except Exception as exc:  # installed but not preloaded: PostgreSQL refuses to read it
        return {"available": False, "reason": f"pg_stat_statements cannot be read ({str(exc).splitlines()[0]})"}
    return {"available": True, "rows": _with_links(rows, "query")}


def stuck_splits(*, older_than: timedelta = STUCK_AFTER, limit: int = 25) -> list[PaymentSplit]:
    """Splits still pending, paid or processing after ``older_than``: the likely stuck payments."""
    cutoff = timezone.now() - older_than
    active = [SplitStatus.PENDING, SplitStatus.PAID, SplitStatus.PROCESSING]
    return list(
        PaymentSplit.objects.filter(status__in=active, created_at__lt=cutoff)
        .only("id", "payment_hash", "status", "total_amount", "created_at", "username")
        .order_by("created_at")[:limit]
    )


def overview() -> dict[str, Any]:
    return {
        "database": connection.settings_dict.get("NAME"),
        "server_version": read_only_rows("SELECT current_setting('server_version') AS v")[0]["v"],
        "by_state": read_only_rows(CONNECTIONS_BY_STATE),
        "idle_in_transaction": _with_links(read_only_rows(IDLE_IN_TRANSACTION), "last_query"),
        "longest": _with_links(read_only_rows(LONGEST_RUNNING), "query"),
        "locks": _with_links(read_only_rows(LOCKS_WAITED_ON), "waiting_query"),
        "tables": read_only_rows(TABLE_SIZES),
        "indexes": read_only_rows(INDEX_SIZES),
        "pool": health.pool_stats(),
        "statements": statements(),
        "stuck_splits": stuck_splits(),
        "stuck_after_minutes": int(STUCK_AFTER.total_seconds() // 60),
    }
