"""Walk every URL pattern the project serves.

1. The Blink webhook is the only view exempt from CSRF. DRF views are marked exempt at the Django level
   by ``APIView.as_view``; they are accepted only when their session authentication enforces CSRF
   itself (checked by behaviour below), or when they accept no session at all.
2. Merchant B, signed in (dashboard session) and with its terminal key (API), gets 403/404 for every
   URL that names one of merchant A's objects, on every method, and nothing of A's changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern
from django.utils import timezone
from rest_framework.authentication import SessionAuthentication
from rest_framework.views import APIView

from payments.crypto import encrypt_secret
from payments.models import (
    MerchantWebhookEndpoint,
    MerchantWebhookMessage,
    PoolAllocation,
    PoolPayout,
    Shift,
    TerminalGroup,
)
from payments.services.cashier_pins import cashier_pin_set
from payments.services.receipts import receipt_token_ensure
from payments.services.webhook_endpoints import endpoint_send_test, new_secret
from tests.security.conftest import Shop, money_snapshot

pytestmark = pytest.mark.django_db


def walk(resolver: URLResolver | None = None, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        pattern = str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from walk(entry, prefix + pattern)
        else:
            yield prefix + pattern, entry


def _drf_class(callback: Any) -> type[APIView] | None:
    cls = getattr(callback, "cls", None)
    return cls if isinstance(cls, type) and issubclass(cls, APIView) else None


def test_the_webhooks_are_the_only_csrf_exempt_views() -> None:
    exempt_plain: list[str] = []
    exempt_drf: list[str] = []
    for route, entry in walk():
        callback = entry.callback
        if not getattr(callback, "csrf_exempt", False):
            continue
        cls = _drf_class(callback)
        if cls is None:
            exempt_plain.append(route)
            continue
        # A DRF view: its session authentication must be the CSRF-enforcing one.
        auth_classes = cls.authentication_classes
        session = [a for a in auth_classes if issubclass(a, SessionAuthentication)]
        assert all(a.enforce_csrf is SessionAuthentication.enforce_csrf for a in session), route
        exempt_drf.append(route)
    # Blink's webhook: the default platform account's endpoint and the per-account one (by its token)
    assert exempt_plain == ["webhooks/blink", "webhooks/blink/<str:token>"]
    assert exempt_drf, "the API views were expected in the walk"


def test_session_posts_to_the_api_without_a_csrf_token_are_refused(shop_a: Shop) -> None:
    client = shop_a.browser()
    before = money_snapshot()
    response = client.post("/api/v1/invoices", {"amount_sats": 1000}, content_type="application/json")
    assert response.status_code == 403
    response = client.post(f"/api/v1/invoices/{shop_a.pending.payment_hash}/cancel")
    assert response.status_code == 403
    assert money_snapshot() == before


def _failed_pool_payout(a: Shop) -> PoolPayout:
    """A closed shift of A's with a failed pool payout (created once)."""
    existing = PoolPayout.objects.filter(shift__merchant=a.merchant).first()
    if existing is not None:
        return existing
    group = TerminalGroup.objects.create(merchant=a.merchant, name="A's room")
    now = timezone.now()
    shift = Shift.objects.create(
        merchant=a.merchant, group=group, opened_at=now, status="closed", closed_at=now, pool_sats=100
    )
    allocation = PoolAllocation.objects.create(shift=shift, staff=a.staff[0], share_sats=100, amount_sats=100)
    return PoolPayout.objects.create(
        allocation=allocation,
        shift=shift,
        staff=a.staff[0],
        external_id=uuid.uuid4().hex,
        amount_sats=100,
        status="failed",
    )


def _webhook_message(a: Shop) -> MerchantWebhookMessage:
    """One of A's webhook endpoints with a stored test message (created once; never sent: the test's
    transaction never commits)."""
    existing = MerchantWebhookMessage.objects.filter(endpoint__merchant=a.merchant).first()
    if existing is not None:
        return existing
    # Stored directly: registering checks that the host resolves, and this machine has no outside DNS.
    endpoint = MerchantWebhookEndpoint.objects.create(
        merchant=a.merchant,
        url="https://hooks.example.com/a",
        event_types=["invoice.paid"],
        secret_encrypted=encrypt_secret(new_secret()),
    )
    return endpoint_send_test(endpoint=endpoint)


def _fill(route: str, entry: URLPattern, a: Shop) -> str | None:
    """The concrete URL with each parameter set to one of merchant A's objects (None: no parameter)."""
    converters = entry.pattern.converters if isinstance(entry.pattern, RoutePattern) else {}
    names = list(converters)
    names += [n for n in getattr(entry.pattern.regex, "groupindex", {}) if n not in names]
    if not names:
        return None
    values = {
        "payment_hash": a.pending.payment_hash,
        "staff_id": a.staff[0].pk,
        "terminal_id": a.terminal.pk,
        "profile_id": a.team.pk,
        "split_profile_id": a.team.pk,
        "merchant_id": a.merchant.pk,
        "pk": a.merchant.pk,
        # A receipt link is public by design (its token is the permission); A's unpaid sale has none to
        # show. An account's webhook path named by the same token is an unknown one: 404.
        "token": receipt_token_ensure(split=a.pending),
        "pin_id": cashier_pin_set(
            merchant=a.merchant, terminal_id=a.terminal.pk, staff_id=a.staff[0].pk, pin="2468"
        ).pk,
        "refund_id": a.refund.pk,
        "which": "funding",
        "code_id": a.pay_code.pk,
        # A staff member's proof page: one of A's tip legs (only A's staff, signed in as staff, see it).
        "kind": "sale_tip",
        "object_id": a.paid.legs.filter(kind="tip").first().pk,  # type: ignore[union-attr]
        "shift_id": _failed_pool_payout(a).shift_id,
        "payout_id": _failed_pool_payout(a).pk,
        "endpoint_id": _webhook_message(a).endpoint_id,
        "msg_id": _webhook_message(a).msg_id,
        # Not an object: a setting's name. An unknown one is a 404 (B's own settings are tested elsewhere).
        "what": "no-such-setting",
    }
    url = "/" + route
    for name in names:
        if name not in values:
            return "UNKNOWN:" + name
        value = values[name]
        url = url.replace(f"<str:{name}>", str(value)).replace(f"<int:{name}>", str(value))
        url = url.replace(f"<{name}>", str(value))
    return url


# Public by design, with no merchant session or key: a pay code's LNURL-pay (anyone with the poster may
# pay it) and the customer's "add a tip" page (the receipt's unguessable token is the key). Checked in
# their own tests (tests/payments/api/test_lnurlp.py, tests/dashboard/test_receipt_tip.py).
PUBLIC_ROUTES = (".well-known/lnurlp/", "lnurlp/", "r/<str:token>/")
# The status streams read PostgreSQL on a thread of their own (payments/api/status_events.py ``_db``), so
# they cannot see this test's uncommitted rows (not even the session); their tenant rules are walked over
# real HTTP on committed data in tests/payments/streams (another merchant's session and terminal: 404).
STREAM_ROUTES = ("api/v1/invoices/<str:payment_hash>/events", "api/v1/terminal/events")


def test_every_url_naming_another_merchants_object_is_404_or_403(shop_a: Shop, shop_b: Shop) -> None:
    browser = shop_b.browser()
    csrf = browser.get("/login/").cookies.get("csrftoken") or browser.cookies.get("csrftoken")
    token = csrf.value if csrf else ""
    _failed_pool_payout(shop_a)  # A's shift and pool payout exist before the snapshot
    _webhook_message(shop_a)  # and A's webhook endpoint with a message
    before = money_snapshot()
    visited: list[str] = []
    unknown: list[str] = []
    for route, entry in walk():
        if route.startswith(settings.ADMIN_URL.lstrip("/")):
            continue  # staff only; covered below
        if route.startswith(PUBLIC_ROUTES) or route in STREAM_ROUTES:
            continue
        url = _fill(route, entry, shop_a)
        if url is None:
            continue
        if url.startswith("UNKNOWN:"):
            unknown.append(f"{route} ({url})")
            continue
        visited.append(url)
        for method in ("get", "post"):
            body = {"data": "{}", "content_type": "application/json"} if method == "post" else {}
            as_session = getattr(browser, method)(url, HTTP_X_CSRFTOKEN=token, **body)
            # The cashier's pages know only a cashier session: a merchant's is sent to the cashier sign-in
            # (another terminal's objects are refused to cashiers in tests/dashboard/test_cashier_refunds.py).
            to_cashier_login = route.startswith("cashier/") and as_session.get("Location", "").startswith(
                "/cashier/login/"
            )
            # Likewise the staff pages know only a staff session (tests/dashboard/test_staff_pages.py).
            to_staff_login = route.startswith("staff/") and as_session.get("Location", "").startswith("/staff/login/")
            to_login = to_cashier_login or to_staff_login
            assert as_session.status_code in (403, 404, 405) or (as_session.status_code == 302 and to_login), (
                method,
                url,
                "session",
                as_session.status_code,
            )
            as_terminal = getattr(browser.__class__(), method)(url, **shop_b.auth, **body)
            assert as_terminal.status_code in (302, 401, 403, 404, 405), (method, url, "key", as_terminal.status_code)
            for response in (as_session, as_terminal):
                body = response.content.decode(errors="replace")
                assert shop_a.pending.payment_hash not in body or response.status_code == 302, url
    assert not unknown, f"URL parameters this walk does not know how to fill: {unknown}"
    assert len(visited) >= 8
    assert money_snapshot() == before


def test_lists_show_only_the_signed_in_merchants_objects(shop_a: Shop, shop_b: Shop) -> None:
    browser = shop_b.browser()
    pages = ["/transactions/", "/tips/", "/report/", "/charts/", "/settings/", "/transactions/export.csv"]
    api = ["/api/v1/invoices", "/api/v1/staff", "/api/v1/split-profiles", "/api/v1/merchant"]
    secrets_of_a = [shop_a.paid.payment_hash, shop_a.pending.payment_hash, shop_a.staff[0].blink_username]
    for url in pages:
        response = browser.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert shop_b.paid.payment_hash[:12] in body or url in ("/settings/", "/charts/", "/tips/", "/report/")
        assert not any(s in body for s in secrets_of_a), url
    for url in api:
        response = browser.__class__().get(url, **shop_b.auth)
        assert response.status_code == 200, url
        assert not any(s in response.content.decode() for s in secrets_of_a), url


def test_the_admin_is_closed_to_a_merchant(shop_a: Shop, shop_b: Shop) -> None:
    browser = shop_b.browser()
    admin = "/" + settings.ADMIN_URL.lstrip("/")
    for url in (admin, f"{admin}payments/paymentsplit/{shop_a.paid.pk}/change/", f"{admin}payments/merchant/"):
        response = browser.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url
