"""Refund endpoints (docs/ARCHITECTURE.md, Refunds): ``POST /invoices/{hash}/refunds`` (create),
``GET /invoices/{hash}/refunds`` (a sale's refunds), ``GET /refunds/{id}`` (status) and
``POST /refunds/{id}/payout`` (pay it to a bolt11 or a Lightning address the customer gives).

A terminal may create refunds only when the merchant granted it ``can_refund`` (dashboard settings);
a signed-in merchant always may. Reads are open to any of the merchant's keys. The customer's
LNURL-withdraw claim is public and lives in ``refund_claims``.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from payments import selectors
from payments.api.common import MerchantApiView
from payments.api.errors import not_found
from payments.api.examples import (
    COMMON_ERRORS,
    ERR_400,
    ERR_404,
    ERR_409_IN_PROGRESS,
    ERR_422,
    ERR_502,
    ERR_503,
    idempotency_key_header,
)
from payments.api.principal import request_merchant, request_merchant_id, request_terminal_id
from payments.lnurl.withdraw import lnurl_encode
from payments.models import PayoutVia, Refund, RefundStatus, Terminal
from payments.models.refunds import REASON_MAX_CHARS
from payments.refund_selectors import refund_get_for_merchant, refunds_for_split
from payments.services.idempotency import idempotency_run
from payments.services.refund_payouts import claim_open, refund_payout_commit, refund_payout_to_address
from payments.services.refunds import RefundRequest, refund_create


def _reject_unknown(serializer: serializers.Serializer, attrs: dict[str, Any]) -> dict[str, Any]:
    unknown = (
        sorted(set(serializer.initial_data) - set(serializer.fields))
        if isinstance(serializer.initial_data, dict)
        else []
    )
    if unknown:
        raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
    return attrs


class RefundSerializer(serializers.Serializer):
    class Meta:
        ref_name = "Refund"

    id = serializers.IntegerField()
    payment_hash = serializers.CharField(help_text="The refunded sale's payment hash.")
    amount_sats = serializers.IntegerField()
    base_part_sats = serializers.IntegerField()
    tip_part_sats = serializers.IntegerField(help_text="Part of the tip returned (0 unless `tip_refunded`).")
    tip_refunded = serializers.BooleanField()
    reason = serializers.CharField()
    status = serializers.ChoiceField(choices=RefundStatus.choices)
    funding_payment_request = serializers.CharField(
        allow_null=True, help_text="While `awaiting_funding`: the bolt11 the merchant pays from their own wallet."
    )
    funding_expires_at = serializers.DateTimeField()
    claim_lnurl = serializers.CharField(
        allow_null=True, help_text="While the claim is open: the customer's LNURL-withdraw (LUD-03) to show as a QR."
    )
    claim_expires_at = serializers.DateTimeField(allow_null=True)
    payout_via = serializers.CharField(help_text="`lnurl_withdraw`, `invoice`, `address`, or empty.")
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)


def refund_payload(refund: Refund, request: Any) -> dict[str, Any]:
    claim = None
    if claim_open(refund):
        claim = lnurl_encode(request.build_absolute_uri(reverse("refund-claim", args=[refund.claim_token])))
    return {
        "id": refund.pk,
        "payment_hash": refund.split.payment_hash,
        "amount_sats": refund.amount_sats,
        "base_part_sats": refund.base_part_sats,
        "tip_part_sats": refund.tip_part_sats,
        "tip_refunded": refund.tip_refunded,
        "reason": refund.reason,
        "status": refund.status,
        "funding_payment_request": (
            refund.funding_payment_request if refund.status == RefundStatus.AWAITING_FUNDING else None
        ),
        "funding_expires_at": refund.funding_expires_at,
        "claim_lnurl": claim,
        "claim_expires_at": refund.claim_expires_at,
        "payout_via": refund.payout_via,
        "created_at": refund.created_at,
        "paid_at": refund.paid_at,
    }


def _owned_refund(request: Request, refund_id: str) -> Refund:
    """The merchant's refund named in the path (any other value, or another merchant's: 404)."""
    merchant_id = request_merchant_id(request)
    assert merchant_id is not None  # HasMerchant
    refund = None
    if refund_id.isascii() and refund_id.isdigit() and len(refund_id) < 19:
        refund = refund_get_for_merchant(merchant_id=merchant_id, refund_id=int(refund_id))
    if refund is None:
        raise not_found()
    return refund


def _requested_by(request: Request) -> tuple[str, Terminal | None]:
    terminal_id = request_terminal_id(request)
    if terminal_id is None:
        return f"merchant:{request.user.pk}", None
    terminal = Terminal.objects.filter(pk=terminal_id, revoked_at__isnull=True).first()
    if terminal is None or not terminal.can_refund:
        raise PermissionDenied("This terminal may not refund; the merchant can allow it in the dashboard's settings.")
    return f"terminal:{terminal_id}", terminal


class RefundCollectionApi(MerchantApiView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "RefundCreateInput"

        amount_sats = serializers.IntegerField(
            required=False, min_value=1, help_text="Sats to return; omitted: everything still refundable."
        )
        tip_refunded = serializers.BooleanField(
            required=False, default=False, help_text="Also return the tip (staff's shares become tip adjustments)."
        )
        reason = serializers.CharField(max_length=REASON_MAX_CHARS, help_text="Why; kept in the audit trail.")

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            return _reject_unknown(self, attrs)

    @extend_schema(
        operation_id="refunds_create",
        summary="Refund a completed sale",
        description=(
            "Full or partial; never more than what the sale received less what was already refunded (the "
            "database refuses it). Answers the refund with a funding invoice the merchant pays from their own "
            "wallet; once it is paid, `claim_lnurl` is the customer's one-time claim. Terminals need the "
            "merchant's refund permission (403 otherwise). Send an `Idempotency-Key` header to make a retry "
            "safe (a request that timed out may have created the refund): the same key and body replay the "
            "first answer (header `Idempotent-Replayed: true`) instead of creating a second refund; the same "
            "key with a different body is a 422. Keys are per merchant, shared with invoice creation."
        ),
        parameters=[idempotency_key_header("refund")],
        request=InputSerializer,
        responses={
            201: RefundSerializer,
            400: ERR_400,
            404: ERR_404,
            409: ERR_409_IN_PROGRESS,
            422: ERR_422,
            502: ERR_502,
            503: ERR_503,
            **COMMON_ERRORS,
        },
        tags=["refunds"],
    )
    def post(self, request: Request, payment_hash: str) -> Response:
        merchant = request_merchant(request)
        if selectors.split_get_for_merchant(merchant_id=merchant.pk, payment_hash=payment_hash) is None:
            raise not_found()
        requested_by, terminal = _requested_by(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refund_request = RefundRequest(
            amount_sats=data.validated_data.get("amount_sats"),
            tip_refunded=data.validated_data["tip_refunded"],
            reason=data.validated_data["reason"],
        )

        def create() -> dict[str, Any]:
            refund = refund_create(
                merchant=merchant,
                payment_hash=payment_hash,
                request=refund_request,
                requested_by=requested_by,
                terminal=terminal,
            )
            return dict(RefundSerializer(refund_payload(refund, request)).data)

        # A refused or failed create releases the key (nothing was written): the retry runs again.
        outcome = idempotency_run(
            merchant_id=merchant.pk,
            key=request.headers.get("Idempotency-Key"),
            method="POST",
            path=request.path,
            request_body=request.data,
            status=status.HTTP_201_CREATED,
            call=create,
        )
        headers = {"Location": f"/api/v1/refunds/{outcome.body['id']}"}
        if outcome.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(outcome.body, status=outcome.status, headers=headers)

    @extend_schema(
        operation_id="refunds_list",
        summary="A sale's refunds",
        request=None,
        responses={200: RefundSerializer(many=True), 404: ERR_404, **COMMON_ERRORS},
        tags=["refunds"],
    )
    def get(self, request: Request, payment_hash: str) -> Response:
        merchant_id = request_merchant_id(request)
        assert merchant_id is not None  # HasMerchant
        split = selectors.split_get_for_merchant(merchant_id=merchant_id, payment_hash=payment_hash)
        if split is None:
            raise not_found()
        refunds = refunds_for_split(split=split).select_related("split")
        return Response(RefundSerializer([refund_payload(r, request) for r in refunds], many=True).data)


class RefundDetailApi(MerchantApiView):
    @extend_schema(
        operation_id="refunds_retrieve",
        summary="Refund status",
        request=None,
        responses={200: RefundSerializer, 404: ERR_404, **COMMON_ERRORS},
        tags=["refunds"],
    )
    def get(self, request: Request, refund_id: str) -> Response:
        refund = _owned_refund(request, refund_id)
        return Response(RefundSerializer(refund_payload(refund, request)).data)


class RefundPayoutApi(MerchantApiView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "RefundPayoutInput"

        payment_request = serializers.CharField(
            required=False, max_length=4000, help_text="The customer's bolt11 for exactly the refund's amount."
        )
        address = serializers.CharField(required=False, max_length=255, help_text="Or their Lightning address.")

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            _reject_unknown(self, attrs)
            if bool(attrs.get("payment_request")) == bool(attrs.get("address")):
                raise serializers.ValidationError({"payment_request": ["Give a payment_request or an address."]})
            return attrs

    @extend_schema(
        operation_id="refunds_payout",
        summary="Pay a funded refund to the customer's invoice or Lightning address",
        description="Instead of the LNURL claim. The invoice is checked (exact amount, mainnet, life left) first.",
        request=InputSerializer,
        responses={202: RefundSerializer, 400: ERR_400, 404: ERR_404, **COMMON_ERRORS},
        tags=["refunds"],
    )
    def post(self, request: Request, refund_id: str) -> Response:
        refund = _owned_refund(request, refund_id)
        _requested_by(request)  # paying out is a refund action: the same permission
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data.get("payment_request"):
            refund_payout_commit(
                refund_id=refund.pk, payment_request=data.validated_data["payment_request"], via=PayoutVia.INVOICE
            )
        else:
            refund_payout_to_address(refund_id=refund.pk, address=data.validated_data["address"])
        refund.refresh_from_db()
        return Response(RefundSerializer(refund_payload(refund, request)).data, status=status.HTTP_202_ACCEPTED)
