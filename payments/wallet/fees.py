"""``lnInvoiceFeeProbe``: Blink's routing-fee estimate for paying a bolt11 from the platform wallet.

Kept apart from ``client.py`` (the client only forwards to ``probe_fee``). Intraledger targets (an
invoice of another Blink wallet) answer 0; outside ones a fee in sats. A probe that Blink refuses
(no route, an expired invoice) is a ``FeeProbe`` with ``error_code`` set and no fee: the caller must
not pay an invoice it could not price.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from payments.wallet import errors as e
from payments.wallet import mapping, validation
from payments.wallet.mapping import Subject

LN_INVOICE_FEE_PROBE: Final = """
mutation LnInvoiceFeeProbe($input: LnInvoiceFeeProbeInput!) {
  lnInvoiceFeeProbe(input: $input) {
    errors { code message path }
    amount
  }
}
"""


@dataclass(frozen=True, kw_only=True)
class FeeProbe:
    fee_sats: int | None
    error_code: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.fee_sats is not None and self.error_code is None


Query = Callable[..., Mapping[str, Any]]


def probe_fee(query: Query, *, wallet_id: str, payment_request: str) -> FeeProbe:
    """Run the probe through the client's ``_query``. Transport problems raise ``WalletUnavailable``."""
    validation.payment_request(payment_request)
    data = query(
        "lnInvoiceFeeProbe",
        LN_INVOICE_FEE_PROBE,
        {"input": {"walletId": wallet_id, "paymentRequest": payment_request}},
        subject=Subject.INVOICE,
    )
    payload = data.get("lnInvoiceFeeProbe")
    if not isinstance(payload, Mapping):
        raise e.WalletProtocolError("UNEXPECTED_RESPONSE", "lnInvoiceFeeProbe: no payload")
    found = mapping.first_error(payload.get("errors"))
    if found is not None:
        code, message = found
        return FeeProbe(fee_sats=None, error_code=code or "INVALID_INPUT", message=message)
    amount = mapping.as_int(payload.get("amount"))
    if amount is None or amount < 0:
        raise e.WalletProtocolError("UNEXPECTED_RESPONSE", "lnInvoiceFeeProbe: amount is not a sat amount")
    return FeeProbe(fee_sats=amount)
