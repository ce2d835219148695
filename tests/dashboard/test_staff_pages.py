"""A staff member's own pages: shifts, hours, per-sale and pooled tips, payouts with proof, adjustments
and statements (CSV, PDF); nobody else's data, and bad input refused naming the field."""

from __future__ import annotations

import csv
import io
import secrets
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from payments.models import (
    AdjustmentKind,
    LegStatus,
    Merchant,
    PaymentLeg,
    PayoutState,
    PayoutVia,
    PoolAllocation,
    Refund,
    RefundStatus,
    Staff,
    TipAdjustment,
)
from tests.dashboard.staff_support import Person, closed_shift, pdf_text, signed_in_client, tip_leg
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dana(merchant: Merchant) -> Staff:
    return StaffFactory(merchant=merchant, display_name="Dana", blink_username="dana")


@pytest.fixture
def eli(merchant: Merchant) -> Staff:
    return StaffFactory(merchant=merchant, display_name="Eli", blink_username="eli")


@pytest.fixture
def work(merchant: Merchant, dana: Staff, eli: Staff) -> dict[str, object]:
    mine = tip_leg(merchant, dana, tip=1000, rate=Decimal("2000"), status=LegStatus.SUCCEEDED)
    theirs = tip_leg(merchant, eli, tip=4321, rate=Decimal("2000"), status=LegStatus.SUCCEEDED)
    waiting = tip_leg(merchant, dana, tip=300, rate=Decimal("3000"), status=LegStatus.PENDING)
    shift = closed_shift(
        merchant,
        [Person(dana, seconds=9000, share=1500, adjustment=50), Person(eli, seconds=3600, share=500)],
        pooled=[(2000, Decimal("2000"))],
    )
    refund_line = TipAdjustment.objects.create(
        staff=dana, kind=AdjustmentKind.REFUNDED_TIP, amount_sats=-50, refund=_refund_for(mine)
    )
    return {
        "mine": mine,
        "theirs": theirs,
        "waiting": waiting,
        "shift": shift,
        "my_share": PoolAllocation.objects.get(shift=shift, staff=dana),
        "their_share": PoolAllocation.objects.get(shift=shift, staff=eli),
        "refund_line": refund_line,
    }


def _refund_for(leg: PaymentLeg) -> Refund:
    """A paid refund of the sale's tip (the refund flow itself is tests/payments/refunds')."""
    return Refund.objects.create(
        split=leg.split,
        merchant=leg.split.merchant,
        requested_by="merchant:test",
        amount_sats=100,
        base_part_sats=50,
        tip_part_sats=50,
        tip_refunded=True,
        reason="wrong order",
        status=RefundStatus.PAID,
        funding_payment_hash=secrets.token_hex(32),
        funding_external_id=f"refund-{uuid.uuid4().hex}",
        funding_payment_request="lnbc1fundingrequest",
        funding_expires_at=timezone.now() + timedelta(minutes=15),
        claim_token=secrets.token_urlsafe(24),
        claim_k1=secrets.token_hex(32),
        funded_at=timezone.now(),
        paid_at=timezone.now(),
        payout_via=PayoutVia.INVOICE,
        payout_state=PayoutState.SUCCEEDED,
        payout_request="lnbc1customerinvoice",
        payout_hash=secrets.token_hex(32),
        payout_preimage=secrets.token_hex(32),
    )


def test_home_shows_own_shifts_tips_payouts_and_adjustments(
    merchant: Merchant, dana: Staff, work: dict[str, object]
) -> None:
    client = signed_in_client(merchant, dana)
    html = client.get("/staff/").content.decode()
    mine, theirs = work["mine"], work["theirs"]
    assert mine.split.payment_hash[:11] in html  # type: ignore[attr-defined]
    assert theirs.split.payment_hash[:11] not in html and "4321" not in html  # type: ignore[attr-defined]
    assert f"pool share, shift {work['shift'].pk}" in html  # type: ignore[attr-defined]
    assert "2.50" in html  # hours: 9000 s
    assert "Main floor" in html
    # earned: 1000 + 300 + (1500 - 50); paid out 1000 + 1450
    assert "<strong>2750</strong>" in html and "<strong>2450</strong>" in html and "<strong>300</strong>" in html
    assert "a tip of yours was refunded to the customer" in html


def test_proof_pages_open_only_own_payouts(merchant: Merchant, dana: Staff, work: dict[str, object]) -> None:
    client = signed_in_client(merchant, dana)
    mine, theirs = work["mine"], work["theirs"]
    page = client.get(f"/staff/payouts/sale_tip/{mine.pk}/")  # type: ignore[attr-defined]
    assert page.status_code == 200
    assert mine.preimage in page.content.decode() and mine.payment_hash in page.content.decode()  # type: ignore[attr-defined]
    share = client.get(f"/staff/payouts/pool_share/{work['my_share'].pk}/")  # type: ignore[attr-defined]
    assert share.status_code == 200 and "1450 sats" in share.content.decode()

    assert client.get(f"/staff/payouts/sale_tip/{theirs.pk}/").status_code == 404  # type: ignore[attr-defined]
    assert client.get(f"/staff/payouts/pool_share/{work['their_share'].pk}/").status_code == 404  # type: ignore[attr-defined]
    assert client.get(f"/staff/payouts/other/{mine.pk}/").status_code == 404  # type: ignore[attr-defined]
    assert client.get("/staff/payouts/sale_tip/999999999/").status_code == 404


def test_statement_csv_holds_own_lines_only(merchant: Merchant, dana: Staff, work: dict[str, object]) -> None:
    client = signed_in_client(merchant, dana)
    # an id in the address names nobody: the statement is always the signed-in person's
    response = client.get(f"/staff/statement.csv?staff={work['theirs'].staff_id}")  # type: ignore[attr-defined]
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {r["staff_name"] for r in rows} == {"Dana"}
    assert sorted(int(r["amount_sats"]) for r in rows if r["standing"] != "adjustment") == [300, 1000, 1450]
    adjustment = next(r for r in rows if r["standing"] == "adjustment")
    assert adjustment["kind"] == "refunded_tip" and adjustment["amount_sats"] == "-50"
    paid = next(r for r in rows if r["reference"] == work["mine"].split.payment_hash)  # type: ignore[attr-defined]
    assert paid["preimage"] == work["mine"].preimage and paid["display_amount"] == "0.50"  # type: ignore[attr-defined]


def test_statement_pdf_holds_own_figures(merchant: Merchant, dana: Staff, work: dict[str, object]) -> None:
    client = signed_in_client(merchant, dana)
    response = client.get("/staff/statement.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    text = pdf_text(response.content)
    for figure in ("Tips statement: Dana", "2750", "2450", "1450", "pool share", "Refunded-tip adjustments"):
        assert figure in text, figure
    assert "4321" not in text and "Eli" not in text


@pytest.mark.parametrize(
    "url",
    [
        "/staff/?date_from=soon",
        "/staff/statement.csv?date_to=2026-02-30",
        "/staff/statement.pdf?date_from=2026-03-01&date_to=2026-02-01",
    ],
)
def test_bad_period_is_refused_naming_the_field(merchant: Merchant, dana: Staff, url: str) -> None:
    client = signed_in_client(merchant, dana)
    response = client.get(url)
    assert response.status_code == 400
    assert ("date_from" in response.content.decode()) or ("date_to" in response.content.decode())


def test_staff_pages_need_a_staff_session(client: Client) -> None:
    for url in ("/staff/", "/staff/statement.csv", "/staff/statement.pdf", "/staff/payouts/sale_tip/1/"):
        assert client.get(url)["Location"] == "/staff/login/", url


def test_proof_shows_the_blink_transaction_id_once_the_books_saw_it(
    merchant: Merchant, dana: Staff, work: dict[str, object]
) -> None:
    from payments.models import BooksRun, BooksTransaction

    mine = work["mine"]
    BooksTransaction.objects.create(
        blink_id="blink-tx-42",
        cursor="c42",
        created_at=timezone.now(),
        direction="SEND",
        status="SUCCESS",
        amount_sats=-1000,
        payment_hash=mine.payment_hash,  # type: ignore[attr-defined]
        leg=mine,
        first_run=BooksRun.objects.create(),
    )
    client = signed_in_client(merchant, dana)
    assert "blink-tx-42" in client.get(f"/staff/payouts/sale_tip/{mine.pk}/").content.decode()  # type: ignore[attr-defined]
    rows = list(csv.DictReader(io.StringIO(client.get("/staff/statement.csv").content.decode())))
    assert {r["blink_transaction_id"] for r in rows} == {"blink-tx-42", ""}
    assert [r["blink_transaction_id"] for r in rows].count("blink-tx-42") == 1
