"""Payment models. Table and column names mirror the seed schema (``seeds/002``) so operators' SQL runs
unchanged. Amounts are integer satoshis in BIGINT columns; display-currency amounts are Decimal."""

from payments.models.accounts import PlatformAccount
from payments.models.books import (
    BooksCheckpoint,
    BooksDifference,
    BooksRun,
    BooksRunStatus,
    BooksTransaction,
    DifferenceKind,
    DifferenceStatus,
)
from payments.models.cashier import CashierPin
from payments.models.events import PaymentEvent
from payments.models.inbound import IdempotencyRecord, UnmatchedPayment, WebhookDelivery
from payments.models.merchant_webhooks import (
    MerchantWebhookAttempt,
    MerchantWebhookEndpoint,
    MerchantWebhookMessage,
    MessageStatus,
    WebhookEventType,
)
from payments.models.parties import Merchant, PayoutRouteKind, SplitProfile, SplitProfileShare, Staff, Terminal
from payments.models.paycodes import PayCode, PayCodeKind
from payments.models.refunds import AdjustmentKind, PayoutState, PayoutVia, Refund, RefundStatus, TipAdjustment
from payments.models.shifts import (
    ClockCorrection,
    ClockEntry,
    ClockSource,
    PoolAccrual,
    PoolAllocation,
    PoolMethod,
    PoolPayout,
    PoolPayoutStatus,
    PoolRule,
    Shift,
    ShiftEvent,
    ShiftStatus,
    StaffRole,
    TerminalGroup,
    TipMode,
    TipOut,
)
from payments.models.splits import LegStatus, PaymentLeg, PaymentSplit, SplitKind, SplitStatus
from payments.models.staff_access import SignInLinkOrigin, StaffLogin, StaffPortal, StaffSignInToken
from payments.models.stats import TipRecipientStats

__all__ = [
    "AdjustmentKind",
    "BooksCheckpoint",
    "BooksDifference",
    "BooksRun",
    "BooksRunStatus",
    "BooksTransaction",
    "CashierPin",
    "ClockCorrection",
    "ClockEntry",
    "ClockSource",
    "DifferenceKind",
    "DifferenceStatus",
    "IdempotencyRecord",
    "LegStatus",
    "Merchant",
    "MerchantWebhookAttempt",
    "MerchantWebhookEndpoint",
    "MerchantWebhookMessage",
    "MessageStatus",
    "PayCode",
    "PayCodeKind",
    "PaymentEvent",
    "PaymentLeg",
    "PaymentSplit",
    "PayoutRouteKind",
    "PayoutState",
    "PayoutVia",
    "PlatformAccount",
    "PoolAccrual",
    "PoolAllocation",
    "PoolMethod",
    "PoolPayout",
    "PoolPayoutStatus",
    "PoolRule",
    "Refund",
    "RefundStatus",
    "Shift",
    "ShiftEvent",
    "ShiftStatus",
    "SignInLinkOrigin",
    "SplitKind",
    "SplitProfile",
    "SplitProfileShare",
    "SplitStatus",
    "Staff",
    "StaffLogin",
    "StaffPortal",
    "StaffRole",
    "StaffSignInToken",
    "Terminal",
    "TerminalGroup",
    "TipAdjustment",
    "TipMode",
    "TipOut",
    "TipRecipientStats",
    "UnmatchedPayment",
    "WebhookDelivery",
    "WebhookEventType",
]
