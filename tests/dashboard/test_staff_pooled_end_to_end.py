"""Done-when of shifts and pools, seen by staff and payroll: a merchant in pooled mode runs a shift with
three staff through the product's own services against the fake Blink over HTTP, closes it, each person
is paid their share once; each sees their share with its proof on their own page, and the payroll
report's paid-out totals equal the pool payouts."""

from __future__ import annotations

import hashlib
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from analytics.payroll import payroll_report
from fakeblink import FakeBlink
from payments.models import PoolPayout, PoolPayoutStatus, PoolRule, TipOut
from payments.services.pool_payouts import pool_payout_run
from payments.services.shift_close import shift_close_confirm, shift_close_preview
from tests.dashboard.staff_support import signed_in_client
from tests.payments.shifts.conftest import PooledShop, Sell, pooled_shop, sell, work  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def test_pooled_shift_is_paid_once_and_shows_on_staff_pages_and_payroll(
    fake_blink: FakeBlink,
    pooled_shop: PooledShop,  # noqa: F811
    sell: Sell,  # noqa: F811
) -> None:
    # given: kitchen tip-out 10 %, shared by hours; servers 6 h and 2 h, kitchen 4 h; 1000 sats of tips
    shop = pooled_shop
    rule = PoolRule.objects.create(merchant=shop.merchant, method="hours")
    TipOut.objects.create(rule=rule, role=shop.kitchen, percent_bps=1000)
    shift = work(shop, {0: 6, 1: 2, 2: 4})
    sales = [sell(base=2000, tip=600), sell(base=3000, tip=400)]

    # when: the merchant closes the shift and the payouts run (twice: nobody is paid twice)
    preview = shift_close_preview(merchant=shop.merchant, shift_id=shift.pk)
    shift_close_confirm(
        merchant=shop.merchant,
        shift_id=shift.pk,
        fingerprint=preview.fingerprint,
        as_of=preview.as_of.isoformat(),
        by="merchant:t",
    )
    for _ in range(2):
        for payout in PoolPayout.objects.filter(shift=shift).order_by("pk"):
            pool_payout_run(payout_id=payout.pk)

    # then: each person was paid their share once
    payouts = {p.staff_id: p for p in PoolPayout.objects.filter(shift=shift, staff__isnull=False)}
    assert {p.status for p in payouts.values()} == {PoolPayoutStatus.SUCCEEDED}
    assert [fake_blink.balance(s.wallet_id) for s in shop.staff] == [675, 225, 100]

    # each sees their own share with its proof, and nobody else's
    for member, amount in zip(shop.staff, (675, 225, 100), strict=True):
        client = signed_in_client(shop.merchant, member)
        html = client.get("/staff/").content.decode()
        assert f"pool share, shift {shift.pk}" in html and f"<strong>{amount}</strong>" in html
        payout = payouts[member.pk]
        assert payout.preimage and hashlib.sha256(bytes.fromhex(payout.preimage)).hexdigest() == payout.payment_hash
        share = client.get(f"/staff/payouts/pool_share/{payout.allocation_id}/").content.decode()
        assert payout.payment_hash in share and payout.preimage in share
        others = [p for p in payouts.values() if p.staff_id != member.pk]
        for other in others:
            assert client.get(f"/staff/payouts/pool_share/{other.allocation_id}/").status_code == 404

    # and the payroll report: paid out == the pool payouts, tip-outs given == received
    report = payroll_report(merchant=shop.merchant)
    rows = {r.staff_id: r for r in report.rows}
    assert report.totals.paid_out_sats == sum(p.amount_sats for p in payouts.values()) == 1000
    assert report.totals.tip_outs_received_sats == report.totals.tip_outs_given_sats == 100
    assert rows[shop.staff[2].pk].tip_outs_received_sats == 100
    assert [rows[s.pk].hours for s in shop.staff] == [Decimal("6.00"), Decimal("2.00"), Decimal("4.00")]
    # display currency: the sales were priced in USD; the pool's rate is its sats over their USD value
    assert {(s.display_currency, s.sats_per_unit) for s in sales} == {("USD", sales[0].sats_per_unit)}
    rate = sales[0].sats_per_unit
    assert rate is not None and rate > 0
    for member in shop.staff:
        expected = (Decimal(payouts[member.pk].amount_sats) / rate).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
        assert rows[member.pk].paid_out_display == expected
    assert report.totals.unconverted_sats == 0
