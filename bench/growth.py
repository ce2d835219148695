"""Historical data for the growth scenario: set-based SQL (INSERT ... SELECT FROM generate_series),
never an ORM loop, generated once into a *history template* database and cloned for each run.

Why a template: 5 000 000 splits take minutes to generate (see docs/PERFORMANCE.md), far more than
the whole default bench may take. ``ensure_template`` builds ``<bench db>_hist_<rows>`` the first
time (migrate, generate, rebuild indexes, VACUUM (FREEZE, ANALYZE), CHECKPOINT) and stamps it with
``bench_history`` (rows, generator version, seconds it took); later runs only check the stamp,
apply any new migration to it, and ``clone`` it with ``CREATE DATABASE ... TEMPLATE`` (a file copy).
Both growth points (10 000 and 5 000 000) go through exactly the same path, so they are comparable.

Shape of ``rows`` splits: completed (90 %) or expired (10 %), evenly spaced over the 365 days ending
two hours ago and inserted oldest first (so the heap is in created_at order, like a real history),
spread over 200 synthetic merchants plus the *history merchant* ``histcafe`` (1 % of rows, all of
them completed), whose splits carry one tip leg each for one of its three staff (1 % of those legs
``resolved``, the rest ``succeeded``) so the per-merchant dashboard reads work on real volume; 1 000
tip recipients in ``tip_recipient_stats``. Only the history merchant's splits have legs.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench.procs import log
from bench.stack import PY, admin_url, pg_dsn
from blinkpos.processes import ROOT

# Bump when the generated shape changes: templates stamped with another version are rebuilt.
GENERATOR_VERSION = 2
BATCH = 500_000
HISTORY_MERCHANT = "histcafe"
SYNTHETIC_MERCHANTS = 200
GROWN_TABLES = ("payment_splits", "payment_legs", "payment_events", "tip_recipient_stats")

# One INSERT ... SELECT per batch. Per-row work is kept to what makes the rows realistic: one md5
# (doubled to the 64 hex characters of a payment hash), one timestamp, a few mod() choices.
SPLITS_SQL = """
INSERT INTO payment_splits (
    payment_hash, external_id, user_wallet_id, user_api_key_encrypted, username, total_amount, base_amount,
    tip_amount, tip_percent, invoice_satoshis, received_amount, display_currency, tip_recipient, status,
    created_at, paid_at, processed_at, expires_at, user_payment_hash, tip_payment_hash, error_message, memo,
    payment_request, metadata, merchant_id)
SELECT h || h, 'hist-' || g, 'wallet-hist', '', 'histuser', 1150 + a, 1000 + a, 150, 15.00, 1150 + a,
       CASE WHEN done THEN 1150 + a END, 'USD', 'recipient' || mod(g, 1000),
       CASE WHEN done THEN 'completed' ELSE 'expired' END,
       ts, CASE WHEN done THEN ts + interval '20 seconds' END, CASE WHEN done THEN ts + interval '25 seconds' END,
       ts + interval '15 minutes', '', '', '', 'history', '', '{}'::jsonb,
       CASE WHEN mod(g, 100) = 1 THEN %(history_merchant)s ELSE %(first_synth)s + mod(g, 200) END
  FROM (SELECT g, md5(g::text) AS h, mod(g, 500) AS a, mod(g, 10) <> 0 AS done,
               %(end)s::timestamptz - (%(rows)s - g) * %(step)s::interval AS ts
          FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS g) AS src
"""

LEGS_SQL = """
INSERT INTO payment_legs (
    external_id, kind, recipient_username, recipient_wallet_id, amount, weight_bps, status, payment_request,
    payment_hash, attempts, last_error_code, last_error, fee_sats, preimage, created_at, updated_at, sent_at,
    succeeded_at, resolution_note, split_id, staff_id)
SELECT 'hleg-' || s.id, 'tip', st.blink_username, st.wallet_id, s.tip_amount, 10000,
       CASE WHEN mod(s.id / 100, 100) = 0 THEN 'resolved' ELSE 'succeeded' END, '', NULL, 1, '', '', 0, '',
       s.created_at, s.processed_at, s.processed_at, s.processed_at, '', s.id, st.id
  FROM payment_splits s
  JOIN (SELECT id, blink_username, wallet_id, row_number() OVER (ORDER BY id) - 1 AS k
          FROM staff_members WHERE merchant_id = %(history_merchant)s) AS st ON st.k = mod(s.id, 3)
 WHERE s.merchant_id = %(history_merchant)s AND s.status = 'completed'
"""

STATS_SQL = """
INSERT INTO tip_recipient_stats (recipient_username, total_tips_received, total_tips_count, average_tip_amount,
    first_tip_received_at, last_tip_received_at, created_at, updated_at)
SELECT 'recipient' || r, 150 * (%(rows)s / 1000), %(rows)s / 1000, 150, now() - interval '365 days', now(), now(), now()
  FROM generate_series(0, 999) AS r
"""


@dataclass(frozen=True)
class Template:
    name: str
    url: str
    rows: int
    generation_seconds: float  # what building it cost (when it was built, maybe in an earlier run)
    built_now: bool
    prepare_seconds: float  # what ensure_template cost in this run (check, migrate, or the full build)


def database_url(base_url: str, name: str) -> str:
    return urlunsplit(urlsplit(base_url)._replace(path=f"/{name}"))


def _db_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def template_url(bench_db_url: str, rows: int) -> str:
    return database_url(bench_db_url, f"{_db_name(bench_db_url)}_hist_{rows}")


def point_url(bench_db_url: str, rows: int) -> str:
    """The database the growth point of ``rows`` is measured in (a fresh clone of its template per run
    of the bench; both points' clones exist together because their runs alternate)."""
    return database_url(bench_db_url, f"{_db_name(bench_db_url)}_growth_{rows}")


def _admin(db_url: str) -> psycopg.Connection:
    return psycopg.connect(pg_dsn(admin_url(db_url)), autocommit=True)


def drop_database(db_url: str) -> None:
    with _admin(db_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{_db_name(db_url)}" WITH (FORCE)')


def _exists(db_url: str) -> bool:
    with _admin(db_url) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [_db_name(db_url)]).fetchone() is not None


def _migrate(db_url: str, env: dict[str, str]) -> None:
    run_env = {**env, "DATABASE_URL": db_url}
    subprocess.run(
        [PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=run_env, check=True, timeout=1800
    )


def _migrations(db_url: str) -> set[tuple[str, str]]:
    with psycopg.connect(pg_dsn(db_url)) as conn:
        return {(a, n) for a, n in conn.execute("SELECT app, name FROM django_migrations").fetchall()}


def _stamp(db_url: str) -> tuple[int, int, float] | None:
    """(rows, generator version, generation seconds) of a finished template, None when unfinished."""
    try:
        with psycopg.connect(pg_dsn(db_url)) as conn:
            row = conn.execute("SELECT rows, version, generation_seconds FROM bench_history").fetchone()
    except psycopg.Error:
        return None
    return (int(row[0]), int(row[1]), float(row[2])) if row else None


def _parties(conn: psycopg.Connection) -> tuple[int, int]:
    """The 200 synthetic merchants and the history merchant with three staff.
    Returns (history merchant id, first synthetic merchant id)."""
    conn.execute(
        "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, "
        "date_joined) SELECT '!', false, 'histuser' || g, '', '', '', false, true, now() "
        "FROM generate_series(0, %s) AS g",
        [SYNTHETIC_MERCHANTS],
    )
    conn.execute(
        "INSERT INTO merchants (user_id, name, blink_username, wallet_id, display_currency, tip_presets, "
        "blink_api_key_encrypted, blink_api_key_scopes, is_active, wallet_check_ok, wallet_check_error, created_at, "
        "updated_at) SELECT u.id, 'Hist ' || u.username, CASE WHEN u.username = 'histuser0' THEN %s "
        "ELSE u.username END, 'wallet-hist', 'USD', '[10, 15, 20]'::jsonb, '', '', true, true, '', now(), now() "
        "FROM auth_user u WHERE u.username LIKE 'histuser%%' ORDER BY u.id",
        [HISTORY_MERCHANT],
    )
    row = conn.execute(
        "SELECT (SELECT id FROM merchants WHERE blink_username = %s), "
        "min(id) FILTER (WHERE blink_username <> %s) FROM merchants",
        [HISTORY_MERCHANT, HISTORY_MERCHANT],
    ).fetchone()
    assert row is not None
    history, first = int(row[0]), int(row[1])
    conn.execute(
        "INSERT INTO staff_members (merchant_id, display_name, blink_username, wallet_id, is_active, wallet_check_ok, "
        "wallet_check_error, created_at) SELECT %s, 'Hist staff ' || g, 'histstaff' || g, 'wallet-histstaff' || g, "
        "true, true, '', now() "
        "FROM generate_series(0, 2) AS g",
        [history],
    )
    return history, first


def _secondary_indexes(conn: psycopg.Connection, table: str) -> list[tuple[str, str]]:
    """Non-unique indexes that back no constraint: (name, exact CREATE INDEX statement)."""
    return [
        (str(n), str(d))
        for n, d in conn.execute(
            "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = %s::regclass AND NOT x.indisunique AND NOT x.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) ORDER BY 1",
            [table],
        ).fetchall()
    ]


def _foreign_keys(conn: psycopg.Connection, table: str) -> list[tuple[str, str]]:
    return [
        (str(n), str(d))
        for n, d in conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY 1",
            [table],
        ).fetchall()
    ]


def generate(db_url: str, *, rows: int) -> float:
    """Fill a freshly migrated, otherwise empty database with ``rows`` historical splits; returns seconds.

    Only for the private template database: its non-unique indexes on payment_splits/payment_legs are
    dropped for the load and rebuilt from their exact definitions afterwards (one sort per index
    instead of millions of random insertions), and the tables' foreign keys are dropped and re-added,
    which re-validates every row in one join. Unique and primary keys, CHECK constraints (the money
    rules: amounts conserve, non-negative) and triggers stay in place throughout. The session's
    synchronous_commit=off only risks losing the last commits on a crash, and an unfinished template
    has no ``bench_history`` stamp, so it is rebuilt."""
    started = time.monotonic()
    with psycopg.connect(pg_dsn(db_url), autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '512MB'")
        history, first = _parties(conn)
        dropped_idx: list[tuple[str, str]] = []
        dropped_fk: list[tuple[str, str, str]] = []
        for table in ("payment_splits", "payment_legs"):
            for name, _ddl in (fks := _foreign_keys(conn, table)):
                conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            dropped_fk += [(table, n, d) for n, d in fks]
            for name, _ddl in (idx := _secondary_indexes(conn, table)):
                conn.execute(f'DROP INDEX "{name}"')
            dropped_idx += idx
        # Oldest first, evenly spaced over 365 days ending two hours ago: rows land in the heap in
        # created_at order, as a real append-only history does (the dashboard's range reads rely on it).
        end = datetime.now(UTC) - timedelta(hours=2)
        step = timedelta(days=365) / rows
        lo = 1
        while lo <= rows:
            hi = min(rows, lo + BATCH - 1)
            params = {"history_merchant": history, "first_synth": first, "lo": lo, "hi": hi, "end": end,
                      "rows": rows, "step": step}  # fmt: skip
            conn.execute(SPLITS_SQL, params)
            log(f"  history: {hi:,}/{rows:,} splits ({time.monotonic() - started:.0f}s)")
            lo = hi + 1
        conn.execute(LEGS_SQL, {"history_merchant": history})
        conn.execute(STATS_SQL, {"rows": rows})
        t0 = time.monotonic()
        for _name, ddl in dropped_idx:
            conn.execute(ddl)
        for table, name, ddl in dropped_fk:
            conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {ddl}')
        log(f"  history: indexes rebuilt, foreign keys re-validated ({time.monotonic() - t0:.0f}s)")
    return time.monotonic() - started


def vacuum_checkpoint(db_url: str, *, freeze: bool = False) -> dict[str, float]:
    """VACUUM (ANALYZE) the grown tables (FREEZE for a template: its clones then never need an
    anti-wraparound pass) and CHECKPOINT, so dirty pages of the load are written before anything is timed."""
    out: dict[str, float] = {}
    with psycopg.connect(pg_dsn(db_url), autocommit=True) as conn:
        t0 = time.monotonic()
        opts = "FREEZE, ANALYZE" if freeze else "ANALYZE"
        for table in GROWN_TABLES:
            conn.execute(f"VACUUM ({opts}) {table}")
        out["vacuum_seconds"] = round(time.monotonic() - t0, 2)
        t0 = time.monotonic()
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            out["checkpoint_skipped"] = 1.0  # needs superuser or pg_checkpoint; the wait below still applies
        out["checkpoint_seconds"] = round(time.monotonic() - t0, 2)
    return out


def wait_autovacuum_idle(db_url: str, *, limit: float = 120.0) -> float:
    """Seconds waited until no autovacuum worker runs in this database (bounded by ``limit``)."""
    started = time.monotonic()
    name = _db_name(db_url)
    with _admin(db_url) as conn:
        while time.monotonic() - started < limit:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' "
                "AND datname = %s) + (SELECT count(*) FROM pg_stat_progress_vacuum WHERE datname = %s)",
                [name, name],
            ).fetchone()
            if not row or int(row[0]) == 0:
                break
            time.sleep(0.5)
    return round(time.monotonic() - started, 2)


def settle(db_url: str) -> dict[str, float]:
    """Run before measuring a growth point: the same procedure at every size."""
    out = vacuum_checkpoint(db_url)
    out["autovacuum_wait_seconds"] = wait_autovacuum_idle(db_url)
    return out


def ensure_template(bench_db_url: str, rows: int, *, env: dict[str, str], rebuild: bool = False) -> Template:
    """The history template for ``rows`` splits, built if missing, stale or unfinished.

    ``bench_db_url`` must already be migrated: its applied migrations are the reference a kept
    template is brought up to (``manage.py migrate`` on the template, once)."""
    url = template_url(bench_db_url, rows)
    started = time.monotonic()
    stamp = _stamp(url) if _exists(url) and not rebuild else None
    if stamp is not None and stamp[0] == rows and stamp[1] == GENERATOR_VERSION:
        have, want = _migrations(url), _migrations(bench_db_url)
        if want - have and not have - want:
            log(f"history template {_db_name(url)}: applying {len(want - have)} new migration(s)")
            _migrate(url, env)
            vacuum_checkpoint(url, freeze=True)
        if not have - want:
            return Template(_db_name(url), url, rows, stamp[2], False, round(time.monotonic() - started, 1))
        log(f"history template {_db_name(url)} has migrations this code does not know: rebuilding")
    log(f"history template {_db_name(url)}: generating {rows:,} splits (once; kept for later runs)")
    drop_database(url)
    with _admin(bench_db_url) as conn:
        conn.execute(f'CREATE DATABASE "{_db_name(url)}"')
    _migrate(url, env)
    seconds = generate(url, rows=rows)
    t0 = time.monotonic()
    vacuum_checkpoint(url, freeze=True)
    log(f"  history: VACUUM (FREEZE, ANALYZE) + CHECKPOINT {time.monotonic() - t0:.0f}s")
    with psycopg.connect(pg_dsn(url), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE bench_history (rows bigint NOT NULL, version int NOT NULL, "
            "generation_seconds double precision NOT NULL, built_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute("INSERT INTO bench_history (rows, version, generation_seconds) VALUES (%s, %s, %s)",
                     [rows, GENERATOR_VERSION, round(seconds, 1)])  # fmt: skip
    return Template(_db_name(url), url, rows, round(seconds, 1), True, round(time.monotonic() - started, 1))


def clone(template: Template, target_url: str) -> float:
    """A fresh database copied from the template; returns seconds. FILE_COPY copies the files instead of
    writing every page to the WAL (PostgreSQL 15's default), which is what makes a multi-GB clone quick."""
    started = time.monotonic()
    drop_database(target_url)
    with _admin(target_url) as conn:
        conn.execute(f'CREATE DATABASE "{_db_name(target_url)}" TEMPLATE "{template.name}" STRATEGY FILE_COPY')
    return time.monotonic() - started


def pending_hashes(db_url: str, *, merchant_id: int, limit: int) -> list[str]:
    """Payment hashes of the merchant's newest pending invoices (the bench's own, made through the API)."""
    with psycopg.connect(pg_dsn(db_url)) as conn:
        rows = conn.execute(
            "SELECT payment_hash FROM payment_splits WHERE merchant_id = %s AND status = 'pending' "
            "ORDER BY id DESC LIMIT %s",
            [merchant_id, limit],
        ).fetchall()
    return [str(r[0]) for r in rows]


def describe(template: Template) -> dict[str, Any]:
    return {
        "template": template.name,
        "rows": template.rows,
        "generation_seconds": template.generation_seconds,
        "generated_in_this_run": template.built_now,
        "template_prepare_seconds": template.prepare_seconds,
    }
