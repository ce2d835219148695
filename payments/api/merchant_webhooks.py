"""Webhook endpoints over the API (docs/WEBHOOKS.md): register, list, change, remove, reveal or rotate
the signing secret, send a test event, read the delivery log, replay a message.

Secrets are the merchant's to see, so every route needs the merchant's signed-in owner: a terminal
key (a device at the counter) is refused with 403. Another merchant's endpoint is a 404. Bad input is
a 400 naming the field, and nothing is written.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from payments.api.common import MerchantApiView
from payments.api.errors import not_found
from payments.api.examples import COMMON_ERRORS, ERR_400, ERR_404
from payments.api.payouts import ERR_403_OWNER, SignedInOwner
from payments.api.principal import request_merchant
from payments.models import MerchantWebhookAttempt, MerchantWebhookEndpoint, MerchantWebhookMessage
from payments.models.merchant_webhooks import SUBSCRIBABLE_EVENTS
from payments.services import webhook_endpoints as svc

ERRORS = {**COMMON_ERRORS, 400: ERR_400, 403: ERR_403_OWNER, 404: ERR_404}
TAGS = ["webhooks"]
LOG_LIMIT = 100


def _reject_unknown(serializer: serializers.Serializer, attrs: dict[str, Any]) -> dict[str, Any]:
    data = serializer.initial_data
    unknown = sorted(set(data) - set(serializer.fields)) if isinstance(data, dict) else []
    if unknown:
        raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
    return attrs


class EndpointOutput(serializers.Serializer):
    class Meta:
        ref_name = "WebhookEndpoint"

    id = serializers.IntegerField()
    url = serializers.CharField()
    description = serializers.CharField()
    event_types = serializers.ListField(child=serializers.CharField())
    enabled = serializers.BooleanField()
    disabled_at = serializers.DateTimeField(allow_null=True, help_text="When it was disabled (410 or 3 days failing).")
    disabled_reason = serializers.CharField()
    failing_since = serializers.DateTimeField(allow_null=True)
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="During a rotation: until when the previous secret still signs."
    )
    created_at = serializers.DateTimeField()


class EndpointWithSecret(EndpointOutput):
    class Meta:
        ref_name = "WebhookEndpointWithSecret"

    secret = serializers.CharField(help_text="The `whsec_` signing secret. Keep it on your receiver only.")


class SecretOutput(serializers.Serializer):
    secret = serializers.CharField(help_text="The current `whsec_` signing secret.")
    previous_secret_expires_at = serializers.DateTimeField(allow_null=True)


class MessageOutput(serializers.Serializer):
    class Meta:
        ref_name = "WebhookMessage"

    msg_id = serializers.CharField(help_text="The `webhook-id` header; the same on every attempt and replay.")
    event_type = serializers.CharField()
    status = serializers.CharField(help_text="pending, sending, succeeded or failed.")
    attempts = serializers.IntegerField(help_text="Attempts of the current round (a replay starts a new one).")
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)


class AttemptOutput(serializers.Serializer):
    class Meta:
        ref_name = "WebhookAttempt"

    msg_id = serializers.CharField(source="message.msg_id")
    event_type = serializers.CharField(source="message.event_type")
    attempted_at = serializers.DateTimeField()
    trigger = serializers.CharField(help_text="auto, replay or test.")
    status_code = serializers.IntegerField(allow_null=True, help_text="Null: no HTTP answer (see `error`).")
    duration_ms = serializers.IntegerField()
    response_body = serializers.CharField(help_text="The first 1 KB of the answer.")
    error = serializers.CharField(help_text="timeout, unreachable, private_address, too_large, ... or empty.")
    succeeded = serializers.BooleanField()


def _endpoints(request: Request) -> QuerySet[MerchantWebhookEndpoint]:
    return MerchantWebhookEndpoint.objects.filter(merchant=request_merchant(request))


def _owned(request: Request, endpoint_id: str) -> MerchantWebhookEndpoint:
    endpoint = None
    if endpoint_id.isascii() and endpoint_id.isdigit() and len(endpoint_id) < 19:
        endpoint = _endpoints(request).filter(pk=int(endpoint_id)).first()
    if endpoint is None:
        raise not_found()
    return endpoint


class _OwnerView(MerchantApiView):
    permission_classes = [*MerchantApiView.permission_classes, SignedInOwner]


class EndpointInput(serializers.Serializer):
    class Meta:
        ref_name = "WebhookEndpointInput"

    url = serializers.CharField(max_length=svc.URL_MAX_CHARS, help_text="https URL of your receiver.")
    description = serializers.CharField(max_length=svc.DESCRIPTION_MAX_CHARS, allow_blank=True, required=False)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=list(SUBSCRIBABLE_EVENTS)), allow_empty=False, max_length=20
    )
    enabled = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return _reject_unknown(self, attrs)


class EndpointPatch(EndpointInput):
    class Meta:
        ref_name = "WebhookEndpointPatch"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, partial=True, **kwargs)


class EndpointCollectionApi(_OwnerView):
    @extend_schema(
        operation_id="webhook_endpoints_list",
        summary="List your webhook endpoints",
        responses={200: EndpointOutput(many=True), **ERRORS},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        return Response(EndpointOutput(_endpoints(request), many=True).data)

    @extend_schema(
        operation_id="webhook_endpoints_create",
        summary="Register a webhook endpoint",
        description=(
            "The answer carries the signing secret; it can be read again with `GET .../secret`. The URL must "
            "be https and resolve to public addresses only (`url` is named otherwise)."
        ),
        request=EndpointInput,
        responses={201: EndpointWithSecret, **ERRORS},
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        merchant = request_merchant(request)
        serializer = EndpointInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        endpoint, secret = svc.endpoint_create(
            merchant=merchant,
            url=data["url"],
            event_types=data["event_types"],
            description=data.get("description", ""),
            enabled=data.get("enabled", True),
        )
        return Response({**EndpointOutput(endpoint).data, "secret": secret}, status=status.HTTP_201_CREATED)


class EndpointDetailApi(_OwnerView):
    @extend_schema(
        operation_id="webhook_endpoints_read",
        summary="Read a webhook endpoint",
        responses={200: EndpointOutput, **ERRORS},
        tags=TAGS,
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        return Response(EndpointOutput(_owned(request, endpoint_id)).data)

    @extend_schema(
        operation_id="webhook_endpoints_update",
        summary="Change a webhook endpoint (URL, description, events, enabled)",
        description="Enabling a disabled endpoint clears its failure state; replay what it missed.",
        request=EndpointPatch,
        responses={200: EndpointOutput, **ERRORS},
        tags=TAGS,
    )
    def patch(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _owned(request, endpoint_id)
        serializer = EndpointPatch(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        endpoint = svc.endpoint_update(
            endpoint=endpoint,
            url=data.get("url"),
            event_types=data.get("event_types"),
            description=data.get("description"),
            enabled=data.get("enabled"),
        )
        return Response(EndpointOutput(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints_delete",
        summary="Remove a webhook endpoint and its delivery log",
        responses={204: None, **ERRORS},
        tags=TAGS,
    )
    def delete(self, request: Request, endpoint_id: str) -> Response:
        svc.endpoint_delete(endpoint=_owned(request, endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointSecretApi(_OwnerView):
    @extend_schema(
        operation_id="webhook_endpoints_secret",
        summary="Show the endpoint's signing secret",
        responses={200: SecretOutput, **ERRORS},
        tags=TAGS,
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _owned(request, endpoint_id)
        return Response(
            {
                "secret": svc.endpoint_secret(endpoint=endpoint),
                "previous_secret_expires_at": endpoint.previous_secret_expires_at,
            }
        )


class EndpointRotateSecretApi(_OwnerView):
    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        summary="Rotate the signing secret (the old one keeps signing for 24 h)",
        description=(
            "During the 24 h overlap every delivery carries two signatures in `webhook-signature` "
            "(space separated), one per secret; after it, only the new secret signs."
        ),
        request=None,
        responses={200: SecretOutput, **ERRORS},
        tags=TAGS,
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _owned(request, endpoint_id)
        secret = svc.endpoint_rotate_secret(endpoint=endpoint)
        return Response({"secret": secret, "previous_secret_expires_at": endpoint.previous_secret_expires_at})


class EndpointTestApi(_OwnerView):
    @extend_schema(
        operation_id="webhook_endpoints_test",
        summary="Send a test event (`webhook.test`)",
        request=None,
        responses={202: MessageOutput, **ERRORS, 409: OpenApiResponse(description="The endpoint is disabled.")},
        tags=TAGS,
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        message = svc.endpoint_send_test(endpoint=_owned(request, endpoint_id))
        return Response(MessageOutput(message).data, status=status.HTTP_202_ACCEPTED)


class EndpointMessagesApi(_OwnerView):
    @extend_schema(
        operation_id="webhook_endpoints_messages",
        summary="The endpoint's messages, newest first (last 100)",
        responses={200: MessageOutput(many=True), **ERRORS},
        tags=TAGS,
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _owned(request, endpoint_id)
        messages = MerchantWebhookMessage.objects.filter(endpoint=endpoint)[:LOG_LIMIT]
        return Response(MessageOutput(messages, many=True).data)


class EndpointAttemptsApi(_OwnerView):
    @extend_schema(
        operation_id="webhook_endpoints_attempts",
        summary="The delivery log: every attempt, newest first (last 100)",
        responses={200: AttemptOutput(many=True), **ERRORS},
        tags=TAGS,
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _owned(request, endpoint_id)
        attempts = MerchantWebhookAttempt.objects.filter(endpoint=endpoint).select_related("message")[:LOG_LIMIT]
        return Response(AttemptOutput(attempts, many=True).data)


class MessageReplayApi(_OwnerView):
    @extend_schema(
        operation_id="webhook_messages_replay",
        summary="Replay a message (same webhook-id, newly signed, a new round of retries)",
        request=None,
        responses={
            202: MessageOutput,
            **ERRORS,
            409: OpenApiResponse(description="The endpoint is disabled, or the message is being sent now."),
        },
        tags=TAGS,
    )
    def post(self, request: Request, endpoint_id: str, msg_id: str) -> Response:
        endpoint = _owned(request, endpoint_id)
        message = MerchantWebhookMessage.objects.filter(endpoint=endpoint, msg_id=msg_id[:40]).first()
        if message is None:
            raise not_found()
        message = svc.message_replay(message=message)
        return Response(MessageOutput(message).data, status=status.HTTP_202_ACCEPTED)
