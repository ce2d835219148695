"""Settings read from the environment (django-environ); every integration is configured here once.

Defaults are for a developer machine. ``blinkpos.settings.production`` refuses to boot without the
secrets and guards against DEBUG with a live wallet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import environ
from kombu import Queue

from blinkpos.celery_queues import ALL_QUEUES, MAINTENANCE, TASK_ROUTES
from blinkpos.redis_config import RedisTarget, cache_location_and_options, celery_broker, parse_sentinels

BASE_DIR = Path(__file__).resolve().parents[2]

env = environ.Env()
# A local .env is convenient for development; the real environment always wins.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-secret-key-change-me")
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Site-wide templates and static files (the admin landing page, the admin CSS, the favicon); first,
    # so its admin template overrides win over the admin's own.
    "blinkpos.apps.BlinkposConfig",
    # Before the admin: its templates (admin/base_site.html) override the admin's own.
    "blinkpos.operator_otp.apps.OperatorOtpConfig",
    # django.contrib.admin, with the admin site that asks operators for their second factor.
    "blinkpos.operator_otp.apps.OperatorAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "payments.apps.PaymentsConfig",
    "analytics.apps.AnalyticsConfig",
    "dashboard.apps.DashboardConfig",
    # The operators' console (the views' lists, database, Redis, queues, saved reports) inside the admin.
    "console.apps.ConsoleConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files are answered here, before sessions and auth do any work for them.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Failed sign-ins and API-key attempts are counted and refused (429) past a limit.
    "blinkpos.auth_throttle.AuthFailureThrottleMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed a second factor (the admin asks for it).
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "blinkpos.csp.ContentSecurityPolicyMiddleware",
    # A database outage raised by a plain view is a 503 with Retry-After, as the API answers it.
    "blinkpos.db_unavailable.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "blinkpos.urls"
WSGI_APPLICATION = "blinkpos.wsgi.application"
ASGI_APPLICATION = "blinkpos.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- PostgreSQL (psycopg 3 with Django's connection pool) -------------------------------------
DATABASES = {"default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/blinkpos")}
DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
# Money code never makes an external call inside a transaction, so requests are not wrapped in one.
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# The pool replaces persistent connections; Django refuses both at once.
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"].setdefault("OPTIONS", {})
if env.bool("PG_POOL_ENABLED", default=True):
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": env.int("PG_POOL_MIN", default=2),
        "max_size": env.int("PG_POOL_MAX", default=10),
        "timeout": env.float("PG_POOL_TIMEOUT", default=10.0),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Threads per web process for ordinary (sync) requests (blinkpos/asgi_threads.py); more concurrent
# requests wait for one. A request holds a pooled connection from its first query to its end, so the
# default matches the pool.
WEB_THREADS = env.int("WEB_THREADS", default=env.int("PG_POOL_MAX", default=10))
# The hot paths' fixed statements as prepared statements (payments/statements.py); off behind a
# transaction pooler that cannot carry them.
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=True)
# Read replicas (blinkpos/db_router.py): comma-separated URLs, aliases replica1, replica2, ... Only
# views that merely show figures read from them; a replica lagging more than the limit is skipped.
for _number, _url in enumerate(env.list("DATABASE_REPLICA_URLS", default=[]), start=1):
    _replica = env.db_url_config(_url)
    _replica.update(
        ENGINE="django.db.backends.postgresql",
        ATOMIC_REQUESTS=False,
        CONN_MAX_AGE=0,
        OPTIONS={**DATABASES["default"]["OPTIONS"]},
        TEST={"MIRROR": "default"},
    )
    DATABASES[f"replica{_number}"] = _replica
DATABASE_ROUTERS = ["blinkpos.db_router.ReplicaRouter"]
REPLICA_MAX_LAG_SECONDS = env.float("REPLICA_MAX_LAG_SECONDS", default=10.0)
REPLICA_LAG_CHECK_SECONDS = env.float("REPLICA_LAG_CHECK_SECONDS", default=5.0)

# --- Redis (django-redis) -----------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# Sentinel (blinkpos/redis_config.py): every Redis client follows the master these Sentinels name;
# REDIS_URL then only gives the database number (and password).
REDIS_TARGET = RedisTarget(
    url=REDIS_URL,
    sentinels=parse_sentinels(env.list("REDIS_SENTINELS", default=[])),
    master=env.str("REDIS_SENTINEL_MASTER", default="blinkpos"),
)
_redis_location, _sentinel_options = cache_location_and_options(REDIS_TARGET)
_redis_options: dict[str, Any] = {
    "SOCKET_CONNECT_TIMEOUT": env.float("REDIS_CONNECT_TIMEOUT", default=0.5),
    "SOCKET_TIMEOUT": env.float("REDIS_SOCKET_TIMEOUT", default=0.5),
}
CACHES = {
    # A plain cache (rate-limit counters, prices, stats): a Redis error degrades, never decides.
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": _redis_location,
        "KEY_PREFIX": "",
        "OPTIONS": {**_redis_options, **_sentinel_options, "IGNORE_EXCEPTIONS": True},
    },
    # The hot split store: errors must surface so callers fall back to PostgreSQL and count it.
    "hot": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": _redis_location,
        "KEY_PREFIX": "",
        "OPTIONS": {**_redis_options, **_sentinel_options, "IGNORE_EXCEPTIONS": False},
    },
}
# Keys are written exactly as docs/ARCHITECTURE.md (Redis keyspace) names them (``tip:{hash}``), so no
# version prefix either.
for _cache in CACHES.values():
    _cache["KEY_FUNCTION"] = "blinkpos.cache_keys.plain_key"
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
# The live status streams' pub/sub listener (payments/streams/hub.py); empty: the Redis above. Tests
# point it at a Redis they restart.
STATUS_STREAM_REDIS_URL = env.str("STATUS_STREAM_REDIS_URL", default="")

# TTLs in seconds, overridable as a JSON object (seed defaults otherwise).
CACHE_TTLS: dict[str, int] = {
    "tip": 15 * 60,
    "tip_max": 24 * 60 * 60,
    "lock": 5 * 60,
    "ratelimit": 60 * 60,
    "prices": 2 * 60,
}
CACHE_TTLS.update({k: int(v) for k, v in json.loads(env.str("CACHE_TTLS_JSON", default="{}")).items()})

# --- Secrets at rest ---------------------------------------------------------------------------
# Comma-separated Fernet keys, newest first (MultiFernet encrypts with the first, decrypts with any).
FIELD_ENCRYPTION_KEYS: list[str] = env.list(
    "FIELD_ENCRYPTION_KEYS",
    # Development-only key: production refuses to boot without its own.
    default=["ZGV2LW9ubHktZmllbGQta2V5LTMyLWJ5dGVzLWxvbmc="],
)

# --- Celery -----------------------------------------------------------------------------------
_broker_url, _broker_sentinel_options = celery_broker(REDIS_TARGET)
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=_broker_url)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
# Broker visibility timeout must exceed every task's hard limit, or an acked-late task is redelivered
# while still running.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    **(_broker_sentinel_options if CELERY_BROKER_URL.startswith("sentinel://") else {}),
}
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Publishing must not hang a request when Redis is away: bounded retries, then the caller decides.
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Queues by kind of work (blinkpos/celery_queues.py). Declaring them makes a worker without -Q consume
# all of them; make run and docker-compose start one worker per group with -Q.
CELERY_TASK_QUEUES = [Queue(name) for name in ALL_QUEUES]
CELERY_TASK_DEFAULT_QUEUE = MAINTENANCE
CELERY_TASK_ROUTES = TASK_ROUTES
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The periodic jobs each app declares in code (blinkpos/beat.py syncs them into the scheduler's tables).
BEAT_SCHEDULE_MODULES = ["payments.tasks.schedule.JOBS", "analytics.schedule.JOBS"]
# acks_late is NOT global: only the forwarding tasks, which are idempotent by database state, set it
# (payments/tasks/forwarding.py). A task that is not must not be redelivered after a worker dies.
CELERY_TASK_ACKS_LATE = False
# Forwarding retries (explicit failures only): attempts per leg and the first backoff, doubling, capped
# at an hour. The schedule lives in payment_legs.next_attempt_at, not in Celery countdowns.
FORWARD_MAX_ATTEMPTS = env.int("FORWARD_MAX_ATTEMPTS", default=5)
FORWARD_RETRY_BASE_SECONDS = env.int("FORWARD_RETRY_BASE_SECONDS", default=30)
# Bounds of the reconciler (payments/services/reconcile.py, unpaid.py). FORWARD_MAX_ATTEMPTS also caps
# re-sends of a payment Blink says never arrived. A pending/unknown leg whose lookup at Blink failed
# FORWARD_LOOKUP_MAX_FAILURES times in a row (backing off like retries) needs an operator; lookups go on
# hourly. Unpaid, expired and cancelled invoices are polled until Blink's expiry plus
# UNPAID_POLL_MARGIN_SECONDS (clock skew, a payment in flight at expiry) and one poll after that says
# not paid; past UNPAID_POLL_LOOKBACK_DAYS they are no longer polled. A reconciler pass stops starting
# new work after RECONCILE_BUDGET_SECONDS (below reconcile_task's soft time limit, 110 s); the next pass
# resumes with what it did not reach.
FORWARD_LOOKUP_MAX_FAILURES = env.int("FORWARD_LOOKUP_MAX_FAILURES", default=5)
UNPAID_POLL_MARGIN_SECONDS = env.int("UNPAID_POLL_MARGIN_SECONDS", default=600)
UNPAID_POLL_LOOKBACK_DAYS = env.int("UNPAID_POLL_LOOKBACK_DAYS", default=7)
RECONCILE_BUDGET_SECONDS = env.float("RECONCILE_BUDGET_SECONDS", default=80.0)
# A forward Blink refuses for the platform's daily intraledger limit (TRANSACTION_RESTRICTED) waits:
# retried after each of these waits (seconds; ~28 h in all, past Blink's rolling 24 h), then left to an
# operator (payments/provider_limits.py).
FORWARD_LIMIT_RETRY_SECONDS: list[int] = env.list(
    "FORWARD_LIMIT_RETRY_SECONDS", cast=int, default=[900, 1800, 3600, 7200, 14400, 28800, 43200]
)

# --- Blink wallet provider ---------------------------------------------------------------------
BLINK_API_URL = env.str("BLINK_API_URL", default="https://api.blink.sv/graphql")
BLINK_API_KEY = env.str("BLINK_API_KEY", default="")
BLINK_WALLET_ID = env.str("BLINK_WALLET_ID", default="")
BLINK_CONNECT_TIMEOUT = env.float("BLINK_CONNECT_TIMEOUT", default=5.0)
BLINK_READ_TIMEOUT = env.float("BLINK_READ_TIMEOUT", default=15.0)
# Several secrets are accepted while an endpoint's secret is being rotated.
BLINK_WEBHOOK_SECRETS: list[str] = env.list("BLINK_WEBHOOK_SECRET", default=[])
# How long Blink blocks invoice creation after TOO_MANY_REQUEST (its limiter's block; Blink does not say
# in the answer). Creates are refused with a 429 for this long without asking Blink again.
BLINK_INVOICE_BLOCK_SECONDS = env.int("BLINK_INVOICE_BLOCK_SECONDS", default=300)
# Blink's invoice-creation limit per platform account (60 per 60 s unless Blink raised it; an account's
# own ``invoice_rate_points`` overrides the points). BlinkPOS counts creations per account and refuses the
# one past it with a 429 before Blink would block the account (payments/provider_limits.py).
BLINK_INVOICE_RATE_POINTS = env.int("BLINK_INVOICE_RATE_POINTS", default=60)
BLINK_INVOICE_RATE_WINDOW_SECONDS = env.int("BLINK_INVOICE_RATE_WINDOW_SECONDS", default=60)

# --- Payout destinations (Lightning addresses, LNURL-pay; README "Payout destinations") -------------
# Lightning-address domains that are Blink's own: for these the custodial wallet is tried first.
BLINK_LIGHTNING_DOMAINS: list[str] = [
    d.lower() for d in env.list("BLINK_LIGHTNING_DOMAINS", default=["blink.sv", "pay.blink.sv"])
]
# Where a bare Blink username's Lightning address lives (``<username>@<this>``): the LNURL fallback
# for an account without a custodial wallet (migrated to self-custodial).
BLINK_LIGHTNING_ADDRESS_DOMAIN = env.str("BLINK_LIGHTNING_ADDRESS_DOMAIN", default="blink.sv").lower()
# host:port pairs the SSRF-safe client may fetch over plain http, private addresses included. Tests and
# the local demo only: production settings refuse to boot with any.
LNURL_ALLOW_HTTP_HOSTS: list[str] = [h.lower() for h in env.list("LNURL_ALLOW_HTTP_HOSTS", default=[])]
# Merchants' webhook endpoints (payments/services/webhook_delivery.py): the same SSRF rules as LNURL,
# with their own plain-http allowance (exact host:port pairs, tests and the local demo only).
MERCHANT_WEBHOOKS_ALLOW_HTTP_HOSTS: list[str] = [
    h.lower() for h in env.list("MERCHANT_WEBHOOKS_ALLOW_HTTP_HOSTS", default=[])
]
MERCHANT_WEBHOOKS_TIMEOUT_SECONDS = env.float("MERCHANT_WEBHOOKS_TIMEOUT_SECONDS", default=10.0)
LNURL_HTTP_TIMEOUT_SECONDS = env.float("LNURL_HTTP_TIMEOUT_SECONDS", default=5.0)
LNURL_MAX_RESPONSE_BYTES = 64 * 1024
# How long a resolved LNURL route is reused (Redis); custodial routes are never cached.
LNURL_ROUTE_CACHE_SECONDS = env.int("LNURL_ROUTE_CACHE_SECONDS", default=300)
# A payout invoice must still have this long to live when it is checked (before it is committed).
PAYOUT_INVOICE_MIN_REMAINING_SECONDS = env.int("PAYOUT_INVOICE_MIN_REMAINING_SECONDS", default=120)

# --- Business limits -----------------------------------------------------------------------------
# The host in pay codes' addresses (name@host) and LNURLs, as printed on posters; empty: the host
# each request came to (docs/ARCHITECTURE.md, Pay codes and tips after payment).
PAYCODE_HOST = env.str("PAYCODE_HOST", default="")
INVOICE_EXPIRY_MINUTES = env.int("INVOICE_EXPIRY_MINUTES", default=15)
MAX_INVOICE_SATS = env.int("MAX_INVOICE_SATS", default=10_000_000)
MAX_TIP_MULTIPLE = env.int("MAX_TIP_MULTIPLE", default=2)
# Refunds (payments/services/refunds.py): how long the merchant has to pay a refund's funding invoice
# (Blink's 1-1440 minutes), how long the customer's claim stays open once funded, and how many
# confirmed payout failures re-open the claim before the refund needs an operator.
REFUND_FUNDING_EXPIRY_MINUTES = env.int("REFUND_FUNDING_EXPIRY_MINUTES", default=60)
REFUND_CLAIM_HOURS = env.int("REFUND_CLAIM_HOURS", default=72)
REFUND_MAX_PAYOUT_FAILURES = env.int("REFUND_MAX_PAYOUT_FAILURES", default=3)
SUPPORTED_DISPLAY_CURRENCIES: list[str] = env.list(
    "SUPPORTED_DISPLAY_CURRENCIES", default=["BTC", "USD", "EUR", "GBP", "CHF", "CAD", "NGN", "KES", "ZAR"]
)

# --- Operations (retention, metrics endpoint, alert thresholds) -------------------------------------
# Days to keep system_metrics rows and non-financial payment events; money events are never deleted.
RETENTION_DAYS_METRICS = env.int("RETENTION_DAYS_METRICS", default=30)
RETENTION_DAYS_EVENTS = env.int("RETENTION_DAYS_EVENTS", default=90)
# payment_events is partitioned by month: how many months ahead the daily job keeps created.
EVENT_PARTITIONS_AHEAD_MONTHS = env.int("EVENT_PARTITIONS_AHEAD_MONTHS", default=3)
# Webhook deliveries with a final outcome (a delivery still queued is kept) and stored Idempotency-Key
# answers. Deduplication does not depend on either once its payment is recorded (the split's status
# decides), and a POS retries a create within minutes, so these only bound the audit trail's size.
RETENTION_DAYS_WEBHOOK_DELIVERIES = env.int("RETENTION_DAYS_WEBHOOK_DELIVERIES", default=30)
RETENTION_DAYS_IDEMPOTENCY_KEYS = env.int("RETENTION_DAYS_IDEMPOTENCY_KEYS", default=7)
# Books reconciliation (manage.py reconcile_books, daily): transactions per Blink page and the most pages
# one run walks back (the first run walks the whole history); a transaction younger than
# BOOKS_SETTLE_SECONDS (or a payment recorded that recently) is judged at the next run; a run left
# "running" longer than BOOKS_RUN_STALE_SECONDS was abandoned by a dead worker. BOOKS_HELD_SATS: sats an
# operator deliberately keeps in (or, negative, took out of) the platform wallet outside BlinkPOS's books.
BOOKS_PAGE_SIZE = env.int("BOOKS_PAGE_SIZE", default=100)
BOOKS_MAX_PAGES = env.int("BOOKS_MAX_PAGES", default=2000)
BOOKS_SETTLE_SECONDS = env.int("BOOKS_SETTLE_SECONDS", default=60)
BOOKS_RUN_STALE_SECONDS = env.int("BOOKS_RUN_STALE_SECONDS", default=7200)
BOOKS_HELD_SATS = env.int("BOOKS_HELD_SATS", default=0)
# /metrics answers a request with "Authorization: Bearer <METRICS_TOKEN>" or from METRICS_ALLOWED_IPS
# (addresses or CIDR networks). Both empty: /metrics is closed.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS: list[str] = env.list("METRICS_ALLOWED_IPS", default=[])
# Evaluated by snapshot_metrics (seed documents' thresholds); overridable as a JSON object.
ALERT_THRESHOLDS: dict[str, float] = {
    "hotstore_hit_ratio_min": 0.70,
    "latency_p95_ms_max": 500.0,
    "pg_pool_usage_max": 0.80,
    "redis_memory_usage_max": 0.80,
}
ALERT_THRESHOLDS.update({k: float(v) for k, v in json.loads(env.str("ALERT_THRESHOLDS_JSON", default="{}")).items()})

# --- Django REST framework ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "payments.api.authentication.TerminalKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "payments.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "BlinkPOS API",
    "DESCRIPTION": "Tipped Lightning invoices for point-of-sale terminals; every share forwarded exactly once.",
    "VERSION": "1.0.0",
    # 3.1: the document carries the outgoing webhooks' payloads (its `webhooks` section).
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Docs assets from drf-spectacular-sidecar: /api/docs/ works without a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two "status" choice sets (a sale's and a refund's): named, not hashed.
    "ENUM_NAME_OVERRIDES": {
        "RefundStatusEnum": "payments.models.refunds.RefundStatus",
        "SaleStatusEnum": "payments.models.splits.SplitStatus",
    },
    # The outgoing webhooks' payloads (docs/WEBHOOKS.md).
    "WEBHOOKS": [f"payments.api.webhook_events.{name}" for name in ("INVOICE_HOOK", "PAYOUT_HOOK", "REFUND_HOOK")],
    # The status streams are async views drf-spectacular cannot read; this hook documents them.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "payments.api.schema_streams.add_status_streams",
    ],
}
# POS API rate limits ("<count>/<sec|min|hour>", fixed windows counted in Redis under ratelimit:*).
# A terminal polling once a second uses 60/min; overridable as a JSON object.
# The public endpoints (pay codes' LNURL-pay, "add a tip") count per client address (public_ip) and
# per code or sale: each callback creates an invoice on the shared platform account.
API_RATE_LIMITS: dict[str, str] = {
    "terminal": "600/min",
    "merchant": "3000/min",
    "public_ip": "60/min",
    "paycode": "30/min",
    "receipt_tip": "10/min",
}
API_RATE_LIMITS.update(json.loads(env.str("API_RATE_LIMITS_JSON", default="{}")))
# Brute-force limits per client address (and per username for sign-ins): [failures, window seconds].
# "cashier": failed cashier sign-ins (PIN or terminal key) per address (dashboard/views_cashier.py).
AUTH_FAILURE_LIMITS: dict[str, list[int]] = {
    "login": [10, 15 * 60],
    "api_key": [20, 10 * 60],
    "cashier": [20, 15 * 60],
    "staff": [20, 15 * 60],  # failed staff sign-ins (PIN, links) per address (dashboard/views_staff_signin.py)
}
AUTH_FAILURE_LIMITS.update(json.loads(env.str("AUTH_FAILURE_LIMITS_JSON", default="{}")))
# Public receipt pages (/r/<token>/) per client address: enough for a busy shop's shared Wi-Fi, far too
# few to walk 256-bit tokens.
RECEIPT_RATE_LIMIT = env.str("RECEIPT_RATE_LIMIT", default="120/min")
# A cashier PIN locks after this many wrong tries in a row, for this long (payments/services/cashier_pins.py).
CASHIER_PIN_MAX_FAILURES = env.int("CASHIER_PIN_MAX_FAILURES", default=5)
CASHIER_PIN_LOCKOUT_SECONDS = env.int("CASHIER_PIN_LOCKOUT_SECONDS", default=15 * 60)
# A cashier session ends after this long (a shift), or when its PIN or terminal changes.
CASHIER_SESSION_SECONDS = env.int("CASHIER_SESSION_SECONDS", default=12 * 60 * 60)
# Staff self-service (payments/services/staff_access.py): PIN lockout as for cashiers; sign-in links live
# STAFF_LINK_SECONDS and at most STAFF_LINKS_PER_WINDOW are sent per person per window; sessions end after
# STAFF_SESSION_SECONDS.
STAFF_PIN_MAX_FAILURES = env.int("STAFF_PIN_MAX_FAILURES", default=5)
STAFF_PIN_LOCKOUT_SECONDS = env.int("STAFF_PIN_LOCKOUT_SECONDS", default=15 * 60)
STAFF_LINK_SECONDS = env.int("STAFF_LINK_SECONDS", default=15 * 60)
STAFF_LINKS_PER_WINDOW = env.int("STAFF_LINKS_PER_WINDOW", default=5)
STAFF_LINK_WINDOW_SECONDS = env.int("STAFF_LINK_WINDOW_SECONDS", default=60 * 60)
STAFF_SESSION_SECONDS = env.int("STAFF_SESSION_SECONDS", default=12 * 60 * 60)
# Sign-in links go out by email: SMTP here (EMAIL_HOST ...), the console in dev, locmem in tests. Never
# the console in production: a sign-in link in a log would be a usable credential.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="BlinkPOS <no-reply@localhost>")
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=64 * 1024)

# --- Auth, i18n, static ------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
# Where collectstatic writes and WhiteNoise serves from (the Docker image collects at build time).
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names (so WhiteNoise can cache them for a year, immutable) and gzip variants. With DEBUG on,
    # {% static %} gives the plain names and WhiteNoise serves them straight from the apps.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
ADMIN_URL = env.str("ADMIN_URL", default="admin/")
# Superusers must pass a second factor (TOTP or a recovery code) to reach the admin. Production turns
# this on by default; a staff user who enrolled an authenticator is always asked for it.
ADMIN_OTP_REQUIRED = env.bool("ADMIN_OTP_REQUIRED", default=False)
# The name authenticator apps show next to the account (the otpauth URI's issuer).
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="BlinkPOS")
# The admin's device pages never show a TOTP key or a recovery code after enrolment.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
# The dashboard and admin pages satisfy this policy (same-origin scripts and styles only, no inline script);
# the Swagger UI loads its own assets and is exempt.
CONTENT_SECURITY_POLICY = env.str(
    "CONTENT_SECURITY_POLICY",
    default=(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
)
CSP_EXEMPT_PATH_PREFIXES: list[str] = ["/api/docs/", "/api/schema/"]

# --- Logging (structlog, JSON lines; never secrets) --------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {"()": "blinkpos.logging.build_formatter", "fmt": LOG_FORMAT},
    },
    "filters": {"redact": {"()": "blinkpos.logging.RedactSecretsFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "structured", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
FAULT_POINTS_ENABLED = False
# Routing fees of Lightning-address payouts (README "Payout destinations"): a leg whose probed fee is
# above max(PAYOUT_FEE_CAP_SATS, share x PAYOUT_FEE_CAP_BPS / 10 000) waits for an operator.
PAYOUT_FEE_CAP_BPS = env.int("PAYOUT_FEE_CAP_BPS", default=100)
PAYOUT_FEE_CAP_SATS = env.int("PAYOUT_FEE_CAP_SATS", default=10)
