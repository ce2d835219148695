"""Payout destinations over the API: where a staff member's tips and the merchant's base are paid.

Reading them is part of the staff list and merchant detail (``parties.py``). Changing them moves
money elsewhere, so it needs the merchant's signed-in owner: a terminal key (a device at the counter)
is refused with 403. The destination is checked (syntax, then resolved: custodial wallet or LNURL)
before anything is written; a bad one is a 400 naming the field.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from payments.api.authentication import TerminalPrincipal
from payments.api.common import MerchantApiView
from payments.api.errors import not_found
from payments.api.examples import COMMON_ERRORS, ERR_400, ERR_502, ERR_503
from payments.api.examples import _error as documented_error
from payments.api.principal import request_merchant
from payments.models import Staff

ERR_403_OWNER = documented_error(
    403,
    "A terminal key, or an account without a merchant: only the signed-in owner changes payout destinations.",
    "permission_denied",
    "Only the merchant's signed-in owner can change where money is paid; terminal keys cannot.",
)
ERR_404_STAFF = documented_error(
    404, "No active staff member with this id for this merchant.", "not_found", "Not found."
)
WRITE_ERRORS = {**COMMON_ERRORS, 400: ERR_400, 403: ERR_403_OWNER, 502: ERR_502, 503: ERR_503}


class SignedInOwner(permissions.BasePermission):
    """The merchant's owner signed in (session), never a terminal key."""

    message = "Only the merchant's signed-in owner can change where money is paid; terminal keys cannot."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return not isinstance(request.user, TerminalPrincipal)


class PayoutRouteSerializer(serializers.Serializer):
    """The route a person is paid by, as the last check (or change) found it."""

    payout_destination = serializers.CharField(help_text="The Lightning address, or @username for a Blink account.")
    lightning_address = serializers.CharField(help_text="name@domain; empty: the Blink username's wallet.")
    payout_route = serializers.CharField(help_text="custodial (Blink wallet), lnurl (Lightning address) or empty.")
    payout_route_checked_at = serializers.DateTimeField(allow_null=True)
    payout_check_ok = serializers.BooleanField(
        source="wallet_check_ok", help_text="False: the destination no longer resolves; fix it before a sale."
    )
    payout_check_error = serializers.CharField(source="wallet_check_error")


class StaffPayoutOutput(PayoutRouteSerializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    blink_username = serializers.CharField()


class MerchantPayoutOutput(PayoutRouteSerializer):
    id = serializers.IntegerField()
    blink_username = serializers.CharField()


class StaffPayoutDestinationApi(MerchantApiView):
    permission_classes = [*MerchantApiView.permission_classes, SignedInOwner]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "StaffPayoutDestinationInput"

        payout_destination = serializers.CharField(max_length=255, help_text="Blink username or name@domain.")

    @extend_schema(
        operation_id="staff_payout_destination_update",
        summary="Change where a staff member's tips are paid",
        request=InputSerializer,
        responses={200: StaffPayoutOutput, **WRITE_ERRORS, 404: ERR_404_STAFF},
        tags=["merchant"],
    )
    def put(self, request: Request, staff_id: str) -> Response:
        from payments.services.parties import staff_set_payout_destination

        merchant = request_merchant(request)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # str in the route (a JSON 404 for any malformed id, like the invoice routes), checked here.
        staff = (
            Staff.objects.filter(pk=int(staff_id), merchant=merchant, is_active=True).first()
            if staff_id.isascii() and staff_id.isdigit() and len(staff_id) < 19
            else None
        )
        if staff is None:
            raise not_found()
        data: dict[str, Any] = serializer.validated_data
        staff = staff_set_payout_destination(staff=staff, payout_destination=data["payout_destination"])
        return Response(StaffPayoutOutput(staff).data)


class MerchantPayoutDestinationApi(MerchantApiView):
    permission_classes = [*MerchantApiView.permission_classes, SignedInOwner]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "MerchantPayoutDestinationInput"

        lightning_address = serializers.CharField(
            max_length=255, allow_blank=True, help_text="name@domain for the base amounts; empty: your Blink wallet."
        )

    @extend_schema(
        operation_id="merchant_payout_destination_update",
        summary="Change where the merchant's base amounts are paid",
        request=InputSerializer,
        responses={200: MerchantPayoutOutput, **WRITE_ERRORS},
        tags=["merchant"],
    )
    def put(self, request: Request) -> Response:
        from payments.services.parties import merchant_set_payout_address

        merchant = request_merchant(request)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = serializer.validated_data
        merchant = merchant_set_payout_address(merchant=merchant, lightning_address=data["lightning_address"])
        return Response(MerchantPayoutOutput(merchant).data)
