"""The customer's receipt at its unguessable link: ``/r/<token>/`` (HTML, printable on 58 mm, 80 mm
and A4), ``/r/<token>/receipt.escpos`` (ESC/POS bytes) and ``/r/<token>/qr.svg`` (the link as a QR).
A paid refund of the sale has its own receipt under the sale's token: ``/r/<token>/refunds/<id>/``
(and its ``receipt.escpos`` and ``qr.svg``); the sale's page links them and "Add a tip" (screen only).

No login: the token (256 bits) is the permission. The pages show the one sale and nothing else (no
ids, no links into the dashboard), are never indexed, never send a Referer, are not cached, and are
rate limited per client address. An unknown token, a sale not paid yet, a refund of another sale and
a refund not paid yet get the same 404.
docs/ARCHITECTURE.md, Receipts and the cashier's view.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from blinkpos import auth_throttle
from payments.api.throttling import fixed_window_hit
from payments.models import PaymentSplit, SplitKind, SplitStatus
from payments.qr import link_qr_svg
from payments.receipts.document import (
    DEFAULT_PAPER,
    PAPER_SIZES,
    THERMAL_PAPERS,
    PaperSize,
    ReceiptDocument,
    format_sats,
    refund_receipt_document,
    sale_receipt_document,
)
from payments.receipts.escpos import receipt_escpos
from payments.refund_selectors import paid_refunds_for_split
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


def _sale(request: HttpRequest, token: str) -> PaymentSplit | HttpResponse:
    """The paid sale behind ``token``, or the 429 / 404 to answer instead."""
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
    return split


def _document(request: HttpRequest, token: str, refund_id: int | None = None) -> ReceiptDocument | HttpResponse:
    """The sale's receipt, or with ``refund_id`` the receipt of that paid refund of the sale."""
    split = _sale(request, token)
    if isinstance(split, HttpResponse):
        return split
    if refund_id is None:
        url = request.build_absolute_uri(reverse("dashboard:receipt", args=[token]))
        return sale_receipt_document(split=split, url=url)
    refund = paid_refunds_for_split(split=split).filter(pk=refund_id).first()
    if refund is None:
        return _text(404, "No such receipt.")
    refund.split = split  # the sale with its merchant, already loaded
    url = request.build_absolute_uri(reverse("dashboard:refund-receipt", args=[token, refund_id]))
    return refund_receipt_document(refund=refund, url=url)


@dataclass(frozen=True, kw_only=True, slots=True)
class RefundReceiptLink:
    url: str
    paid_at: datetime | None
    sats: int

    @property
    def sats_text(self) -> str:
        return format_sats(self.sats)


def _sale_links(split: PaymentSplit, token: str) -> dict[str, Any]:
    """Screen-only links under a sale's receipt: "Add a tip" once completed, its paid refunds' receipts."""
    tip_url = ""
    if split.status == SplitStatus.COMPLETED and split.kind in (SplitKind.SALE, SplitKind.PAYCODE):
        tip_url = reverse("dashboard:receipt-tip", args=[token])
    refunds = [
        RefundReceiptLink(
            url=reverse("dashboard:refund-receipt", args=[token, r.pk]), paid_at=r.paid_at, sats=r.amount_sats
        )
        for r in paid_refunds_for_split(split=split)
    ]
    return {"tip_url": tip_url, "refund_receipts": refunds}


def _page_params(request: HttpRequest) -> tuple[PaperSize, bool] | HttpResponse:
    paper = _paper(request, tuple(PAPER_SIZES))
    if isinstance(paper, HttpResponse):
        return paper
    autoprint = request.GET.get("print", "0")
    if autoprint not in ("0", "1"):
        return _text(400, "print: 1 to open the print dialog, 0 (default) not to.")
    return paper, autoprint == "1"


def _render(
    request: HttpRequest, document: ReceiptDocument, params: tuple[PaperSize, bool], **urls: Any
) -> HttpResponse:
    paper, autoprint = params
    escpos_url = urls.pop("escpos_url")
    context = {
        "document": document,
        "paper": paper,
        "paper_sizes": PAPER_SIZES.values(),
        "paper_css": f"dashboard/receipt-{paper.name}.css",
        "autoprint": autoprint,
        "qr_url": urls.pop("qr_url"),
        "escpos_url": escpos_url if paper.columns else "",
        **urls,
    }
    return _private(render(request, "dashboard/receipt.html", context))


def _escpos(request: HttpRequest, token: str, refund_id: int | None = None) -> HttpResponse:
    paper = _paper(request, THERMAL_PAPERS)
    if isinstance(paper, HttpResponse):
        return paper
    document = _document(request, token, refund_id)
    if isinstance(document, HttpResponse):
        return document
    response = HttpResponse(receipt_escpos(document, columns=paper.columns), content_type="application/octet-stream")
    name = "refund" if document.kind == "refund" else "receipt"
    response["Content-Disposition"] = f'attachment; filename="{name}-{document.reference}.escpos"'
    return _private(response)


def _qr(document: ReceiptDocument | HttpResponse) -> HttpResponse:
    if isinstance(document, HttpResponse):
        return document
    return _private(HttpResponse(link_qr_svg(document.url), content_type="image/svg+xml"))


@require_GET
def receipt(request: HttpRequest, token: str) -> HttpResponse:
    params = _page_params(request)
    if isinstance(params, HttpResponse):
        return params
    split = _sale(request, token)
    if isinstance(split, HttpResponse):
        return split
    document = sale_receipt_document(
        split=split, url=request.build_absolute_uri(reverse("dashboard:receipt", args=[token]))
    )
    return _render(
        request,
        document,
        params,
        qr_url=reverse("dashboard:receipt-qr", args=[token]),
        escpos_url=reverse("dashboard:receipt-escpos", args=[token]),
        **_sale_links(split, token),
    )


@require_GET
def receipt_escpos_bytes(request: HttpRequest, token: str) -> HttpResponse:
    return _escpos(request, token)


@require_GET
def receipt_qr(request: HttpRequest, token: str) -> HttpResponse:
    return _qr(_document(request, token))


@require_GET
def refund_receipt(request: HttpRequest, token: str, refund_id: int) -> HttpResponse:
    params = _page_params(request)
    if isinstance(params, HttpResponse):
        return params
    document = _document(request, token, refund_id)
    if isinstance(document, HttpResponse):
        return document
    return _render(
        request,
        document,
        params,
        qr_url=reverse("dashboard:refund-receipt-qr", args=[token, refund_id]),
        escpos_url=reverse("dashboard:refund-receipt-escpos", args=[token, refund_id]),
    )


@require_GET
def refund_receipt_escpos_bytes(request: HttpRequest, token: str, refund_id: int) -> HttpResponse:
    return _escpos(request, token, refund_id)


@require_GET
def refund_receipt_qr(request: HttpRequest, token: str, refund_id: int) -> HttpResponse:
    return _qr(_document(request, token, refund_id))
