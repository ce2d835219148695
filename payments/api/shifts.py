"""Clocking in and out from a terminal, and the terminal group's current shift:
``POST /api/v1/terminal/clock`` and ``GET /api/v1/terminal/shift``.

Terminal keys only. Clocking needs the staff member's cashier PIN on this terminal (the same PIN as
the cashier's view, with its lockout): a terminal cannot clock anyone in without them.
Services: ``payments.services.shifts``. docs/ARCHITECTURE.md, Shifts and pooled tips.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from payments.api.common import MerchantApiView
from payments.api.examples import COMMON_ERRORS, ERR_400, ERR_403_TERMINAL, ERR_409_CLOCK
from payments.api.terminal_shift import calling_terminal
from payments.models import ClockEntry, Merchant
from payments.services.cashier_pins import cashier_pin_verify
from payments.services.pool_accruals import shift_pool_sats
from payments.services.shifts import clock_in, clock_out, clock_toggle, group_of_terminal, open_shift_of_group


class ClockApi(MerchantApiView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ClockInput"

        staff_id = serializers.IntegerField(min_value=1)
        pin = serializers.RegexField(r"^[0-9]{4,8}$", help_text="The staff member's cashier PIN on this terminal.")
        action = serializers.ChoiceField(
            choices=["in", "out", "toggle"], default="toggle", help_text="`toggle`: out when in, else in."
        )

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ClockOutput"

        staff_id = serializers.IntegerField()
        clocked_in = serializers.BooleanField(help_text="True: this call clocked in; false: it clocked out.")
        shift_id = serializers.IntegerField()
        entry_id = serializers.IntegerField()
        clock_in_at = serializers.DateTimeField()
        clock_out_at = serializers.DateTimeField(allow_null=True)

    @extend_schema(
        operation_id="terminal_clock",
        summary="Clock a staff member in or out",
        description=(
            "Clocks the staff member in on the open shift of this terminal's group (opening one when none is "
            "open), or out. Needs their cashier PIN on this terminal; wrong PINs count towards its lockout "
            "(429). Terminal API keys only."
        ),
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: ERR_400,
            409: ERR_409_CLOCK,
            **COMMON_ERRORS,
            403: ERR_403_TERMINAL,
        },
        examples=[OpenApiExample("clock in", value={"staff_id": 7, "pin": "4821", "action": "in"}, request_only=True)],
        tags=["terminal"],
    )
    def post(self, request: Request) -> Response:
        terminal = calling_terminal(request)
        body = ClockApi.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(body.validated_data)
        cashier_pin_verify(terminal=terminal, staff_id=data["staff_id"], pin=data["pin"])
        merchant = Merchant.objects.get(pk=terminal.merchant_id)
        if data["action"] == "out":
            result = clock_out(merchant=merchant, staff_id=data["staff_id"], source="api")
        else:
            group = group_of_terminal(terminal)
            clock = clock_in if data["action"] == "in" else clock_toggle
            result = clock(merchant=merchant, group=group, staff_id=data["staff_id"], source="api")
        entry = result.entry
        payload = {
            "staff_id": entry.staff_id,
            "clocked_in": result.clocked_in,
            "shift_id": result.shift.pk,
            "entry_id": entry.pk,
            "clock_in_at": entry.clock_in_at,
            "clock_out_at": entry.clock_out_at,
        }
        return Response(ClockApi.OutputSerializer(payload).data)


class _OnShiftSerializer(serializers.Serializer):
    staff_id = serializers.IntegerField()
    name = serializers.CharField()
    clock_in_at = serializers.DateTimeField()


class CurrentShiftApi(MerchantApiView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "CurrentShiftOutput"

        shift_id = serializers.IntegerField(allow_null=True, help_text="Null: no shift is open in this group.")
        group = serializers.CharField(allow_null=True, help_text="The terminal's group; null when it has none.")
        opened_at = serializers.DateTimeField(allow_null=True)
        pool_sats = serializers.IntegerField(help_text="Pooled tips accrued to this shift so far (paid sales).")
        clocked_in = _OnShiftSerializer(many=True, help_text="Who is clocked in now.")

    @extend_schema(
        operation_id="terminal_shift",
        summary="The open shift of this terminal's group",
        description="Who is clocked in and the pool so far. Terminal API keys only.",
        responses={200: OutputSerializer, **COMMON_ERRORS, 403: ERR_403_TERMINAL},
        tags=["terminal"],
    )
    def get(self, request: Request) -> Response:
        terminal = calling_terminal(request)
        group = terminal.group
        shift = open_shift_of_group(group) if group is not None else None
        on_shift = (
            ClockEntry.objects.filter(shift=shift, clock_out_at__isnull=True).select_related("staff")
            if shift is not None
            else []
        )
        payload = {
            "shift_id": shift.pk if shift else None,
            "group": group.name if group else None,
            "opened_at": shift.opened_at if shift else None,
            "pool_sats": shift_pool_sats(shift) if shift else 0,
            "clocked_in": [
                {"staff_id": e.staff_id, "name": e.staff.display_name, "clock_in_at": e.clock_in_at} for e in on_shift
            ],
        }
        return Response(CurrentShiftApi.OutputSerializer(payload).data)
