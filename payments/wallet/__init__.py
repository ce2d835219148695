"""The wallet provider: a typed interface to Blink (``WalletProvider``), its GraphQL client
(``BlinkClient``) and a fake Blink for tests and the demo (``fakeblink``).

Nothing here imports Django, the ORM or Celery, except ``provider.py``, which builds the process's
client from settings: import ``get_wallet_provider`` from ``payments.wallet.provider``.
"""

from __future__ import annotations

from payments.wallet.base import WalletProvider
from payments.wallet.client import BlinkClient
from payments.wallet.conversion import fiat_to_sats, sats_to_fiat
from payments.wallet.errors import (
    DuplicateExternalId,
    InsufficientBalance,
    InvalidInput,
    InvoiceNotFound,
    NotAuthorized,
    NotFound,
    RateLimited,
    ReceiveDisabled,
    RecipientNotFound,
    WalletError,
    WalletProtocolError,
    WalletUnavailable,
    WrongCurrency,
)
from payments.wallet.types import (
    CreatedInvoice,
    InvoiceState,
    InvoiceStatus,
    KeyInfo,
    PaymentLookup,
    Price,
    SendResult,
    SendStatus,
    TransactionPage,
    TxDirection,
    TxStatus,
    WalletRef,
    WalletTransaction,
)

__all__ = [
    "BlinkClient",
    "CreatedInvoice",
    "DuplicateExternalId",
    "InsufficientBalance",
    "InvalidInput",
    "InvoiceNotFound",
    "InvoiceState",
    "InvoiceStatus",
    "KeyInfo",
    "NotAuthorized",
    "NotFound",
    "PaymentLookup",
    "Price",
    "RateLimited",
    "ReceiveDisabled",
    "RecipientNotFound",
    "SendResult",
    "SendStatus",
    "TransactionPage",
    "TxDirection",
    "TxStatus",
    "WalletError",
    "WalletProtocolError",
    "WalletProvider",
    "WalletRef",
    "WalletTransaction",
    "WalletUnavailable",
    "WrongCurrency",
    "fiat_to_sats",
    "sats_to_fiat",
]
