"""Saved reports: the list, one report's parameter form and result, and its CSV export (admin-logged).

Parameters come in the query string (a report is a read, and its URL can be shared); a bad one is a
400 with the form showing the error under the field it names."""

from __future__ import annotations

import csv
from datetime import date, datetime
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from blinkpos.db_router import reads_from_replica
from console import audit
from console.access import context
from console.readonly import ReadOnlyQueryError
from console.reports import BY_SLUG, REPORTS, Report, ReportResult, run
from payments.admin.common import safe_cell
from payments.models import PaymentSplit


@require_GET
def report_list(request: HttpRequest) -> HttpResponse:
    return TemplateResponse(request, "console/reports.html", context(request, "Saved reports", reports=REPORTS))


def _report(slug: str) -> Report:
    report = BY_SLUG.get(slug)
    if report is None:
        raise Http404("No such report.")
    return report


def _split_links(result: ReportResult) -> list[int | None]:
    """For each row, the id of the split it is about (its ``payment_hash`` column), when there is one."""
    if "payment_hash" not in result.columns:
        return [None] * len(result.rows)
    hashes = result.column("payment_hash")
    ids = dict(PaymentSplit.objects.filter(payment_hash__in=set(hashes)).values_list("payment_hash", "id"))
    return [ids.get(h) for h in hashes]


def _cell(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, sort_keys=True)
    return value


def _csv(report: Report, result: ReportResult) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{report.slug}.csv"'
    writer = csv.writer(response)
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([safe_cell(_cell(value)) for value in row])
    return response


@require_GET
@reads_from_replica
def report_page(request: HttpRequest, slug: str) -> HttpResponse:
    report = _report(slug)
    params = request.GET.copy()
    export = params.pop("export", [""])[0] == "csv"
    form = report.form(params if params else None)
    result: ReportResult | None = None
    error: ReadOnlyQueryError | None = None
    status = 200
    if form.is_bound:
        if form.is_valid():
            try:
                result = run(report, form.cleaned_data)
            except ReadOnlyQueryError as exc:
                error, status = exc, (504 if exc.code == "timeout" else 400)
        else:
            status = 400
    if export and result is not None:
        audit.record(request, "export", f"report {report.slug} ({params.urlencode()})")
        return _csv(report, result)
    rows = []
    if result is not None:
        rows = [
            {"cells": [_cell(v) for v in row], "split_id": split_id}
            for row, split_id in zip(result.rows, _split_links(result), strict=True)
        ]
    export_params = params.copy()
    export_params["export"] = "csv"
    export_url = reverse("admin:console_report", args=[slug]) + "?" + export_params.urlencode()
    return TemplateResponse(
        request,
        "console/report.html",
        context(
            request,
            report.title,
            report=report,
            form=form,
            result=result,
            rows=rows,
            error=error,
            export_url=export_url,
        ),
        status=status,
    )
