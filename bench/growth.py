"""Historical data for the growth scenario, generated with set-based SQL (INSERT ... SELECT FROM
generate_series), never an ORM loop, in batches so a 5 M-row run shows progress and keeps WAL bounded.

Shape: ``rows`` completed (90 %) or expired (10 %) splits spread over the last 365 days and 200
synthetic merchants plus the bench merchant (1 % of rows); the bench merchant's completed splits get
one tip leg each (so per-merchant dashboard reads see real data); 1 000 tip recipients' stats.
"""

from __future__ import annotations

import time

import psycopg

from bench.procs import log
from bench.stack import pg_dsn

BATCH = 500_000

SPLITS_SQL = """
INSERT INTO payment_splits (
    payment_hash, external_id, user_wallet_id, user_api_key_encrypted, username, total_amount, base_amount,
    tip_amount, tip_percent, invoice_satoshis, received_amount, display_currency, tip_recipient, status,
    created_at, paid_at, processed_at, expires_at, user_payment_hash, tip_payment_hash, error_message, memo,
    payment_request, metadata, merchant_id)
SELECT md5('h' || g) || md5('x' || g), 'hist-' || g, 'wallet-hist', '', 'histuser', 1150 + mod(g, 500),
       1000 + mod(g, 500), 150, 15.00, 1150 + mod(g, 500),
       CASE WHEN mod(g, 10) = 0 THEN NULL ELSE 1150 + mod(g, 500) END,
       'USD', 'recipient' || mod(g, 1000),
       CASE WHEN mod(g, 10) = 0 THEN 'expired' ELSE 'completed' END,
       ts, CASE WHEN mod(g, 10) = 0 THEN NULL ELSE ts + interval '20 seconds' END,
       CASE WHEN mod(g, 10) = 0 THEN NULL ELSE ts + interval '25 seconds' END,
       ts + interval '15 minutes', '', '', '', 'history', '', '{}'::jsonb,
       CASE WHEN mod(g, 100) = 1 THEN %(merchant)s ELSE %(first_synth)s + mod(g, 200) END
  FROM (SELECT g, now() - interval '2 hours' - mod(g, 525600) * interval '1 minute' AS ts
          FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS g) AS src
"""

LEGS_SQL = """
INSERT INTO payment_legs (
    external_id, kind, recipient_username, recipient_wallet_id, amount, weight_bps, status, payment_request,
    payment_hash, attempts, last_error_code, last_error, fee_sats, preimage, created_at, updated_at, sent_at,
    succeeded_at, resolution_note, split_id, staff_id)
SELECT 'hleg-' || s.id, 'tip', %(username)s, %(wallet)s, s.tip_amount, 10000, 'succeeded', '', NULL, 1, '', '', 0,
       '', s.created_at, s.processed_at, s.processed_at, s.processed_at, '', s.id, %(staff)s
  FROM payment_splits s
 WHERE s.merchant_id = %(merchant)s AND s.status = 'completed' AND s.external_id LIKE 'hist-%%'
"""

STATS_SQL = """
INSERT INTO tip_recipient_stats (recipient_username, total_tips_received, total_tips_count, average_tip_amount,
    first_tip_received_at, last_tip_received_at, created_at, updated_at)
SELECT 'recipient' || r, 150 * (%(rows)s / 1000), %(rows)s / 1000, 150, now() - interval '365 days', now(), now(), now()
  FROM generate_series(0, 999) AS r
ON CONFLICT (recipient_username) DO NOTHING
"""


def _synthetic_merchants(conn: psycopg.Connection) -> int:
    """200 merchants (and their users) the history belongs to; returns the first merchant id."""
    conn.execute(
        "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, "
        "date_joined) SELECT '!', false, 'histuser' || g, '', '', '', false, true, now() "
        "FROM generate_series(0, 199) AS g ON CONFLICT (username) DO NOTHING"
    )
    conn.execute(
        "INSERT INTO merchants (user_id, name, blink_username, wallet_id, display_currency, tip_presets, "
        "blink_api_key_encrypted, blink_api_key_scopes, is_active, wallet_check_ok, wallet_check_error, created_at, "
        "updated_at) SELECT u.id, 'Hist ' || u.username, u.username, 'wallet-hist', 'USD', '[10, 15, 20]'::jsonb, "
        "'', '', true, true, '', now(), now() FROM auth_user u WHERE u.username LIKE 'histuser%' "
        "ON CONFLICT (blink_username) DO NOTHING"
    )
    row = conn.execute("SELECT min(id) FROM merchants WHERE blink_username LIKE 'histuser%'").fetchone()
    assert row is not None
    return int(row[0])


def existing_history(db_url: str) -> int:
    with psycopg.connect(pg_dsn(db_url)) as conn:
        row = conn.execute("SELECT count(*) FROM payment_splits WHERE external_id LIKE 'hist-%'").fetchone()
        return int(row[0]) if row else 0


def grow_to(db_url: str, *, rows: int, fixtures: dict[str, object]) -> float:
    """Add historical splits until there are ``rows``; returns seconds spent (0 when nothing to add)."""
    have = existing_history(db_url)
    if have >= rows:
        return 0.0
    started = time.monotonic()
    with psycopg.connect(pg_dsn(db_url), autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        first = _synthetic_merchants(conn)
        lo = have + 1
        while lo <= rows:
            hi = min(rows, lo + BATCH - 1)
            conn.execute(SPLITS_SQL, {"merchant": fixtures["merchant_id"], "first_synth": first, "lo": lo, "hi": hi})
            log(f"  growth: {hi:,}/{rows:,} historical splits ({time.monotonic() - started:.0f}s)")
            lo = hi + 1
        staff_ids = fixtures["staff_ids"]
        assert isinstance(staff_ids, list)
        conn.execute("DELETE FROM payment_legs WHERE external_id LIKE 'hleg-%'")
        wallets = fixtures["staff_wallet_ids"]
        assert isinstance(wallets, list)
        conn.execute(
            LEGS_SQL,
            {"username": "bench-history-staff", "wallet": wallets[0], "staff": staff_ids[0],
             "merchant": fixtures["merchant_id"]},
        )  # fmt: skip
        conn.execute(STATS_SQL, {"rows": rows})
        conn.execute("ANALYZE payment_splits")
        conn.execute("ANALYZE payment_legs")
        conn.execute("ANALYZE tip_recipient_stats")
    return time.monotonic() - started
