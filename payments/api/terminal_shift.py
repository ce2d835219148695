"""The calling terminal's day: ``GET /api/v1/terminal/sales`` and ``GET /api/v1/terminal/summary``.

Terminal keys only (a signed-in user has no terminal): what a cashier's device shows without the
owner's credentials. Everything is the calling terminal's own; nothing from the merchant's others.
Reads: ``payments.terminal_shift``. docs/ARCHITECTURE.md, Receipts and the cashier's view.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from payments import store
from payments.api.common import MerchantApiView
from payments.api.errors import ApiError
from payments.api.examples import COMMON_ERRORS, ERR_400, ERR_403_TERMINAL
from payments.api.principal import request_terminal_id
from payments.api.status_payload import InvoiceStatusSerializer, status_payload
from payments.models import SplitStatus, Terminal
from payments.terminal_shift import MAX_LISTED_SALES, shift_summary, terminal_sales, today_bounds

# How far back a shift may start: a night shift crosses midnight, no shift lasts a day.
MAX_SHIFT = timedelta(hours=24)


def calling_terminal(request: Request) -> Terminal:
    terminal_id = request_terminal_id(request)
    terminal = Terminal.objects.filter(pk=terminal_id).first() if terminal_id is not None else None
    if terminal is None:
        raise ApiError(
            code="terminal_key_required", message="This operation needs a terminal API key.", status_code=403
        )
    return terminal


def _strict(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    """Validate the query string; an unknown parameter is a 400 naming it (a typo never widens a read)."""
    query = serializer_class(data=request.query_params)
    errors: dict[str, Any] = {} if query.is_valid() else dict(query.errors)
    for name, value in request.query_params.items():
        if name not in query.fields:
            errors[name] = ["Unknown parameter."]
        elif value == "":
            errors[name] = ["Must not be blank."]
    if errors:  # every bad parameter at once
        raise serializers.ValidationError(errors)
    return dict(query.validated_data)


class TerminalSalesApi(MerchantApiView):
    class QuerySerializer(serializers.Serializer):
        class Meta:
            ref_name = "TerminalSalesQuery"

        status = serializers.ChoiceField(choices=SplitStatus.choices, required=False)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "TerminalSalesOutput"

        since = serializers.DateTimeField(help_text="Start of today (server time zone).")
        until = serializers.DateTimeField(help_text="Start of tomorrow.")
        truncated = serializers.BooleanField(help_text=f"More than {MAX_LISTED_SALES} sales: only the newest listed.")
        results = InvoiceStatusSerializer(many=True)

    @extend_schema(
        operation_id="terminal_sales",
        summary="Today's sales on this terminal",
        description=(
            "The calling terminal's invoices created today, newest first, with their status and, once paid, "
            "`receipt_url` / `receipt_escpos_url` to show or print the customer's receipt again. Terminal API "
            "keys only; nothing from the merchant's other terminals."
        ),
        parameters=[QuerySerializer],
        responses={200: OutputSerializer, 400: ERR_400, **COMMON_ERRORS, 403: ERR_403_TERMINAL},
        tags=["terminal"],
    )
    def get(self, request: Request) -> Response:
        query = _strict(TerminalSalesApi.QuerySerializer, request)
        terminal = calling_terminal(request)
        since, until = today_bounds()
        sales = terminal_sales(terminal_id=terminal.pk, since=since, until=until)
        if query.get("status"):
            sales = sales.filter(status=query["status"])
        page = list(sales[: MAX_LISTED_SALES + 1])
        payload = {
            "since": since,
            "until": until,
            "truncated": len(page) > MAX_LISTED_SALES,
            "results": [status_payload(store.snapshot(split)) for split in page[:MAX_LISTED_SALES]],
        }
        return Response(TerminalSalesApi.OutputSerializer(payload).data)


class _StaffTipsSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The staff member's display name.")
    sats = serializers.IntegerField(help_text="Tip sats they earned on this terminal's paid sales.")
    count = serializers.IntegerField(help_text="Sales whose tip they shared.")


class _StuckSaleSerializer(serializers.Serializer):
    payment_hash = serializers.CharField()
    status = serializers.ChoiceField(choices=SplitStatus.choices)
    total_sats = serializers.IntegerField(source="total_amount")
    paid_at = serializers.DateTimeField()


class _RefundsSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Refunds of this terminal's sales created in the period, not cancelled.")
    sats = serializers.IntegerField(help_text="Sats paid back to customers.")
    open_sats = serializers.IntegerField(help_text="Sats funded and waiting for the customer to claim.")
    awaiting_sats = serializers.IntegerField(help_text="Sats waiting for the merchant's funding.")


class TerminalSummaryApi(MerchantApiView):
    class QuerySerializer(serializers.Serializer):
        class Meta:
            ref_name = "TerminalSummaryQuery"

        since = serializers.DateTimeField(
            required=False, help_text="Start of the shift (ISO 8601), at most 24 h ago; default: start of today."
        )

        def validate_since(self, value: Any) -> Any:
            now = timezone.now()
            if value > now:
                raise serializers.ValidationError("Must not be in the future.")
            if value < now - MAX_SHIFT:
                raise serializers.ValidationError("Must be within the last 24 hours.")
            return value

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "TerminalSummaryOutput"

        since = serializers.DateTimeField()
        until = serializers.DateTimeField(help_text="Now.")
        sales_count = serializers.IntegerField(help_text="Sales the customer paid.")
        base_sats = serializers.IntegerField()
        tip_sats = serializers.IntegerField()
        total_sats = serializers.IntegerField()
        tips_by_staff = _StaffTipsSerializer(many=True)
        open_count = serializers.IntegerField(help_text="Invoices still waiting for payment.")
        abandoned_count = serializers.IntegerField(help_text="Expired or cancelled, never paid.")
        stuck = _StuckSaleSerializer(many=True, help_text="Paid, but forwarding failed or is late: tell the manager.")
        refunds = _RefundsSerializer()

    @extend_schema(
        operation_id="terminal_summary",
        summary="Shift close summary of this terminal",
        description=(
            "For closing a shift: paid sales (count, base, tips, total), tips by staff, invoices still open or "
            "abandoned, paid sales whose forwarding is stuck, and refunds, on the calling terminal since `since` "
            "(default: start of today). Terminal API keys only."
        ),
        parameters=[QuerySerializer],
        responses={200: OutputSerializer, 400: ERR_400, **COMMON_ERRORS, 403: ERR_403_TERMINAL},
        tags=["terminal"],
    )
    def get(self, request: Request) -> Response:
        query = _strict(TerminalSummaryApi.QuerySerializer, request)
        terminal = calling_terminal(request)
        since = query.get("since") or today_bounds()[0]
        summary = shift_summary(terminal=terminal, since=since, until=timezone.now())
        return Response(TerminalSummaryApi.OutputSerializer(summary).data)
