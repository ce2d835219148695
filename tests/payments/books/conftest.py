"""Fixtures for the books tests: the forwarding tests' parties and splits (real accounts and invoices at
the fake Blink), a sale that is paid and forwarded in-process, and the settings that let a run judge
what happened a moment ago."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fakeblink import FakeBlink
from payments.models import PaymentSplit
from payments.services.detection import payment_detected
from payments.services.forwarding import forward_split
from tests.payments.forwarding.conftest import MakeSplit, Parties, make_split, parties  # noqa: F401

Sale = Callable[..., PaymentSplit]


@pytest.fixture(autouse=True)
def _judge_at_once(settings: Any) -> None:
    settings.BOOKS_SETTLE_SECONDS = 0
    settings.BOOKS_PAGE_SIZE = 3  # several pages even for a small ledger
    settings.BOOKS_HELD_SATS = 0


@pytest.fixture
def sale(fake_blink: FakeBlink, make_split: MakeSplit) -> Sale:  # noqa: F811
    """A customer pays a split at the fake, we detect it, and (unless told not to) forward every leg."""

    def make(*, forward: bool = True, **kwargs: Any) -> PaymentSplit:
        split = make_split(**kwargs)
        fake_blink.pay_invoice_as_customer(split.payment_hash)
        assert payment_detected(payment_hash=split.payment_hash, amount_sats=split.total_amount, source="test") == (
            "paid"
        )
        if forward:
            assert forward_split(split_id=split.pk) == "completed"
        split.refresh_from_db()
        return split

    return make
