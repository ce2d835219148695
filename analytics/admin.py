"""Back office: system metrics, filterable, with a chart of the filtered metric over time. (The
operators' landing page is the site's, in ``blinkpos/admin.py``.)"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from analytics.charts import Series, bar_chart
from analytics.models import SystemMetric
from payments.admin.common import ReadOnlyAdmin

CHART_POINTS = 48


@admin.register(SystemMetric)
class SystemMetricAdmin(ReadOnlyAdmin):
    list_display = ("timestamp", "metric_name", "metric_value", "metric_unit")
    list_filter = ("metric_name", "metric_unit", ("timestamp", admin.DateFieldListFilter))
    search_fields = ("metric_name",)
    date_hierarchy = "timestamp"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if isinstance(response, TemplateResponse) and response.context_data is not None:
            changelist = response.context_data.get("cl")
            name = request.GET.get("metric_name__exact")
            if changelist is not None and name:
                points = list(changelist.queryset.filter(metric_name=name).order_by("-timestamp")[:CHART_POINTS])[::-1]
                response.context_data["metric_chart"] = bar_chart(
                    labels=[p.timestamp.strftime("%d %H:%M") for p in points],
                    series=[Series(name=name, values=[float(p.metric_value or 0) for p in points])],
                    unit=points[0].metric_unit if points else "",
                    title=f"{name} over time",
                )
            response.context_data["metric_chart_name"] = name
        return response
