"""Pay codes' LNURL-pay endpoints against the fake Blink over HTTP: the payRequest (LUD-06/16), the
callback's invoice (description hash = SHA-256 of the metadata, on the platform wallet), a static tip
code's payment forwarded to the right staff, and every bad input refused with a 4xx naming the field
and nothing written."""

from __future__ import annotations

import json
from collections.abc import Callable

import bolt11
import pytest
from django.test import Client

from fakeblink import FakeBlink
from payments.lnurl.invoice_check import metadata_hash
from payments.models import PayCode, PaymentLeg, PaymentSplit, SplitKind, SplitStatus
from payments.provider_limits import invoice_block_key
from payments.services.detection import payment_detected
from payments.services.forwarding import forward_split
from payments.services.paycodes import paycode_create, paycode_deactivate
from tests.payments.api.conftest import Shop

pytestmark = pytest.mark.django_db

HOST = "127.0.0.1:8000"


def _get(client: Client, url: str) -> tuple[int, dict]:
    response = client.get(url, HTTP_HOST=HOST)
    return response.status_code, json.loads(response.content)


def _pay_request(client: Client, username: str) -> dict:
    status, body = _get(client, f"/.well-known/lnurlp/{username}")
    assert status == 200, body
    return body


def _callback(client: Client, pay_request: dict, amount_msat: int | str) -> tuple[int, dict]:
    path = pay_request["callback"].split(HOST, 1)[1]
    return _get(client, f"{path}?amount={amount_msat}")


def _pay_and_forward(fake: FakeBlink, bolt: str) -> PaymentSplit:
    payment_hash = bolt11.decode(bolt).payment_hash
    fake.pay_invoice_as_customer(payment_hash)
    split = PaymentSplit.objects.get(payment_hash=payment_hash)
    assert payment_detected(payment_hash=payment_hash, amount_sats=split.total_amount, source="test") == "paid"
    assert forward_split(split_id=split.pk) == "completed"
    split.refresh_from_db()
    return split


def test_pay_request_serves_lud06_and_lud16_fields(shop: Shop, api: Client) -> None:
    # given a staff tip code
    code = paycode_create(merchant=shop.merchant, kind="staff", username="Alice.Tips", staff=shop.alice)

    # when a wallet reads the address (any case) and the LUD-06 URL
    body = _pay_request(api, "alice.tips")
    status, by_id = _get(api, f"/lnurlp/{code.pk}")

    # then both serve the same payRequest: bounds in msat, metadata with text and identifier
    assert status == 200 and by_id == body
    assert body["tag"] == "payRequest"
    assert body["callback"] == f"http://{HOST}/lnurlp/{code.pk}/callback"
    assert (body["minSendable"], body["maxSendable"]) == (1000, code.max_sendable_sats * 1000)
    metadata = dict(json.loads(body["metadata"]))
    assert metadata["text/identifier"] == f"alice.tips@{HOST}"
    assert shop.alice.display_name in metadata["text/plain"]


def test_public_host_setting_makes_lnurls_https(shop: Shop, api: Client, settings) -> None:
    settings.PAYCODE_HOST = "pos.example.com"
    paycode_create(merchant=shop.merchant, kind="merchant", username="shop")
    body = _pay_request(api, "shop")
    assert body["callback"].startswith("https://pos.example.com/lnurlp/")
    assert dict(json.loads(body["metadata"]))["text/identifier"] == "shop@pos.example.com"


def test_static_tip_code_payment_is_forwarded_to_that_staff_member(
    shop: Shop, api: Client, fake_blink: FakeBlink
) -> None:
    # given Alice's tip code
    paycode_create(merchant=shop.merchant, kind="staff", username="alice", staff=shop.alice)
    pay_request = _pay_request(api, "alice")

    # when a customer asks for 2 100 sats and pays
    status, body = _callback(api, pay_request, 2_100_000)
    assert status == 200, body
    assert body["routes"] == []
    decoded = bolt11.decode(body["pr"])
    split = _pay_and_forward(fake_blink, body["pr"])

    # then the invoice honours LUD-06 and the whole amount went to Alice, none to the merchant
    assert decoded.amount_msat == 2_100_000
    assert decoded.description_hash == metadata_hash(pay_request["metadata"])
    assert split.kind == SplitKind.TIP_ONLY and (split.base_amount, split.tip_amount) == (0, 2100)
    assert split.status == SplitStatus.COMPLETED and split.staff_id == shop.alice.pk
    legs = list(PaymentLeg.objects.filter(split=split))
    assert [(leg.kind, leg.staff_id, leg.amount) for leg in legs] == [("tip", shop.alice.pk, 2100)]
    assert fake_blink.balance(shop.alice.wallet_id) == 2100
    assert fake_blink.balance(shop.bob.wallet_id) == 0
    assert fake_blink.balance(shop.merchant.wallet_id) == 0


def test_team_code_splits_by_profile_and_merchant_code_is_a_sale(
    shop: Shop, api: Client, fake_blink: FakeBlink
) -> None:
    paycode_create(merchant=shop.merchant, kind="team", username="floor", split_profile=shop.team)
    paycode_create(merchant=shop.merchant, kind="merchant", username="shopa")

    _, team_invoice = _callback(api, _pay_request(api, "floor"), 1_001_000)
    team_split = _pay_and_forward(fake_blink, team_invoice["pr"])
    _, sale_invoice = _callback(api, _pay_request(api, "shopa"), 5_000_000)
    sale = _pay_and_forward(fake_blink, sale_invoice["pr"])

    # 60/40 of 1001 sats by largest remainder; the merchant code is base only
    assert (fake_blink.balance(shop.alice.wallet_id), fake_blink.balance(shop.bob.wallet_id)) == (601, 400)
    assert team_split.split_profile_id == shop.team.pk and team_split.kind == SplitKind.TIP_ONLY
    assert sale.kind == SplitKind.PAYCODE and (sale.base_amount, sale.tip_amount) == (5000, 0)
    assert fake_blink.balance(shop.merchant.wallet_id) == 5000


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        ("", "amount: required"),
        ("abc", "amount: must be a whole number"),
        ("-1000", "amount: must be a whole number"),
        ("1500", "amount: must be a multiple of 1000"),
        ("1e6", "amount: must be a whole number"),
        ("0", "amount: must be between"),
        ("5000000000", "amount: must be between"),
    ],
)
def test_callback_refuses_bad_amounts_and_writes_nothing(
    shop: Shop, api: Client, fake_blink: FakeBlink, amount: str, reason: str
) -> None:
    paycode_create(merchant=shop.merchant, kind="staff", username="alice", staff=shop.alice, max_sendable_sats=100_000)
    requests_before = fake_blink.request_count
    status, body = _callback(api, _pay_request(api, "alice"), amount)
    assert status == 400
    assert body["status"] == "ERROR" and body["reason"].startswith(reason)
    assert not PaymentSplit.objects.exists()
    assert fake_blink.request_count == requests_before  # nothing asked of Blink either


def test_missing_amount_parameter_names_the_field(shop: Shop, api: Client) -> None:
    code = paycode_create(merchant=shop.merchant, kind="merchant", username="shopa")
    status, body = _get(api, f"/lnurlp/{code.pk}/callback")
    assert status == 400 and body == {"status": "ERROR", "reason": "amount: required, in millisatoshis."}
    assert not PaymentSplit.objects.exists()


def test_unknown_and_deactivated_codes_answer_lud_errors(shop: Shop, api: Client) -> None:
    code = paycode_create(merchant=shop.merchant, kind="merchant", username="shopa")
    pay_request = _pay_request(api, "shopa")
    paycode_deactivate(pay_code=code)

    for url in ("/.well-known/lnurlp/shopa", f"/lnurlp/{code.pk}", "/.well-known/lnurlp/nobody"):
        status, body = _get(api, url)
        assert status == 404 and body == {"status": "ERROR", "reason": "username: no such pay code."}
    status, body = _callback(api, pay_request, 1000)
    assert status == 404 and body["status"] == "ERROR"
    status, body = _get(api, "/.well-known/lnurlp/" + "a" * 65)
    assert status == 400 and body["reason"].startswith("username:")
    assert not PaymentSplit.objects.exists()


def test_deactivated_staff_member_refuses_with_the_field(shop: Shop, api: Client) -> None:
    from payments.services.parties import staff_deactivate

    paycode_create(merchant=shop.merchant, kind="staff", username="alice", staff=shop.alice)
    pay_request = _pay_request(api, "alice")
    staff_deactivate(staff=shop.alice)
    status, body = _callback(api, pay_request, 1000)
    assert status == 400 and body["reason"].startswith("staff_id:")
    assert not PaymentSplit.objects.exists()


def test_callback_respects_the_platform_invoice_block(shop: Shop, api: Client, fake_blink: FakeBlink) -> None:
    from django_redis import get_redis_connection

    paycode_create(merchant=shop.merchant, kind="merchant", username="shopa")
    pay_request = _pay_request(api, "shopa")
    get_redis_connection("default").set(invoice_block_key(None), "1", ex=120)
    status, body = _callback(api, pay_request, 1000)
    assert status == 429 and body["status"] == "ERROR"
    assert not PaymentSplit.objects.exists()


def test_callback_is_rate_limited_per_code(
    shop: Shop, api: Client, settings, inside_one_rate_window: None, fake_blink: FakeBlink
) -> None:
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "paycode": "2/min"}
    paycode_create(merchant=shop.merchant, kind="merchant", username="shopa")
    pay_request = _pay_request(api, "shopa")
    assert [_callback(api, pay_request, 1000)[0] for _ in range(3)] == [200, 200, 429]
    assert PaymentSplit.objects.count() == 2


def test_blink_rate_limit_on_create_is_a_lud_error(shop: Shop, api: Client, fake_blink: FakeBlink) -> None:
    paycode_create(merchant=shop.merchant, kind="merchant", username="shopa")
    pay_request = _pay_request(api, "shopa")
    fake_blink.script("lnInvoiceCreateOnBehalfOfRecipient", ["TOO_MANY_REQUEST"])
    status, body = _callback(api, pay_request, 1000)
    assert status == 429 and body["status"] == "ERROR"
    assert not PaymentSplit.objects.exists()


def test_pay_code_names_are_unique_whatever_the_case(make_shop: Callable[[str], Shop]) -> None:
    from django.core.exceptions import ValidationError

    first, second = make_shop("one"), make_shop("two")
    paycode_create(merchant=first.merchant, kind="merchant", username="cafe")
    with pytest.raises(ValidationError) as exc:
        paycode_create(merchant=second.merchant, kind="merchant", username="CAFE")
    assert "username" in exc.value.message_dict
    assert PayCode.objects.count() == 1


@pytest.mark.parametrize("code_id", ["abc", "null,null", "²", "9" * 30, "-1"])
def test_malformed_code_ids_get_the_lud_404(api: Client, code_id: str) -> None:
    for url in (f"/lnurlp/{code_id}", f"/lnurlp/{code_id}/callback?amount=1000"):
        status, body = _get(api, url)
        assert status == 404 and body["status"] == "ERROR", url
    assert not PaymentSplit.objects.exists()
