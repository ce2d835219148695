"""Back office: system metrics (filterable, with a chart) and the operators' landing page.

The landing page is Django's admin index with an overview above the app list: today's and 24 h
statistics from the ``payment_statistics`` view, active payments, top tip recipients, hot-store hit
ratio, Celery queue depth, component health, alerts and 14-day charts (``analytics.dashboard.ops``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from analytics.dashboard.charts import Series, bar_chart
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


# --- the landing page ---------------------------------------------------------------------------
admin.site.site_header = "BlinkPOS back office"
admin.site.site_title = "BlinkPOS back office"
admin.site.index_title = "Overview"
admin.site.index_template = "admin/blinkpos_index.html"
_default_index = admin.site.index


def _index_with_overview(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
    from analytics.dashboard.ops import ops_overview

    return _default_index(request, {**ops_overview(), **(extra_context or {})})


# AdminSite builds its URLs from ``self.index`` when the URLconf loads (after autodiscover), so replacing
# the bound method on the default site is enough; no custom AdminSite class has to be configured.
admin.site.index = _index_with_overview  # type: ignore[method-assign,assignment]
