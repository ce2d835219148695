"""What a terminal needs for its screens: the merchant's settings, the staff picker and the team
split profiles. Read-only here; onboarding and edits go through the services (dashboard, admin)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from payments import selectors
from payments.api import schema as _schema  # noqa: F401  (registers the auth scheme)
from payments.api.common import MerchantApiView
from payments.api.examples import COMMON_ERRORS, MERCHANT_EXAMPLES, SPLIT_PROFILE_EXAMPLES, STAFF_EXAMPLES
from payments.api.payouts import PayoutRouteSerializer
from payments.api.principal import request_merchant, request_merchant_id


class MerchantDetailApi(MerchantApiView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "MerchantDetailOutput"

        id = serializers.IntegerField()
        name = serializers.CharField()
        blink_username = serializers.CharField()
        display_currency = serializers.CharField(help_text="Default currency for amounts entered at the POS.")
        tip_presets = serializers.ListField(child=serializers.IntegerField(), help_text="Tip percents to offer.")
        has_blink_api_key = serializers.BooleanField(help_text="Whether a (read-only) Blink API key is stored.")
        payout = PayoutRouteSerializer(source="*", help_text="Where base amounts are paid and the last check.")
        absorbs_payout_fees = serializers.BooleanField(
            help_text="True: the merchant pays Lightning-address routing fees out of the base; false: each "
            "share pays its own (changed in the dashboard's settings)."
        )

    @extend_schema(
        operation_id="merchant_retrieve",
        summary="The terminal's merchant",
        responses={200: OutputSerializer, **COMMON_ERRORS},
        examples=MERCHANT_EXAMPLES,
        tags=["merchant"],
    )
    def get(self, request: Request) -> Response:
        merchant = request_merchant(request)
        return Response(MerchantDetailApi.OutputSerializer(merchant).data)


class StaffListApi(MerchantApiView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "StaffListOutput"

        id = serializers.IntegerField()
        display_name = serializers.CharField()
        blink_username = serializers.CharField(help_text="Empty for someone paid only to a Lightning address.")
        payout = PayoutRouteSerializer(source="*", help_text="Where their tips are paid and the last check.")

    @extend_schema(
        operation_id="staff_list",
        summary="Active staff (tip recipients)",
        responses={200: OutputSerializer(many=True), **COMMON_ERRORS},
        examples=STAFF_EXAMPLES,
        tags=["merchant"],
    )
    def get(self, request: Request) -> Response:
        merchant_id = request_merchant_id(request)
        assert merchant_id is not None  # HasMerchant
        staff = selectors.staff_list(merchant_id=merchant_id)
        return Response(StaffListApi.OutputSerializer(staff, many=True).data)


class SplitShareSerializer(serializers.Serializer):
    staff_id = serializers.IntegerField()
    display_name = serializers.CharField(source="staff.display_name")
    blink_username = serializers.CharField(source="staff.blink_username")
    weight_bps = serializers.IntegerField(help_text="Share of the tip in basis points (sum 10000).")


class SplitProfileListApi(MerchantApiView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SplitProfileListOutput"

        id = serializers.IntegerField()
        name = serializers.CharField()
        shares = SplitShareSerializer(many=True, help_text="Members and weights, largest share first.")

    @extend_schema(
        operation_id="split_profiles_list",
        summary="Team split profiles",
        responses={200: OutputSerializer(many=True), **COMMON_ERRORS},
        examples=SPLIT_PROFILE_EXAMPLES,
        tags=["merchant"],
    )
    def get(self, request: Request) -> Response:
        merchant_id = request_merchant_id(request)
        assert merchant_id is not None  # HasMerchant
        profiles = selectors.split_profile_list(merchant_id=merchant_id)
        return Response(SplitProfileListApi.OutputSerializer(profiles, many=True).data)
