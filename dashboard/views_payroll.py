"""The payroll and tax report (``/payroll/``): per period and per staff member, hours, tips earned,
tip-outs given and received, paid out and pending, in sats and in the display currency at each payout's
rate; as a page, CSV (a summary and one line per payout) and PDF. ``analytics.payroll`` computes it."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from analytics.payroll import payroll_report
from blinkpos.db_router import reads_from_replica
from dashboard.access import merchant_required
from dashboard.payroll_columns import LINE_COLUMNS, PAYROLL_COLUMNS
from dashboard.statement_pdf import payroll_pdf
from dashboard.views_staff import read_period
from payments.admin.common import csv_response, pdf_response
from payments.models import Merchant


def _name(kind: str, ext: str) -> str:
    return f"{kind}-{timezone.localdate():%Y%m%d}.{ext}"


@require_GET
@merchant_required
@reads_from_replica
def payroll(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    form, date_from, date_to, ok = read_period(request)
    context = {"nav": "payroll", "merchant": merchant, "form": form}
    if not ok:
        return render(request, "dashboard/payroll.html", context, status=400)
    context["report"] = payroll_report(merchant=merchant, date_from=date_from, date_to=date_to)
    context["query"] = request.GET.urlencode()
    return render(request, "dashboard/payroll.html", context)


@require_GET
@merchant_required
@reads_from_replica
def payroll_csv(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    """One row per staff member and a final "Total" row (``?lines=1``: one row per payout instead)."""
    form, date_from, date_to, ok = read_period(request)
    if not ok:
        return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain")
    lines = request.GET.get("lines", "0")
    if lines not in ("0", "1"):
        return HttpResponse("lines: 0 (one row per staff member) or 1 (one row per payout).", status=400)
    report = payroll_report(merchant=merchant, date_from=date_from, date_to=date_to)
    if lines == "1":
        return csv_response(_name("payroll-payouts", "csv"), LINE_COLUMNS, report.lines)
    return csv_response(_name("payroll", "csv"), PAYROLL_COLUMNS, [*report.rows, report.totals])


@require_GET
@merchant_required
@reads_from_replica
def payroll_pdf_view(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    form, date_from, date_to, ok = read_period(request)
    if not ok:
        return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain")
    report = payroll_report(merchant=merchant, date_from=date_from, date_to=date_to)
    return pdf_response(_name("payroll", "pdf"), payroll_pdf(report))
