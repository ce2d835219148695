"""GET /api/v1/invoices/{hash}/qr.svg: the picture encodes the invoice, only for its own merchant,
cacheable by the client until the invoice expires (ETag / 304), and the bolt11 never reaches Redis."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
import segno
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_redis import get_redis_connection

from payments.models import PaymentSplit
from payments.qr import invoice_qr_svg
from tests.payments.api.conftest import Shop

pytestmark = pytest.mark.django_db
URL = "/api/v1/invoices"


def create(api: Client, shop: Shop, **body: Any) -> dict[str, Any]:
    payload = {"amount_sats": 1500, "tip_percent": "10", "split_profile_id": shop.team.pk, **body}
    response = api.post(URL, data=json.dumps(payload), content_type="application/json", **shop.auth)
    assert response.status_code == 201, response.content
    return dict(response.json())


def qr_url(payment_hash: str) -> str:
    return f"{URL}/{payment_hash}/qr.svg"


def modules(svg: str) -> list[list[bool]]:
    """The dark modules drawn by the SVG (segno's one-path drawing: ``M``/``m`` moves, ``h`` runs of
    dark modules on the row at ``y - 0.5``), without the 2-module quiet zone."""
    size_px = int(re.search(r'width="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    scale = int(re.search(r"scale\((\d+)\)", svg).group(1))  # type: ignore[union-attr]
    size = size_px // scale - 4
    grid = [[False] * size for _ in range(size)]
    path = re.search(r'class="qrline"[^>]* d="([^"]+)"', svg).group(1)  # type: ignore[union-attr]
    x = y = 0.0
    for op, args in re.findall(r"([Mmh])([-\d. ]+)", path):
        numbers = [float(n) for n in args.split()]
        if op == "M":
            x, y = numbers
        elif op == "m":
            x, y = x + numbers[0], y + numbers[1]
        else:
            for col in range(int(x), int(x + numbers[0])):
                grid[int(y - 0.5) - 2][col - 2] = True
            x += numbers[0]
    return grid


def test_qr_encodes_lightning_uri_of_the_bolt11_in_upper_case(api: Client, shop: Shop) -> None:
    created = create(api, shop)
    response = api.get(created["qr_svg_url"], **shop.auth)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    svg = response.content.decode()
    # a standalone SVG document (namespace, no XML declaration), the same text the inline option gives
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and svg.endswith("</svg>")
    assert svg == invoice_qr_svg(created["payment_request"])
    # what is drawn is the QR code of LIGHTNING:<BOLT11> (alphanumeric mode, level M), module for module
    expected = segno.make_qr(f"LIGHTNING:{created['payment_request'].upper()}", error="m")
    assert expected.mode == "alphanumeric" and expected.error == "M"
    assert modules(svg) == [[bool(bit) for bit in row] for row in expected.matrix]
    # and not that of the lower-case text (the comparison above can tell them apart)
    lower = segno.make_qr(f"lightning:{created['payment_request']}", error="m")
    assert modules(svg) != [[bool(bit) for bit in row] for row in lower.matrix]


def test_client_may_cache_until_expiry_and_revalidate_with_the_etag(api: Client, shop: Shop) -> None:
    created = create(api, shop)
    split = PaymentSplit.objects.get(payment_hash=created["payment_hash"])
    first = api.get(created["qr_svg_url"], **shop.auth)
    until_expiry = (split.expires_at - timezone.now()).total_seconds()
    cache_control = first["Cache-Control"]
    assert cache_control.startswith("private, max-age=")
    assert until_expiry - 5 <= int(cache_control.removeprefix("private, max-age=")) <= until_expiry
    etag = first["ETag"]
    assert etag == f'"qr1-{split.payment_hash}"'
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = api.get(created["qr_svg_url"], HTTP_IF_NONE_MATCH=sent, **shop.auth)
        assert again.status_code == 304, sent
        assert again.content == b"" and again["ETag"] == etag
        assert again["Cache-Control"].startswith("private, max-age=")
    changed = api.get(created["qr_svg_url"], HTTP_IF_NONE_MATCH='"qr0-stale"', **shop.auth)
    assert changed.status_code == 200 and changed.content == first.content


def test_expired_invoice_is_not_cacheable(api: Client, shop: Shop) -> None:
    created = create(api, shop)
    PaymentSplit.objects.filter(payment_hash=created["payment_hash"]).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    response = api.get(created["qr_svg_url"], **shop.auth)
    assert response.status_code == 200 and response["Cache-Control"] == "private, max-age=0"


def test_upper_case_hash_is_the_same_invoice(api: Client, shop: Shop) -> None:
    created = create(api, shop)
    response = api.get(qr_url(created["payment_hash"].upper()), **shop.auth)
    assert response.status_code == 200
    assert response.content.decode() == invoice_qr_svg(created["payment_request"])
    assert response["ETag"] == f'"qr1-{created["payment_hash"]}"'


def test_client_accepting_only_svg_gets_the_picture_and_json_errors(api: Client, shop: Shop) -> None:
    created = create(api, shop)
    ok = api.get(created["qr_svg_url"], HTTP_ACCEPT="image/svg+xml", **shop.auth)
    assert ok.status_code == 200 and ok["Content-Type"] == "image/svg+xml"
    missing = api.get(qr_url("0" * 64), HTTP_ACCEPT="image/svg+xml", **shop.auth)
    assert missing.status_code == 404 and missing["Content-Type"] == "application/json"
    assert missing.json()["error"]["code"] == "not_found"
    assert missing["Cache-Control"] == "no-store, private"


def test_without_a_key_is_401(api: Client, shop: Shop) -> None:
    created = create(api, shop)
    for auth in ({}, {"HTTP_AUTHORIZATION": f"Api-Key bpos_{shop.terminal.key_prefix}_wrongsecret"}):
        response = api.get(created["qr_svg_url"], **auth)
        assert response.status_code == 401
        assert response.json()["error"]["code"] in {"not_authenticated", "authentication_failed"}
        assert created["payment_request"].encode() not in response.content


@pytest.mark.parametrize("which", ["other merchant", "unknown", "not a hash", "too short"])
def test_other_merchants_unknown_and_malformed_hashes_are_the_same_404(
    api: Client, shop: Shop, other_shop: Shop, which: str
) -> None:
    theirs = create(api, other_shop)
    payment_hash = {
        "other merchant": theirs["payment_hash"],
        "unknown": "ab" * 32,
        "not a hash": "z" * 64,
        "too short": theirs["payment_hash"][:63],
    }[which]
    response = api.get(qr_url(payment_hash), **shop.auth)
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found.", "fields": {}}}
    assert response["Cache-Control"] == "no-store, private"
    assert "ETag" not in response


@pytest.mark.usefixtures("inside_one_rate_window")
def test_throttled_like_the_other_invoice_endpoints(api: Client, shop: Shop, settings: Any) -> None:
    created = create(api, shop)
    settings.API_RATE_LIMITS = {"terminal": "2/min", "merchant": "100/min"}
    # fixed one-minute windows: within 6 requests the limit of 2 is passed even across a window edge
    responses = [api.get(created["qr_svg_url"], **shop.auth) for _ in range(6)]
    codes = [r.status_code for r in responses]
    assert 429 in codes and set(codes[: codes.index(429)]) == {200}, codes
    refused = responses[codes.index(429)]
    assert refused.json()["error"]["code"] == "rate_limited" and int(refused["Retry-After"]) >= 1


def test_signed_in_merchant_gets_the_same_picture_as_the_web_pos(api: Client, shop: Shop) -> None:
    created = create(api, shop)
    browser = Client()
    browser.force_login(shop.merchant.user)
    api_picture = browser.get(created["qr_svg_url"])
    web_pos_picture = browser.get(f"/pos/invoices/{created['payment_hash']}/qr.svg")
    assert api_picture.status_code == web_pos_picture.status_code == 200
    assert api_picture.content == web_pos_picture.content == invoice_qr_svg(created["payment_request"]).encode()


def test_one_query_and_no_bolt11_in_redis(api: Client, shop: Shop) -> None:
    created = create(api, shop, memo="table 9")
    api.get(created["qr_svg_url"], **shop.auth)  # auth record cached, terminal touched
    with CaptureQueriesContext(connection) as captured:
        assert api.get(created["qr_svg_url"], **shop.auth).status_code == 200
    assert len(captured.captured_queries) == 1, [q["sql"] for q in captured.captured_queries]
    # the picture is rendered on request, never cached: no Redis value holds the bolt11
    bolt11 = created["payment_request"].encode()
    for name in ("default", "hot"):
        redis = get_redis_connection(name)
        for key in redis.scan_iter("*"):
            kind = redis.type(key)
            values = (
                [redis.get(key)]
                if kind == b"string"
                else redis.lrange(key, 0, -1)
                if kind == b"list"
                else list(redis.hgetall(key).values())
                if kind == b"hash"
                else []
            )
            assert not any(v and (bolt11 in v or bolt11.upper() in v) for v in values), key
