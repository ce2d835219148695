"""The URL of the database this test process uses (pytest-django's test database), for other
processes and connections a test starts (Celery workers, a second session)."""

from __future__ import annotations

import os
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings


def database_url_for_tests() -> str:
    """Built from DATABASE_URL itself (not from HOST/PORT) so every form keeps working, including the
    embedded PostgreSQL's Unix-socket URL (``postgresql://postgres:@/blinkpos?host=/path``)."""
    db = settings.DATABASES["default"]
    configured = os.environ.get("DATABASE_URL")
    if configured:
        return urlunsplit(urlsplit(configured)._replace(path="/" + quote(db["NAME"])))
    auth = quote(db.get("USER") or "postgres")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
