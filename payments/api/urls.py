"""POS API routes (``/api/v1/``)."""

from django.urls import path

from payments.api.check import InvoiceCheckApi
from payments.api.invoices import InvoiceCancelApi, InvoiceCollectionApi, InvoiceDetailApi
from payments.api.parties import MerchantDetailApi, SplitProfileListApi, StaffListApi

urlpatterns: list = [
    path("invoices", InvoiceCollectionApi.as_view(), name="api-invoices"),
    path("invoices/<str:payment_hash>", InvoiceDetailApi.as_view(), name="api-invoice-detail"),
    path("invoices/<str:payment_hash>/cancel", InvoiceCancelApi.as_view(), name="api-invoice-cancel"),
    path("invoices/<str:payment_hash>/check", InvoiceCheckApi.as_view(), name="api-invoice-check"),
    path("merchant", MerchantDetailApi.as_view(), name="api-merchant"),
    path("staff", StaffListApi.as_view(), name="api-staff"),
    path("split-profiles", SplitProfileListApi.as_view(), name="api-split-profiles"),
]
