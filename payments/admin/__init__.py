"""The back office: every payments model in the Django admin. Money is read-only everywhere; the
actions that change state call services (see ``common.run_service``)."""

from payments.admin import (  # noqa: F401  (registers the admins)
    accounts,
    books,
    inbound,
    merchant_webhooks,
    parties,
    paycodes,
    payouts,
    refunds,
    shifts,
    splits,
    staff_access,
)
