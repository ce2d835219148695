"""Production settings: ``check --deploy`` is clean at WARNING, and the pages carry the security
headers (HSTS, secure cookies, referrer policy, frame denial, a CSP the dashboard pages satisfy)."""

from __future__ import annotations

import base64
import importlib
import os
import re
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from tests.security.conftest import PASSWORD, Shop

ROOT = Path(__file__).resolve().parents[2]
SECURITY_SETTINGS = (
    "SECURE_PROXY_SSL_HEADER", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD", "SECURE_REFERRER_POLICY", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "X_FRAME_OPTIONS",
    "SECURE_CONTENT_TYPE_NOSNIFF", "SESSION_COOKIE_HTTPONLY", "CONTENT_SECURITY_POLICY",
)  # fmt: skip


def production_env() -> dict[str, str]:
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/blinkpos"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "FIELD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "ALLOWED_HOSTS": "pos.example.com",
        "BLINK_API_KEY": "blink_" + secrets.token_hex(16),
        "BLINK_WALLET_ID": "00000000-0000-4000-8000-000000000000",
        "BLINK_WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "METRICS_TOKEN": secrets.token_urlsafe(24),
    }


def test_check_deploy_passes_at_warning_level_with_production_settings() -> None:
    env = {**os.environ, **production_env(), "DJANGO_SETTINGS_MODULE": "blinkpos.settings.production"}
    env.pop("DEBUG", None)
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_production_refuses_to_boot_without_secrets() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS")}
    env["DJANGO_SETTINGS_MODULE"] = "blinkpos.settings.production"
    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "SECRET_KEY" in done.stderr


@pytest.fixture
def production_security(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The test settings with production's security values (read from the production module itself)."""
    for name, value in production_env().items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("blinkpos.settings.production", None)
    production = importlib.import_module("blinkpos.settings.production")
    for name in SECURITY_SETTINGS:
        if hasattr(production, name):
            setattr(settings, name, getattr(production, name))
    sys.modules.pop("blinkpos.settings.production", None)
    return settings


class _CspAudit(HTMLParser):
    """What a ``script-src 'self'; style-src 'self'`` policy would block in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.violations: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            src = attributes.get("src")
            if not src:
                self._in_script = attributes.get("type") not in ("application/json", "application/ld+json")
            elif re.match(r"^(https?:)?//", src):
                self.violations.append(f"external script {src}")
        if tag == "style":
            self.violations.append("inline <style>")
        if tag == "link" and (attributes.get("rel") or "") == "stylesheet":
            href = attributes.get("href") or ""
            if re.match(r"^(https?:)?//", href):
                self.violations.append(f"external stylesheet {href}")
        for name, value in attrs:
            if name.startswith("on"):
                self.violations.append(f"inline handler {tag}.{name}")
            if name == "style" and value:
                self.violations.append(f"inline style on <{tag}>")
            if name in ("href", "src", "action") and value and value.strip().lower().startswith("javascript:"):
                self.violations.append(f"javascript: URL on <{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.violations.append("inline <script>")


DASHBOARD_PAGES = ("/", "/transactions/", "/tips/", "/report/", "/charts/", "/settings/")


@pytest.mark.django_db
def test_pages_carry_the_security_headers_and_satisfy_the_csp(production_security: Any, shop_a: Shop) -> None:
    from django.test import Client

    client = Client(enforce_csrf_checks=False, HTTP_HOST="testserver")
    # Signing in over HTTPS sets the session and CSRF cookies: both Secure, the session one HttpOnly.
    login = client.post("/login/", {"username": shop_a.username, "password": PASSWORD}, secure=True)
    assert login.status_code == 302
    session_cookie = login.cookies[django_settings.SESSION_COOKIE_NAME]
    assert session_cookie["secure"] and session_cookie["httponly"]
    csrf_cookie = client.get("/login/", secure=True).cookies.get(django_settings.CSRF_COOKIE_NAME)
    if csrf_cookie is not None:
        assert csrf_cookie["secure"]
    # Plain HTTP is redirected to HTTPS.
    assert client.get("/transactions/").status_code == 301
    pages = (*DASHBOARD_PAGES, f"/transactions/{shop_a.paid.payment_hash}/", f"/tips/{shop_a.staff[0].pk}/")
    for url in pages:
        response = client.get(url, secure=True)
        assert response.status_code == 200, url
        assert response["Strict-Transport-Security"].startswith("max-age=31536000"), url
        assert response["X-Frame-Options"] == "DENY", url
        assert response["Referrer-Policy"] == "same-origin", url
        assert response["X-Content-Type-Options"] == "nosniff", url
        csp = response["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        audit = _CspAudit()
        audit.feed(response.content.decode())
        assert not audit.violations, (url, audit.violations[:5])
    # The API answers with the same headers (and JSON, never a frameable page).
    api = client.get("/api/v1/merchant", secure=True, HTTP_AUTHORIZATION=f"Api-Key {shop_a.key}")
    assert api.status_code == 200 and api["X-Frame-Options"] == "DENY"
