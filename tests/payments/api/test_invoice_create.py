"""POST /api/v1/invoices against the fake Blink over real HTTP: the happy path, every bad input
(4xx naming the field, nothing at the provider, no row, no Redis key), provider failures and
idempotency."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fakeblink import FakeBlink
from payments.api.invoices import InvoiceCreateApi
from payments.models import IdempotencyRecord, PaymentEvent, PaymentLeg, PaymentSplit
from payments.qr import invoice_qr_svg
from payments.services.idempotency import request_fingerprint
from tests.payments.api.conftest import Shop, tip_keys

URL = "/api/v1/invoices"
# Most cases write nothing (or nothing that needs a commit) and run in a rolled-back transaction;
# the ones that check what happens after commit (the hot store key) are marked transactional.
pytestmark = pytest.mark.django_db
COMMITS = pytest.mark.django_db(transaction=True)


def post(api: Client, shop: Shop, body: Any, query: str = "", **headers: str) -> Any:
    return api.post(URL + query, data=json.dumps(body), content_type="application/json", **shop.auth, **headers)


def invoice_creates(fake: FakeBlink) -> int:
    return sum("lnInvoiceCreate" in r["operations"] for r in fake.requests())


def assert_nothing_written(fake: FakeBlink) -> None:
    assert invoice_creates(fake) == 0
    assert PaymentSplit.objects.count() == 0
    assert PaymentLeg.objects.count() == 0
    assert PaymentEvent.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0
    assert tip_keys() == []


@COMMITS
def test_create_fiat_with_team_tip_then_poll(api: Client, shop: Shop, fake_blink: FakeBlink) -> None:
    # given a USD merchant (fake price: 100 000 USD/BTC → 1000 sats per dollar) and a 60/40 team
    # when
    response = post(
        api, shop, {"amount_display": "6.50", "tip_percent": "15", "split_profile_id": shop.team.pk, "memo": "Table 4"}
    )
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["base_sats"] == 6500
    assert body["tip_sats"] == 975  # 15 % of 6500
    assert body["total_sats"] == 7475
    assert (body["display_currency"], body["base_display"], body["tip_display"], body["total_display"]) == (
        "USD", "6.50", "0.98", "7.48"
    )  # fmt: skip
    assert Decimal(body["sats_per_unit"]) == Decimal(1000)
    assert body["status"] == "pending"
    # the QR is a link, rendered on request, not part of the create (see test_invoice_qr.py)
    assert body["qr_svg_url"] == f"/api/v1/invoices/{body['payment_hash']}/qr.svg"
    assert "qr_svg" not in body
    assert body["payment_request"].startswith("ln")
    # built without the output serializer, so check it is exactly what the serializer would give
    assert body["tip_percent"] == "15.00"
    assert dict(InvoiceCreateApi.OutputSerializer(body).data) == body
    assert body["tip_recipient"] == "team:Floor"
    assert response["Cache-Control"] == "no-store, private"
    assert response["Location"].endswith(body["payment_hash"])

    # the invoice exists at the provider for the whole amount, with the split's external id
    split = PaymentSplit.objects.get(payment_hash=body["payment_hash"])
    remote = fake_blink.invoice(split.payment_hash)
    assert remote is not None and remote["amount_sats"] == 7475 and remote["status"] == "PENDING"
    assert remote["external_id"] == split.external_id
    assert split.terminal_id == shop.terminal.pk and split.sats_per_unit == Decimal(1000)
    legs = {leg.recipient_username: leg for leg in split.legs.all()}
    assert {u: (leg.kind, leg.amount) for u, leg in legs.items()} == {
        "shopa_owner": ("merchant", 6500),  # the base; the tip divides exactly (975 * 0.6 / 0.4)
        "shopa_alice": ("tip", 585),
        "shopa_bob": ("tip", 390),
    }
    assert sum(leg.amount for leg in legs.values()) == split.total_amount
    assert all(leg.status == "planned" and len(leg.external_id) == 32 for leg in legs.values())
    assert list(split.events.values_list("event_type", flat=True)) == ["created"]
    assert tip_keys() == [f"tip:{split.payment_hash}".encode()]

    # when the terminal polls
    poll = api.get(f"{URL}/{split.payment_hash}", **shop.auth)
    # then it sees the same amounts, uncacheable
    assert poll.status_code == 200
    assert poll["Cache-Control"] == "no-store, private"
    assert {k: poll.json()[k] for k in ("status", "total_sats", "tip_sats", "total_display")} == {
        "status": "pending", "total_sats": 7475, "tip_sats": 975, "total_display": "7.48"
    }  # fmt: skip


def test_create_in_sats_with_one_staff(api: Client, shop: Shop) -> None:
    response = post(api, shop, {"amount_sats": 1001, "tip_sats": 333, "staff_id": shop.alice.pk})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["base_sats"], body["tip_sats"], body["total_sats"]) == (1001, 333, 1334)
    assert body["base_display"] == "1.00" and body["tip_display"] == "0.33"  # 1001 sats at 1000 sats/USD
    split = PaymentSplit.objects.get(payment_hash=body["payment_hash"])
    assert sorted((leg.kind, leg.amount, leg.staff_id) for leg in split.legs.all()) == [
        ("merchant", 1001, None),
        ("tip", 333, shop.alice.pk),
    ]


def test_create_without_tip_has_only_the_merchant_leg(api: Client, shop: Shop) -> None:
    response = post(api, shop, {"amount_sats": 500})
    assert response.status_code == 201
    split = PaymentSplit.objects.get()
    assert (split.tip_amount, split.legs.count(), split.legs.get().kind) == (0, 1, "merchant")


def test_btc_display_currency_is_exact(api: Client, shop: Shop, fake_blink: FakeBlink) -> None:
    response = post(api, shop, {"amount_display": "0.00012345", "currency": "BTC"})
    assert response.status_code == 201, response.content
    assert response.json()["base_sats"] == 12345 and response.json()["base_display"] == "0.00012345"


def test_price_is_cached_in_redis_and_stored_on_the_split(api: Client, shop: Shop, fake_blink: FakeBlink) -> None:
    from django.core.cache import cache

    assert post(api, shop, {"amount_display": "1.00"}).status_code == 201
    assert cache.get("price:USD")["base"] > 0
    # when the provider's price changes, the cached one is still used within the TTL
    fake_blink.set_price("USD", Decimal("50000"))
    second = post(api, shop, {"amount_display": "1.00"}).json()
    assert second["base_sats"] == 1000
    assert sum("realtimePrice" in r["operations"] for r in fake_blink.requests()) == 1


def test_price_is_remembered_in_process_for_a_few_seconds_then_read_again(
    api: Client, shop: Shop, fake_blink: FakeBlink, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.core.cache import cache

    from payments.services import pricing

    clock = [1000.0]
    monkeypatch.setattr(pricing.time, "monotonic", lambda: clock[0])
    assert post(api, shop, {"amount_display": "1.00"}).json()["base_sats"] == 1000
    # Redis's copy changes (another process fetched a new price): this process keeps its own a moment
    cache.set("price:USD", {"currency": "USD", "base": 50_000_000_000, "offset": 12, "fraction_digits": 2})
    clock[0] += pricing.LOCAL_SECONDS - 0.1
    assert post(api, shop, {"amount_display": "1.00"}).json()["base_sats"] == 1000
    # then reads Redis again (a sat for 0.05 cent: 2000 sats for a dollar), without asking the provider
    clock[0] += 0.2
    assert post(api, shop, {"amount_display": "1.00"}).json()["base_sats"] == 2000
    assert sum("realtimePrice" in r["operations"] for r in fake_blink.requests()) == 1


def _staff_of(shop: Shop, other: Shop, which: str) -> int:
    if which == "unknown":
        return 987654
    if which == "deactivated":
        shop.bob.is_active = False
        shop.bob.save()
        return shop.bob.pk
    return other.alice.pk


BAD_INPUTS: list[tuple[str, Any, str]] = [
    ("zero", {"amount_sats": 0}, "amount_sats"),
    ("negative", {"amount_sats": -5}, "amount_sats"),
    ("fractional sats", {"amount_sats": 10.5}, "amount_sats"),
    ("non-numeric sats", {"amount_sats": "ten"}, "amount_sats"),
    ("boolean sats", {"amount_sats": True}, "amount_sats"),
    ("above cap", {"amount_sats": 10_000_001}, "amount_sats"),
    ("no amount", {"tip_sats": 5}, "amount_sats"),
    ("both amounts", {"amount_sats": 5, "amount_display": "1"}, "amount_sats"),
    ("zero display", {"amount_display": "0"}, "amount_display"),
    ("negative display", {"amount_display": "-1.00"}, "amount_display"),
    ("sub-cent display", {"amount_display": "1.234"}, "amount_display"),
    ("non-numeric display", {"amount_display": "1,50"}, "amount_display"),
    ("display above cap", {"amount_display": "20000"}, "amount_display"),
    ("fractional sat in BTC", {"amount_display": "0.000000015", "currency": "BTC"}, "amount_display"),
    ("tip percent negative", {"amount_sats": 1000, "tip_percent": "-1"}, "tip_percent"),
    ("tip percent above 100", {"amount_sats": 1000, "tip_percent": 100.01}, "tip_percent"),
    ("tip percent NaN string", {"amount_sats": 1000, "tip_percent": "NaN"}, "tip_percent"),
    ("tip percent non-numeric", {"amount_sats": 1000, "tip_percent": "lots"}, "tip_percent"),
    ("tip both ways", {"amount_sats": 1000, "tip_percent": "10", "tip_sats": 100}, "tip_percent"),
    ("tip above multiple", {"amount_sats": 1000, "tip_sats": 2001}, "tip_sats"),
    ("tip negative", {"amount_sats": 1000, "tip_sats": -1}, "tip_sats"),
    ("total above cap", {"amount_sats": 9_999_000, "tip_sats": 1001}, "tip_sats"),
    ("unknown currency", {"amount_display": "1", "currency": "XYZ"}, "currency"),
    ("unsupported currency", {"amount_display": "1", "currency": "JPY"}, "currency"),
    ("memo over 639 bytes", {"amount_sats": 1000, "memo": "é" * 320}, "memo"),
    ("unknown profile", {"amount_sats": 1000, "tip_sats": 1, "split_profile_id": 987654}, "split_profile_id"),
    ("typo field", {"amount": 1000}, "amount"),
    ("not an object", [1, 2], "non_field_errors"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_names_the_field_and_writes_nothing(
    api: Client, shop: Shop, fake_blink: FakeBlink, case: str, body: Any, field: str
) -> None:
    response = post(api, shop, body, HTTP_IDEMPOTENCY_KEY=f"bad-{case.replace(' ', '-')}")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert field in error["fields"], error
    assert_nothing_written(fake_blink)


@pytest.mark.parametrize("which", ["unknown", "deactivated", "other merchant"])
def test_staff_refusals_are_indistinguishable(
    api: Client, shop: Shop, other_shop: Shop, fake_blink: FakeBlink, which: str
) -> None:
    staff_id = _staff_of(shop, other_shop, which)
    response = post(api, shop, {"amount_sats": 1000, "tip_percent": "10", "staff_id": staff_id})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"staff_id": ["Unknown staff member."]}
    assert_nothing_written(fake_blink)


def test_other_merchants_profile_is_unknown(api: Client, shop: Shop, other_shop: Shop, fake_blink: FakeBlink) -> None:
    response = post(api, shop, {"amount_sats": 1000, "tip_sats": 10, "split_profile_id": other_shop.team.pk})
    assert response.json()["error"]["fields"] == {"split_profile_id": ["Unknown split profile."]}
    assert_nothing_written(fake_blink)


def test_nan_literal_names_the_field(api: Client, shop: Shop, fake_blink: FakeBlink) -> None:
    raw = '{"amount_sats": 1000, "tip_percent": NaN}'
    response = api.post(URL, data=raw, content_type="application/json", **shop.auth)
    assert response.status_code == 400
    assert "tip_percent" in response.json()["error"]["fields"]
    assert_nothing_written(fake_blink)


def test_malformed_json(api: Client, shop: Shop, fake_blink: FakeBlink) -> None:
    response = api.post(URL, data='{"amount_sats": 10', content_type="application/json", **shop.auth)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"
    assert_nothing_written(fake_blink)


def test_oversized_json_is_413_in_the_error_format(api: Client, shop: Shop, fake_blink: FakeBlink) -> None:
    body = json.dumps({"amount_sats": 1000, "memo": "x" * (70 * 1024)})
    response = api.post(URL, data=body, content_type="application/json", **shop.auth)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert_nothing_written(fake_blink)


@pytest.mark.parametrize(
    "auth",
    [
        {},
        {"HTTP_AUTHORIZATION": "Api-Key bpos_deadbeef_nosuchkey"},
        {"HTTP_AUTHORIZATION": "Api-Key not-a-key"},
        "revoked",
        "wrong secret",
    ],
    ids=["missing", "unknown", "garbage", "revoked", "wrong-secret"],
)
def test_bad_keys_are_401(api: Client, shop: Shop, fake_blink: FakeBlink, auth: Any) -> None:
    from payments.services.terminals import terminal_revoke

    if auth == "revoked":
        terminal_revoke(terminal=shop.terminal)
        auth = shop.auth
    elif auth == "wrong secret":
        auth = {"HTTP_AUTHORIZATION": f"Api-Key bpos_{shop.terminal.key_prefix}_wrongsecret"}
    response = api.post(URL, data=json.dumps({"amount_sats": 1000}), content_type="application/json", **auth)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"not_authenticated", "authentication_failed"}
    assert_nothing_written(fake_blink)


# Blink's rate limits (TOO_MANY_REQUEST, a gateway 429) are a 429 of their own: test_provider_limits.py.
@pytest.mark.parametrize("outcome", ["TIMEOUT", "HTTP_503", "TIMEOUT_AFTER_APPLY_SLEEP"])
def test_provider_failure_is_503_with_retry_after_and_nothing_written(
    api: Client, shop: Shop, fake_blink: FakeBlink, outcome: str
) -> None:
    fake_blink.script("lnInvoiceCreate", [outcome])
    response = post(api, shop, {"amount_sats": 1000, "tip_percent": "10"}, HTTP_IDEMPOTENCY_KEY="sale-1")
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "provider_unavailable"
    assert int(response["Retry-After"]) >= 1
    assert PaymentSplit.objects.count() == PaymentLeg.objects.count() == PaymentEvent.objects.count() == 0
    assert tip_keys() == []
    # the key is free again: the retry creates the invoice
    retry = post(api, shop, {"amount_sats": 1000, "tip_percent": "10"}, HTTP_IDEMPOTENCY_KEY="sale-1")
    assert retry.status_code == 201
    assert PaymentSplit.objects.count() == 1


def test_price_unavailable_is_503_and_nothing_written(api: Client, shop: Shop, fake_blink: FakeBlink) -> None:
    fake_blink.script("realtimePrice", ["TOO_MANY_REQUEST"])
    response = post(api, shop, {"amount_display": "5.00"})
    assert response.status_code == 503 and "Retry-After" in response
    assert_nothing_written(fake_blink)


def test_idempotent_replay_returns_the_first_response(api: Client, shop: Shop, fake_blink: FakeBlink) -> None:
    body = {"amount_sats": 2000, "tip_percent": "10", "staff_id": shop.alice.pk}
    first = post(api, shop, body, HTTP_IDEMPOTENCY_KEY="sale-42")
    # the same body with keys in another order is the same request
    again = post(api, shop, dict(reversed(list(body.items()))), HTTP_IDEMPOTENCY_KEY="sale-42")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert PaymentSplit.objects.count() == 1 and invoice_creates(fake_blink) == 1


def test_same_key_different_body_is_422(api: Client, shop: Shop, fake_blink: FakeBlink) -> None:
    assert post(api, shop, {"amount_sats": 2000}, HTTP_IDEMPOTENCY_KEY="sale-43").status_code == 201
    conflict = post(api, shop, {"amount_sats": 2001}, HTTP_IDEMPOTENCY_KEY="sale-43")
    assert conflict.status_code == 422
    assert conflict.json()["error"]["code"] == "idempotency_key_reused"
    assert PaymentSplit.objects.count() == 1 and invoice_creates(fake_blink) == 1


def test_idempotency_keys_are_per_merchant(api: Client, shop: Shop, other_shop: Shop) -> None:
    assert post(api, shop, {"amount_sats": 2000}, HTTP_IDEMPOTENCY_KEY="shared").status_code == 201
    response = post(api, other_shop, {"amount_sats": 2000}, HTTP_IDEMPOTENCY_KEY="shared")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert PaymentSplit.objects.count() == 2


def test_in_flight_key_is_409_until_stale(api: Client, shop: Shop) -> None:
    body = {"amount_sats": 2000}
    record = IdempotencyRecord.objects.create(
        merchant=shop.merchant,
        key="busy",
        request_fingerprint=request_fingerprint(method="POST", path=URL, body=body),
    )
    busy = post(api, shop, body, HTTP_IDEMPOTENCY_KEY="busy")
    assert busy.status_code == 409 and busy["Retry-After"] == "1"
    # a claim left by a crashed process is taken over after a while
    IdempotencyRecord.objects.filter(pk=record.pk).update(created_at=timezone.now() - timezone.timedelta(minutes=5))
    assert post(api, shop, body, HTTP_IDEMPOTENCY_KEY="busy").status_code == 201
    assert IdempotencyRecord.objects.get(pk=record.pk).response_status == 201


def test_session_user_of_a_merchant_can_create(shop: Shop, fake_blink: FakeBlink) -> None:
    client = Client()  # the web POS: session auth (CSRF is enforced by DRF for sessions)
    client.force_login(shop.merchant.user)
    response = client.post(URL, data=json.dumps({"amount_sats": 700}), content_type="application/json")
    assert response.status_code == 201
    assert PaymentSplit.objects.get().terminal_id is None


def test_user_without_merchant_is_403(fake_blink: FakeBlink) -> None:
    from tests.factories import UserFactory

    client = Client()
    client.force_login(UserFactory())
    response = client.get(URL)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def make_headers(shop: Shop) -> Callable[[], dict[str, str]]:
    return lambda: shop.auth


# --- the inline QR is opt-in (?include=qr_svg) -------------------------------------------------------


def test_include_qr_svg_puts_the_qr_inline(api: Client, shop: Shop) -> None:
    response = post(api, shop, {"amount_sats": 1000, "tip_percent": "10"}, query="?include=qr_svg")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["qr_svg"] == invoice_qr_svg(body["payment_request"])
    assert body["qr_svg"].startswith("<svg") and body["qr_svg"].endswith("</svg>")
    assert body["qr_svg_url"] == f"/api/v1/invoices/{body['payment_hash']}/qr.svg"
    assert dict(InvoiceCreateApi.OutputSerializer(body).data) == body


@pytest.mark.parametrize("query", ["?include=qr", "?include=", "?include=QR_SVG", "?include=qr_svg&include=legs"])
def test_unknown_include_is_400_naming_include_and_writes_nothing(
    api: Client, shop: Shop, fake_blink: FakeBlink, query: str
) -> None:
    response = post(api, shop, {"amount_sats": 1000}, query=query, HTTP_IDEMPOTENCY_KEY="sale-include")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_input"
    assert list(response.json()["error"]["fields"]) == ["include"]
    assert_nothing_written(fake_blink)


def test_bad_body_and_bad_include_are_named_together(api: Client, shop: Shop, fake_blink: FakeBlink) -> None:
    response = post(api, shop, {"amount_sats": 1000, "tip_sats": -1}, query="?include=nope")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"tip_sats", "include"}
    assert_nothing_written(fake_blink)


def test_replay_shapes_the_stored_answer_by_the_retry_include(api: Client, shop: Shop, fake_blink: FakeBlink) -> None:
    body = {"amount_sats": 2000, "tip_percent": "10"}
    first = post(api, shop, body, query="?include=qr_svg", HTTP_IDEMPOTENCY_KEY="sale-qr")
    assert first.status_code == 201 and "qr_svg" in first.json()
    # the record keeps the answer without the picture (the bolt11 is already in the split row)
    stored = IdempotencyRecord.objects.get(key="sale-qr").response_body
    assert "qr_svg" not in stored and stored["qr_svg_url"] == first.json()["qr_svg_url"]
    plain = post(api, shop, body, HTTP_IDEMPOTENCY_KEY="sale-qr")
    assert plain["Idempotent-Replayed"] == "true"
    assert plain.json() == {k: v for k, v in first.json().items() if k != "qr_svg"}
    inline = post(api, shop, body, query="?include=qr_svg", HTTP_IDEMPOTENCY_KEY="sale-qr")
    assert inline.json() == first.json()
    assert PaymentSplit.objects.count() == 1 and invoice_creates(fake_blink) == 1


def test_inactive_merchant_is_403_and_writes_nothing(api: Client, shop: Shop, fake_blink: FakeBlink) -> None:
    shop.merchant.is_active = False
    shop.merchant.save(update_fields=["is_active"])
    response = post(api, shop, {"amount_sats": 1000}, HTTP_IDEMPOTENCY_KEY="sale-403")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert_nothing_written(fake_blink)


# --- SQL per create: exact, so that an extra query is a failing test ------------------------------

# A terminal's create with a team tip, after the terminal's auth record is cached (as on every request
# but its first): terminal + merchant (one join), the profile's shares + profile + staff (one join),
# BEGIN, INSERT split, INSERT legs (one statement for all), INSERT event, COMMIT, and the hot store's
# after-commit check of the split's status (store.put).
CREATE_STATEMENTS = [
    'SELECT "terminals"',
    'SELECT "split_profile_shares"',
    "BEGIN",
    'INSERT INTO "payment_splits"',
    'INSERT INTO "payment_legs"',
    'INSERT INTO "payment_events"',
    "COMMIT",  # the hot-store SET follows with no read-back: a new split cannot have moved yet
]


def _statements(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries]


@COMMITS
def test_sql_statements_per_create(api: Client, shop: Shop) -> None:
    body = {"amount_sats": 1000, "tip_percent": "15", "split_profile_id": shop.team.pk, "memo": "bench"}
    assert post(api, shop, body).status_code == 201  # caches the terminal's auth record, touches it
    with CaptureQueriesContext(connection) as captured:
        assert post(api, shop, body).status_code == 201
    statements = _statements(captured)
    assert len(statements) == len(CREATE_STATEMENTS), statements
    assert all(s.startswith(p) for s, p in zip(statements, CREATE_STATEMENTS, strict=True)), statements


@COMMITS
def test_sql_statements_per_create_with_an_idempotency_key(api: Client, shop: Shop) -> None:
    body = {"amount_sats": 1000, "tip_percent": "15", "split_profile_id": shop.team.pk}
    assert post(api, shop, body, HTTP_IDEMPOTENCY_KEY="warm").status_code == 201
    with CaptureQueriesContext(connection) as captured:
        assert post(api, shop, body, HTTP_IDEMPOTENCY_KEY="sale-sql").status_code == 201
    statements = _statements(captured)
    # the claim is one INSERT (no transaction of its own), the stored answer one UPDATE
    expected = [
        CREATE_STATEMENTS[0],
        'INSERT INTO "idempotency_keys"',
        *CREATE_STATEMENTS[1:],
        'UPDATE "idempotency_keys"',
    ]
    assert len(statements) == len(expected), statements
    assert all(s.startswith(p) for s, p in zip(statements, expected, strict=True)), statements


@COMMITS
def test_claims_outside_a_transaction_replay_and_conflict(api: Client, shop: Shop, fake_blink: FakeBlink) -> None:
    # Requests run in autocommit, where the claim is a lone INSERT: a duplicate key must still replay
    # (or be a 422) and leave the connection usable for the rest of the request.
    body = {"amount_sats": 2000, "tip_percent": "10"}
    first = post(api, shop, body, HTTP_IDEMPOTENCY_KEY="auto-1")
    again = post(api, shop, body, HTTP_IDEMPOTENCY_KEY="auto-1")
    conflict = post(api, shop, {"amount_sats": 2001}, HTTP_IDEMPOTENCY_KEY="auto-1")
    assert (first.status_code, again.status_code, conflict.status_code) == (201, 201, 422)
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert post(api, shop, body, HTTP_IDEMPOTENCY_KEY="auto-2").status_code == 201
    assert PaymentSplit.objects.count() == 2 and invoice_creates(fake_blink) == 2
    assert IdempotencyRecord.objects.filter(response_status=201).count() == 2
