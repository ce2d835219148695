"""Schemathesis against our own OpenAPI schema (``/api/schema/``), in process: every operation,
authenticated as a terminal and as a signed-in merchant (session + CSRF token), bounded examples.

Every response: no 5xx, and it conforms to the schema (status code documented, body matches). And
whatever merchant B sends, merchant A's rows never change and A's objects never appear in B's answers;
a share of the examples aim path parameters at A's objects on purpose.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck
from hypothesis import settings as hsettings

from tests.security.conftest import Shop, money_snapshot

# The status streams (Server-Sent Events) never end by themselves and only run on the ASGI server; their
# inputs (hash, Last-Event-ID, tenant) are tested over real HTTP in tests/payments/streams/.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application()).exclude(path_regex=r"/events$")
BOUNDED = hsettings(
    max_examples=25, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)  # fmt: skip


@pytest.fixture
def shops(shop_a: Shop, shop_b: Shop, settings: Any) -> Iterator[tuple[Shop, Shop]]:
    # Fuzzing sends many bad requests from one address; the brute-force limits are tested elsewhere.
    settings.AUTH_FAILURE_LIMITS = {"login": [10**6, 60], "api_key": [10**6, 60]}
    # As Django's test client does: the request must not close the test's connection (its transaction).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield shop_a, shop_b
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _session_headers(shop: Shop) -> dict[str, str]:
    client: Client = shop.browser()
    client.get("/login/")
    token = client.cookies["csrftoken"].value if "csrftoken" in client.cookies else ""
    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
    return {"Cookie": cookie, "X-CSRFToken": token}


def _run(case: Any, a: Shop, b: Shop, headers: dict[str, str]) -> None:
    rng = random.Random(repr(case.path_parameters) + repr(case.query))
    if case.path_parameters and "payment_hash" in case.path_parameters and rng.random() < 0.3:
        case.path_parameters["payment_hash"] = rng.choice([a.paid.payment_hash, a.pending.payment_hash])
    before = [row for row in money_snapshot() if a.merchant.pk in row or a.paid.pk == row[0]]
    response = case.call(headers={**(case.headers or {}), **headers})
    assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text[:300])
    # positive_data_acceptance is left out: the schema cannot say "at most one of tip_percent / tip_sats" or
    # "staff_id must be yours", so schema-valid bodies get a documented 400/422 naming the field.
    case.validate_response(
        response,
        excluded_checks=[schemathesis.checks.ignored_auth, schemathesis.checks.positive_data_acceptance],
    )
    body = response.text
    assert a.paid.payment_hash not in body and a.pending.payment_hash not in body, case.formatted_path
    assert a.staff[0].blink_username not in body, case.formatted_path
    assert [row for row in money_snapshot() if a.merchant.pk in row or a.paid.pk == row[0]] == before


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@BOUNDED
def test_api_as_a_terminal(case: Any, shops: tuple[Shop, Shop]) -> None:
    a, b = shops
    _run(case, a, b, {"Authorization": f"Api-Key {b.key}"})


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@BOUNDED
def test_api_as_a_signed_in_merchant(case: Any, shops: tuple[Shop, Shop]) -> None:
    a, b = shops
    _run(case, a, b, _session_headers(b))
