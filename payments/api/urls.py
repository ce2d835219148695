"""POS API routes (``/api/v1/``)."""

from django.urls import path

from payments.api import merchant_webhooks as hooks
from payments.api.check import InvoiceCheckApi
from payments.api.create_fast import invoice_collection_view
from payments.api.invoice_qr import InvoiceQrApi
from payments.api.invoices import InvoiceCancelApi
from payments.api.parties import MerchantDetailApi, SplitProfileListApi, StaffListApi
from payments.api.payouts import MerchantPayoutDestinationApi, StaffPayoutDestinationApi
from payments.api.refund_claims import refund_claim, refund_claim_callback
from payments.api.refunds import RefundCollectionApi, RefundDetailApi, RefundPayoutApi
from payments.api.shifts import ClockApi, CurrentShiftApi
from payments.api.status_events import invoice_events, terminal_events
from payments.api.status_fast import invoice_status_view
from payments.api.terminal_shift import TerminalSalesApi, TerminalSummaryApi

urlpatterns: list = [
    # InvoiceCollectionApi behind a fast path for terminals' creates (create_fast).
    path("invoices", invoice_collection_view, name="api-invoices"),
    # InvoiceDetailApi behind a one-Redis-round-trip fast path for terminals' polls (status_fast).
    path("invoices/<str:payment_hash>", invoice_status_view, name="api-invoice-detail"),
    # Live status over Server-Sent Events (async views on the ASGI server: payments/api/status_events.py).
    path("invoices/<str:payment_hash>/events", invoice_events, name="api-invoice-events"),
    path("invoices/<str:payment_hash>/cancel", InvoiceCancelApi.as_view(), name="api-invoice-cancel"),
    path("invoices/<str:payment_hash>/check", InvoiceCheckApi.as_view(), name="api-invoice-check"),
    path("invoices/<str:payment_hash>/qr.svg", InvoiceQrApi.as_view(), name="api-invoice-qr"),
    path("invoices/<str:payment_hash>/refunds", RefundCollectionApi.as_view(), name="api-invoice-refunds"),
    path("refunds/<str:refund_id>", RefundDetailApi.as_view(), name="api-refund-detail"),
    path("refunds/<str:refund_id>/payout", RefundPayoutApi.as_view(), name="api-refund-payout"),
    # The customer's LNURL-withdraw claim: public, the token is the secret (payments/api/refund_claims.py).
    path("refund-claims/<str:token>", refund_claim, name="refund-claim"),
    path("refund-claims/<str:token>/callback", refund_claim_callback, name="refund-claim-callback"),
    path("merchant", MerchantDetailApi.as_view(), name="api-merchant"),
    path("merchant/payout-destination", MerchantPayoutDestinationApi.as_view(), name="api-merchant-payout"),
    path("staff", StaffListApi.as_view(), name="api-staff"),
    path("staff/<str:staff_id>/payout-destination", StaffPayoutDestinationApi.as_view(), name="api-staff-payout"),
    path("split-profiles", SplitProfileListApi.as_view(), name="api-split-profiles"),
    path("terminal/sales", TerminalSalesApi.as_view(), name="api-terminal-sales"),
    path("terminal/summary", TerminalSummaryApi.as_view(), name="api-terminal-summary"),
    # Outgoing webhooks to the merchant's systems (signed-in owner only; docs/WEBHOOKS.md).
    path("webhook-endpoints", hooks.EndpointCollectionApi.as_view(), name="api-webhook-endpoints"),
    path("webhook-endpoints/<str:endpoint_id>", hooks.EndpointDetailApi.as_view(), name="api-webhook-endpoint"),
    path(
        "webhook-endpoints/<str:endpoint_id>/secret",
        hooks.EndpointSecretApi.as_view(),
        name="api-webhook-endpoint-secret",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>/rotate-secret",
        hooks.EndpointRotateSecretApi.as_view(),
        name="api-webhook-endpoint-rotate",
    ),
    path("webhook-endpoints/<str:endpoint_id>/test", hooks.EndpointTestApi.as_view(), name="api-webhook-endpoint-test"),
    path(
        "webhook-endpoints/<str:endpoint_id>/messages",
        hooks.EndpointMessagesApi.as_view(),
        name="api-webhook-endpoint-messages",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>/attempts",
        hooks.EndpointAttemptsApi.as_view(),
        name="api-webhook-endpoint-attempts",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>/messages/<str:msg_id>/replay",
        hooks.MessageReplayApi.as_view(),
        name="api-webhook-message-replay",
    ),
    path("terminal/clock", ClockApi.as_view(), name="api-terminal-clock"),
    path("terminal/shift", CurrentShiftApi.as_view(), name="api-terminal-shift"),
    path("terminal/events", terminal_events, name="api-terminal-events"),
]
