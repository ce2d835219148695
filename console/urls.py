"""The console's pages, mounted on the admin site by ``console.admin`` (so under ``/admin/console/`` and
named ``admin:console_*``); each is wrapped by ``access.console_view``."""

from __future__ import annotations

from django.urls import URLPattern, path

from console.access import console_view
from console.views import pages, redis_page, reports_page


def urlpatterns() -> list[URLPattern]:
    return [
        path("console/", console_view(pages.home), name="console_home"),
        path("console/database/", console_view(pages.database), name="console_database"),
        path("console/redis/", console_view(redis_page.redis_page), name="console_redis"),
        path("console/redis/evict/", console_view(redis_page.evict), name="console_redis_evict"),
        path("console/redis/rewarm/", console_view(redis_page.rewarm), name="console_redis_rewarm"),
        path("console/queues/", console_view(pages.queue_page), name="console_queues"),
        path("console/reports/", console_view(reports_page.report_list), name="console_reports"),
        path("console/reports/<slug:slug>/", console_view(reports_page.report_page), name="console_report"),
    ]
