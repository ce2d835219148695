"""The console's home, the database page and the queues page (reads only)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from blinkpos.logging import get_logger
from console import db_health, queues
from console.access import context
from console.reports import REPORTS

log = get_logger(__name__)


def _block(name: str, fn: Any) -> dict[str, Any]:
    """One block of a page, read on its own: a failing one is shown failed, the rest still render (the
    console is most needed when something is down)."""
    try:
        return {"ok": True, "value": fn()}
    except Exception as exc:  # reported in place on the page
        log.warning("console.block_failed", block=name, error=type(exc).__name__)
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]}


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return TemplateResponse(request, "console/home.html", context(request, "Operators' console", reports=REPORTS))


@require_GET
def database(request: HttpRequest) -> HttpResponse:
    return TemplateResponse(
        request, "console/database.html", context(request, "Database health", db=_block("database", db_health.overview))
    )


@require_GET
def queue_page(request: HttpRequest) -> HttpResponse:
    return TemplateResponse(
        request,
        "console/queues.html",
        context(
            request,
            "Queues and workers",
            queues=_block("queues", queues.queues),
            workers=_block("workers", queues.workers),
            failures=_block("failures", queues.failures),
            payouts=_block("payouts", queues.payout_queue),
            beat=_block("beat", queues.beat),
            inspect_timeout=queues.INSPECT_TIMEOUT,
        ),
    )
