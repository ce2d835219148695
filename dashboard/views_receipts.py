"""The customer's receipt at its unguessable link: ``/r/<token>/`` (HTML, printable on 58 mm, 80 mm
and A4), ``/r/<token>/receipt.escpos`` (ESC/POS bytes) and ``/r/<token>/qr.svg`` (the link as a QR).

No login: the token (256 bits) is the permission. The pages show the one sale and nothing else (no
ids, no links into the dashboard), are never indexed, never send a Referer, are not cached, and are
rate limited per client address. An unknown token and a sale not paid yet get the same 404.
docs/ARCHITECTURE.md, Receipts and the cashier's view.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from blinkpos import auth_throttle
from payments.api.throttling import fixed_window_hit
from payments.qr import link_qr_svg
from payments.receipts.document import (
    DEFAULT_PAPER,
    PAPER_SIZES,
    THERMAL_PAPERS,
    PaperSize,
    ReceiptDocument,
    sale_receipt_document,
)
from payments.receipts.escpos import receipt_escpos
from payments.services.receipts import receipt_split_get

PRIVATE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "private, no-store",
}


def _private(response: HttpResponse) -> HttpResponse:
    for name, value in PRIVATE_HEADERS.items():
        response[name] = value
    return response


def _text(status: int, message: str) -> HttpResponse:
    return _private(HttpResponse(message, status=status, content_type="text/plain; charset=utf-8"))


def _paper(request: HttpRequest, allowed: tuple[str, ...]) -> PaperSize | HttpResponse:
    name = request.GET.get("paper", DEFAULT_PAPER).lower()
    if name not in allowed:
        return _text(400, f"paper: choose one of {', '.join(allowed)}.")
    return PAPER_SIZES[name]


def _document(request: HttpRequest, token: str) -> ReceiptDocument | HttpResponse:
    """The receipt behind ``token``, or the 429 / 404 to answer instead."""
    # The address is hashed: the counter's key says nothing about who looked (as blinkpos.auth_throttle's).
    ident = hashlib.sha256(auth_throttle.client_ip(request).encode()).hexdigest()[:24]
    wait = fixed_window_hit(scope="receipt", ident=ident, rate=settings.RECEIPT_RATE_LIMIT)
    if wait is not None:
        response = _text(429, "Too many requests. Try again shortly.")
        response["Retry-After"] = str(max(1, int(wait)))
        return response
    split = receipt_split_get(token=token)
    if split is None:
        return _text(404, "No such receipt.")
    url = request.build_absolute_uri(reverse("dashboard:receipt", args=[token]))
    return sale_receipt_document(split=split, url=url)


@require_GET
def receipt(request: HttpRequest, token: str) -> HttpResponse:
    paper = _paper(request, tuple(PAPER_SIZES))
    if isinstance(paper, HttpResponse):
        return paper
    autoprint = request.GET.get("print", "0")
    if autoprint not in ("0", "1"):
        return _text(400, "print: 1 to open the print dialog, 0 (default) not to.")
    document = _document(request, token)
    if isinstance(document, HttpResponse):
        return document
    context = {
        "document": document,
        "paper": paper,
        "paper_sizes": PAPER_SIZES.values(),
        "paper_css": f"dashboard/receipt-{paper.name}.css",
        "autoprint": autoprint == "1",
        "qr_url": reverse("dashboard:receipt-qr", args=[token]),
        "escpos_url": reverse("dashboard:receipt-escpos", args=[token]) if paper.columns else "",
    }
    return _private(render(request, "dashboard/receipt.html", context))


@require_GET
def receipt_escpos_bytes(request: HttpRequest, token: str) -> HttpResponse:
    paper = _paper(request, THERMAL_PAPERS)
    if isinstance(paper, HttpResponse):
        return paper
    document = _document(request, token)
    if isinstance(document, HttpResponse):
        return document
    response = HttpResponse(receipt_escpos(document, columns=paper.columns), content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="receipt-{document.reference}.escpos"'
    return _private(response)


@require_GET
def receipt_qr(request: HttpRequest, token: str) -> HttpResponse:
    document = _document(request, token)
    if isinstance(document, HttpResponse):
        return document
    return _private(HttpResponse(link_qr_svg(document.url), content_type="image/svg+xml"))
