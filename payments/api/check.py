"""``POST /api/v1/invoices/{payment_hash}/check``: a terminal asks "has it been paid?" right now.

The server asks the wallet provider itself and runs the same detection path as the webhook and the
reconciler; nothing the client sends can mark a payment paid.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from payments import selectors, store
from payments.api.common import MerchantApiView
from payments.api.errors import not_found
from payments.api.examples import COMMON_ERRORS, ERR_400, ERR_404, ERR_502, ERR_503, STATUS_RESPONSE
from payments.api.principal import request_merchant_id
from payments.api.status_payload import InvoiceStatusSerializer, status_payload
from payments.models import SplitStatus
from payments.services.detection import payment_check
from payments.services.pricing import ProviderError, ProviderUnavailable
from payments.wallet.errors import WalletError, WalletUnavailable

# Only an unpaid invoice needs the provider; for anything else PostgreSQL already knows.
_ASK_PROVIDER = frozenset({SplitStatus.PENDING, SplitStatus.EXPIRED, SplitStatus.CANCELLED})


class InvoiceCheckApi(MerchantApiView):
    class InputSerializer(serializers.Serializer):
        payment_hash = serializers.RegexField(
            r"^[0-9a-fA-F]{64}$", error_messages={"invalid": "Must be 64 hex characters."}
        )

    @extend_schema(
        operation_id="invoices_check",
        summary="Check payment now",
        description=(
            "Asks the wallet provider about this invoice immediately; if it is paid, the payment is recorded "
            "and forwarding starts, exactly as when the webhook arrives. Answers the invoice's status."
        ),
        request=None,
        responses={200: STATUS_RESPONSE, 400: ERR_400, 404: ERR_404, 502: ERR_502, 503: ERR_503, **COMMON_ERRORS},
        tags=["invoices"],
    )
    def post(self, request: Request, payment_hash: str) -> Response:
        data = self.InputSerializer(data={"payment_hash": payment_hash})
        data.is_valid(raise_exception=True)
        merchant_id = request_merchant_id(request)
        assert merchant_id is not None  # HasMerchant
        split = selectors.split_get_for_merchant(merchant_id=merchant_id, payment_hash=payment_hash)
        if split is None:
            raise not_found()
        if split.status in _ASK_PROVIDER:
            try:
                payment_check(split=split, source="check")
            # payment_check leaves wallet errors to its caller (the reconciler and the task retry on
            # them); a request answers them as the create does.
            except WalletUnavailable as exc:
                raise ProviderUnavailable.from_wallet(exc) from exc
            except WalletError as exc:
                raise ProviderError(
                    provider_code=exc.code, message="The wallet provider could not check this invoice."
                ) from exc
            split.refresh_from_db()
        return Response(InvoiceStatusSerializer(status_payload(store.snapshot(split))).data)
