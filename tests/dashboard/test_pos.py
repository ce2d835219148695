"""The web POS endpoints: create (through the fake Blink), QR, cancel; validation and isolation."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from fakeblink import FakeBlink
from payments.models import Merchant, PaymentSplit, SplitStatus
from tests.factories import SplitProfileFactory, SplitProfileShareFactory, StaffFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_pos_page_offers_presets_staff_and_profiles(client_a: Client, merchant: Merchant, staff_a: object) -> None:
    profile = SplitProfileFactory(merchant=merchant, name="Floor team")
    StaffFactory(merchant=merchant, display_name="Gone", is_active=False)
    body = client_a.get(reverse("dashboard:pos")).content.decode()
    assert 'data-tip="15"' in body and "Dana" in body and f"profile:{profile.pk}" in body
    assert "Gone" not in body
    assert "dashboard/pos.js" in body


def test_create_invoice_in_sats_with_tip_for_staff(
    fake_blink: FakeBlink, client_a: Client, merchant: Merchant, staff_a: object
) -> None:
    response = client_a.post(
        reverse("dashboard:pos-create"), {"unit": "sats", "amount": "2000", "tip_percent": "15", "staff": staff_a.pk}
    )
    assert response.status_code == 201, response.content
    data = response.json()
    split = PaymentSplit.objects.get(payment_hash=data["paymentHash"])
    assert split.merchant == merchant and split.staff == staff_a
    assert (data["baseAmount"], data["tipAmount"], data["totalAmount"]) == (2000, 300, 2300)
    assert data["statusUrl"] == f"/api/v1/invoices/{split.payment_hash}"
    qr = client_a.get(data["qrUrl"])
    assert qr["Content-Type"] == "image/svg+xml" and b"<svg" in qr.content


def test_create_invoice_in_display_currency(fake_blink: FakeBlink, client_a: Client, merchant: Merchant) -> None:
    response = client_a.post(reverse("dashboard:pos-create"), {"unit": "display", "amount": "4.50", "tip_percent": ""})
    assert response.status_code == 201, response.content
    split = PaymentSplit.objects.get(payment_hash=response.json()["paymentHash"])
    assert split.display_currency == "USD" and split.tip_amount == 0 and split.total_amount > 0


def test_team_tip_through_a_split_profile(fake_blink: FakeBlink, client_a: Client, merchant: Merchant) -> None:
    profile = SplitProfileFactory(merchant=merchant)
    SplitProfileShareFactory(profile=profile, staff=StaffFactory(merchant=merchant), weight_bps=10_000)
    response = client_a.post(
        reverse("dashboard:pos-create"),
        {"unit": "sats", "amount": "1000", "tip_percent": "10", "split_profile": profile.pk},
    )
    assert response.status_code == 201, response.content
    assert PaymentSplit.objects.get().split_profile == profile


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"unit": "sats", "amount": "0"}, "amount"),
        ({"unit": "sats", "amount": "12.5"}, "amount"),
        ({"unit": "sats", "amount": "abc"}, "amount"),
        ({"unit": "bitcoins", "amount": "10"}, "unit"),
        ({"unit": "sats", "amount": "100", "tip_percent": "101"}, "tip_percent"),
        ({"unit": "sats", "amount": "100", "tip_percent": "-1"}, "tip_percent"),
        ({"unit": "sats", "amount": "99999999999"}, "amount"),
        ({"unit": "sats", "amount": "100", "memo": "x" * 201}, "memo"),
    ],
)
def test_invalid_sale_is_a_400_naming_the_field_and_writes_nothing(
    client_a: Client, payload: dict[str, str], field: str
) -> None:
    response = client_a.post(reverse("dashboard:pos-create"), payload)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not PaymentSplit.objects.exists()


def test_a_service_refusal_lands_on_the_form_field(fake_blink: FakeBlink, client_a: Client, settings: object) -> None:
    settings.MAX_INVOICE_SATS = 1000  # type: ignore[attr-defined]
    response = client_a.post(reverse("dashboard:pos-create"), {"unit": "sats", "amount": "900", "tip_percent": "20"})
    assert response.status_code == 400
    assert "tip_percent" in response.json()["error"]["fields"]  # the service's "amount plus tip" limit
    assert not PaymentSplit.objects.exists()


def test_another_merchants_staff_is_an_invalid_choice(client_a: Client, other_merchant: Merchant) -> None:
    foreign = StaffFactory(merchant=other_merchant)
    response = client_a.post(reverse("dashboard:pos-create"), {"unit": "sats", "amount": "100", "staff": foreign.pk})
    assert response.status_code == 400
    assert "staff" in response.json()["error"]["fields"]
    assert not PaymentSplit.objects.exists()


def test_create_needs_csrf(csrf_client_a: Client) -> None:
    response = csrf_client_a.post(reverse("dashboard:pos-create"), {"unit": "sats", "amount": "100"})
    assert response.status_code == 403
    assert not PaymentSplit.objects.exists()


def test_provider_away_is_a_503_with_retry_after_and_writes_nothing(fake_blink: FakeBlink, client_a: Client) -> None:
    fake_blink.script("lnInvoiceCreate", ["TIMEOUT"])
    response = client_a.post(reverse("dashboard:pos-create"), {"unit": "sats", "amount": "500"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "provider_unavailable"
    assert int(response["Retry-After"]) >= 1
    assert not PaymentSplit.objects.exists()


def test_cancel_a_pending_invoice(fake_blink: FakeBlink, client_a: Client) -> None:
    data = client_a.post(reverse("dashboard:pos-create"), {"unit": "sats", "amount": "500"}).json()
    response = client_a.post(data["cancelUrl"])
    assert response.status_code == 200
    assert PaymentSplit.objects.get().status == SplitStatus.CANCELLED


def test_cancelling_a_paid_invoice_is_a_409(fake_blink: FakeBlink, client_a: Client) -> None:
    data = client_a.post(reverse("dashboard:pos-create"), {"unit": "sats", "amount": "500"}).json()
    PaymentSplit.objects.update(status=SplitStatus.PAID)
    response = client_a.post(data["cancelUrl"])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_cancellable"
    assert PaymentSplit.objects.get().status == SplitStatus.PAID


def test_qr_and_cancel_of_another_merchants_invoice_are_404(
    fake_blink: FakeBlink, client_a: Client, other_merchant: Merchant
) -> None:
    data = client_a.post(reverse("dashboard:pos-create"), {"unit": "sats", "amount": "500"}).json()
    intruder = Client()
    intruder.force_login(other_merchant.user)
    assert intruder.get(data["qrUrl"]).status_code == 404
    assert intruder.post(data["cancelUrl"]).status_code == 404
    assert PaymentSplit.objects.get().status == SplitStatus.PENDING
