"""The staff member's own pages (``/staff/``): shifts and hours, tips earned per sale or pooled, payouts
with their proof, refunded-tip adjustments, and the statement as CSV or PDF.

Every view takes the signed-in staff member from the session (``staff_required``) and never an id from
the address: there is no way to name someone else. A payout's proof page takes the line's id and looks it
up among the person's own lines, so another person's id is a 404. docs/ARCHITECTURE.md, Staff self-service and payroll.
"""

from __future__ import annotations

from datetime import date

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from analytics.payout_lines import PayoutLine
from analytics.staff_statements import StaffOverview, staff_overview, staff_payout_line
from dashboard.forms import PeriodForm
from dashboard.payroll_columns import LINE_COLUMNS
from dashboard.staff_session import staff_required
from dashboard.statement_pdf import staff_statement_pdf
from payments.admin.common import csv_response, pdf_response
from payments.models import Staff


def read_period(request: HttpRequest) -> tuple[PeriodForm, date | None, date | None, bool]:
    """The period form, its dates, and whether it is valid (an empty query is: all time)."""
    form = PeriodForm(request.GET or None)
    if not request.GET:
        return form, None, None, True
    if not form.is_valid():
        return form, None, None, False
    date_from, date_to = form.cleaned_data.get("date_from"), form.cleaned_data.get("date_to")
    if date_from and date_to and date_from > date_to:
        form.add_error("date_to", "must be on or after the start date")
        return form, None, None, False
    return form, date_from, date_to, True


def _filename(staff: Staff, ext: str) -> str:
    return f"statement-{staff.pk}-{timezone.localdate():%Y%m%d}.{ext}"


@never_cache
@require_GET
@staff_required
def staff_home(request: HttpRequest, staff: Staff) -> HttpResponse:
    form, date_from, date_to, ok = read_period(request)
    context = {"staff": staff, "form": form, "query": request.GET.urlencode() if ok else ""}
    if not ok:
        return render(request, "dashboard/staff_home.html", context, status=400)
    context["overview"] = staff_overview(staff=staff, date_from=date_from, date_to=date_to)
    return render(request, "dashboard/staff_home.html", context)


@never_cache
@require_GET
@staff_required
def staff_payout(request: HttpRequest, staff: Staff, kind: str, object_id: int) -> HttpResponse:
    line = staff_payout_line(staff=staff, kind=kind, object_id=object_id)
    if line is None:
        raise Http404("No such payout of yours.")
    return render(request, "dashboard/staff_payout.html", {"staff": staff, "line": line})


@never_cache
@require_GET
@staff_required
def staff_statement_csv(request: HttpRequest, staff: Staff) -> HttpResponse:
    form, date_from, date_to, ok = read_period(request)
    if not ok:
        return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain")
    overview = staff_overview(staff=staff, date_from=date_from, date_to=date_to)
    return csv_response(_filename(staff, "csv"), LINE_COLUMNS, [*reversed(overview.lines), *_adjustments(overview)])


def _adjustments(overview: StaffOverview) -> list[PayoutLine]:
    """Refunded-tip lines as statement rows (kind ``refunded_tip``, ``recovery`` or ``pool_recovery``,
    standing ``adjustment``): negative owed from a refunded tip, positive recovered from a later one."""
    staff = overview.staff
    return [
        PayoutLine(
            kind=a.kind,
            object_id=0,
            staff_id=staff.pk,
            staff_name=staff.display_name,
            earned_at=a.created_at,
            reference=a.sale_payment_hash,
            amount_sats=a.amount_sats,
            status="adjustment",
            standing="adjustment",
        )
        for a in overview.adjustments
    ]


@never_cache
@require_GET
@staff_required
def staff_statement_pdf_view(request: HttpRequest, staff: Staff) -> HttpResponse:
    form, date_from, date_to, ok = read_period(request)
    if not ok:
        return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain")
    overview = staff_overview(staff=staff, date_from=date_from, date_to=date_to)
    return pdf_response(_filename(staff, "pdf"), staff_statement_pdf(overview))
