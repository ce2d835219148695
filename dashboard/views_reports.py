"""Transactions, tips per staff with statements, the end-of-day report and charts; CSV exports."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from analytics.charts import Series, bar_chart
from analytics.merchant_reports import daily_totals, day_bounds, end_of_day, staff_statement, tips_by_staff
from blinkpos.db_router import reads_from_replica
from dashboard.access import merchant_required
from dashboard.forms import DayForm, PeriodForm, TransactionFilterForm
from dashboard.selectors import split_detail, staff_get
from payments import selectors
from payments.admin.common import csv_response
from payments.models import Merchant, PaymentSplit, Refund, RefundStatus
from payments.receipts.document import RECEIPT_STATUSES
from payments.refund_selectors import TipAdjustmentLine, refunds_for_merchant
from payments.services.receipts import receipt_token_ensure

TRANSACTION_COLUMNS = [
    ("created_at", lambda s: s.created_at.isoformat()),
    ("paid_at", lambda s: s.paid_at.isoformat() if s.paid_at else ""),
    ("payment_hash", lambda s: s.payment_hash),
    ("status", lambda s: s.status),
    ("total_sats", lambda s: s.total_amount),
    ("base_sats", lambda s: s.base_amount),
    ("tip_sats", lambda s: s.tip_amount),
    ("tip_percent", lambda s: s.tip_percent),
    ("tip_recipient", lambda s: s.tip_recipient),
    ("display_currency", lambda s: s.display_currency),
    ("base_display", lambda s: s.base_amount_display),
    ("tip_display", lambda s: s.tip_amount_display),
    ("memo", lambda s: s.memo),
    ("refunded_sats", lambda s: s.refunded_sats or 0),
    # sale, tip_only (a pay code's tip or one added from a receipt) or paycode (a merchant code's sale)
    ("kind", lambda s: s.kind),
]

REFUND_COLUMNS = [
    ("created_at", lambda r: r.created_at.isoformat()),
    ("refund_id", lambda r: r.pk),
    ("sale_payment_hash", lambda r: r.split.payment_hash),
    ("amount_sats", lambda r: r.amount_sats),
    ("base_part_sats", lambda r: r.base_part_sats),
    ("tip_part_sats", lambda r: r.tip_part_sats),
    ("tip_refunded", lambda r: r.tip_refunded),
    ("reason", lambda r: r.reason),
    ("status", lambda r: r.status),
    ("requested_by", lambda r: r.requested_by),
    ("funded_at", lambda r: r.funded_at.isoformat() if r.funded_at else ""),
    ("paid_at", lambda r: r.paid_at.isoformat() if r.paid_at else ""),
    ("payout_via", lambda r: r.payout_via),
    ("payout_payment_hash", lambda r: r.payout_hash or ""),
    ("payout_fee_sats", lambda r: r.payout_fee_sats if r.payout_fee_sats is not None else ""),
]


def _leg(fn: Any) -> Any:
    """A statement column for tip legs; adjustment lines leave it empty."""
    return lambda row: "" if isinstance(row, TipAdjustmentLine) else fn(row)


STATEMENT_COLUMNS = [
    ("line", lambda row: row.kind if isinstance(row, TipAdjustmentLine) else "tip"),
    (
        "paid_at",
        lambda row: (
            row.created_at.isoformat()
            if isinstance(row, TipAdjustmentLine)
            else (row.split.paid_at.isoformat() if row.split.paid_at else "")
        ),
    ),
    (
        "sale_payment_hash",
        lambda row: row.sale_payment_hash if isinstance(row, TipAdjustmentLine) else row.split.payment_hash,
    ),
    ("tip_sats", lambda row: row.amount_sats if isinstance(row, TipAdjustmentLine) else row.amount),
    ("status", _leg(lambda leg: leg.status)),
    ("payout_payment_hash", _leg(lambda leg: leg.payment_hash or "")),
    ("preimage", _leg(lambda leg: leg.preimage)),
    ("fee_sats", _leg(lambda leg: leg.fee_sats if leg.fee_sats is not None else "")),
    ("paid_out_at", _leg(lambda leg: leg.succeeded_at.isoformat() if leg.succeeded_at else "")),
]


def _bad_filters(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    return render(request, template, context, status=400)


def _filtered(request: HttpRequest, merchant: Merchant) -> tuple[TransactionFilterForm, Any]:
    form = TransactionFilterForm(request.GET or None, merchant=merchant)
    if request.GET and not form.is_valid():
        return form, None
    data = form.cleaned_data if request.GET else {}
    date_from, date_to = data.get("date_from"), data.get("date_to")
    qs = selectors.split_list(
        merchant_id=merchant.pk,
        status=data.get("status") or "",
        created_from=day_bounds(date_from)[0] if date_from else None,
        created_to=day_bounds(date_to)[1] if date_to else None,  # the whole last day
        staff_id=data["staff"].pk if data.get("staff") else None,
        search=(data.get("q") or "").strip(),
    )
    return form, qs


@require_GET
@merchant_required
@reads_from_replica
def transactions(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    form, qs = _filtered(request, merchant)
    context: dict[str, Any] = {"nav": "transactions", "merchant": merchant, "form": form}
    if qs is None:
        return _bad_filters(request, "dashboard/transactions.html", context)
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context.update({"page": page, "query": query.urlencode(), "receipt_statuses": RECEIPT_STATUSES})
    return render(request, "dashboard/transactions.html", context)


@require_GET
@merchant_required
@reads_from_replica
def transactions_csv(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    form, qs = _filtered(request, merchant)
    if qs is None:
        return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain")
    refunded = Refund.objects.filter(split=OuterRef("pk"), status=RefundStatus.PAID).values("split")
    qs = qs.annotate(refunded_sats=Subquery(refunded.annotate(total=Sum("amount_sats")).values("total")[:1]))
    return csv_response(f"transactions-{timezone.localdate():%Y%m%d}.csv", TRANSACTION_COLUMNS, qs.iterator())


@require_GET
@merchant_required
@reads_from_replica
def refunds_csv(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    """Every refund created in the period (all statuses: the status column says where each one is)."""
    form, date_from, date_to = _period(request)
    if request.GET and not form.is_valid():
        return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain")
    rows = refunds_for_merchant(
        merchant_id=merchant.pk,
        since=day_bounds(date_from)[0] if date_from else None,
        until=day_bounds(date_to)[1] if date_to else None,
    )
    return csv_response(f"refunds-{timezone.localdate():%Y%m%d}.csv", REFUND_COLUMNS, rows.iterator())


@require_GET
@merchant_required
def transaction_detail(request: HttpRequest, merchant: Merchant, payment_hash: str) -> HttpResponse:
    context = split_detail(merchant=merchant, payment_hash=payment_hash)
    split = context["split"]
    # Reprinting any paid sale: rows written without a token (raw SQL) get one now.
    receipt_token = receipt_token_ensure(split=split) if split.status in RECEIPT_STATUSES else None
    return render(
        request,
        "dashboard/transaction_detail.html",
        {"nav": "transactions", "receipt_token": receipt_token, **context},
    )


def _period(request: HttpRequest) -> tuple[PeriodForm, date | None, date | None]:
    form = PeriodForm(request.GET or None)
    if request.GET and form.is_valid():
        return form, form.cleaned_data.get("date_from"), form.cleaned_data.get("date_to")
    return form, None, None


@require_GET
@merchant_required
@reads_from_replica
def tips(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    form, date_from, date_to = _period(request)
    context = {
        "nav": "tips",
        "form": form,
        "rows": tips_by_staff(merchant=merchant, date_from=date_from, date_to=date_to),
    }
    if request.GET and not form.is_valid():
        return _bad_filters(request, "dashboard/tips.html", context)
    context["query"] = request.GET.urlencode()
    return render(request, "dashboard/tips.html", context)


@require_GET
@merchant_required
@reads_from_replica
def statement(request: HttpRequest, merchant: Merchant, staff_id: int) -> HttpResponse:
    form, date_from, date_to = _period(request)
    staff = staff_get(merchant=merchant, staff_id=staff_id)
    data = staff_statement(merchant=merchant, staff=staff, date_from=date_from, date_to=date_to)
    if request.GET and not form.is_valid():
        return _bad_filters(request, "dashboard/statement.html", {"nav": "tips", "form": form, **data})
    return render(
        request, "dashboard/statement.html", {"nav": "tips", "form": form, "query": request.GET.urlencode(), **data}
    )


@require_GET
@merchant_required
@reads_from_replica
def statement_csv(request: HttpRequest, merchant: Merchant, staff_id: int) -> HttpResponse:
    form, date_from, date_to = _period(request)
    if request.GET and not form.is_valid():
        return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain")
    staff = staff_get(merchant=merchant, staff_id=staff_id)
    data = staff_statement(merchant=merchant, staff=staff, date_from=date_from, date_to=date_to)
    rows = [*data["legs"], *data["adjustments"]]
    return csv_response(f"tips-{data['staff'].blink_username}.csv", STATEMENT_COLUMNS, rows)


@require_GET
@merchant_required
@reads_from_replica
def report(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    form = DayForm(request.GET or None)
    if request.GET and not form.is_valid():
        return render(request, "dashboard/report.html", {"nav": "report", "form": form}, status=400)
    day = (form.cleaned_data.get("day") if request.GET else None) or timezone.localdate()
    return render(
        request, "dashboard/report.html", {"nav": "report", "form": form, **end_of_day(merchant=merchant, day=day)}
    )


@require_GET
@merchant_required
@reads_from_replica
def charts(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    days = daily_totals(merchant=merchant, days=14)
    daily = bar_chart(
        labels=[d["date"].strftime("%d %b") for d in days],
        series=[
            Series(name="sales", values=[d["volume"] for d in days]),
            Series(name="tips", values=[d["tips"] for d in days]),
        ],
        title="Paid sales and tips per day",
    )
    staff_rows = [t for t in tips_by_staff(merchant=merchant) if t.earned]
    by_staff = bar_chart(
        labels=[t.staff.display_name for t in staff_rows],
        series=[Series(name="tips earned", values=[t.earned for t in staff_rows])],
        title="Tips by staff",
    )
    return render(
        request,
        "dashboard/charts.html",
        {
            "nav": "charts",
            "daily": daily,
            "by_staff": by_staff,
            "has_sales": PaymentSplit.objects.filter(merchant=merchant).exists(),
        },
    )
