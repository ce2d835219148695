"""Fixtures for merchants' outgoing webhooks: a loopback receiver the SSRF policy allows (exactly its
host:port, as the LNURL tests do), a controllable clock (``django.utils.timezone.now``, the only mock)
and a merchant with an endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from payments.models import Merchant, MerchantWebhookEndpoint
from payments.services.webhook_endpoints import endpoint_create
from tests.factories import MerchantFactory
from tests.webhook_receiver import Receiver

ALL_EVENTS = ["invoice.paid", "payment.completed", "payment.failed", "payout.failed", "refund.funded"]


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    settings.MERCHANT_WEBHOOKS_ALLOW_HTTP_HOSTS = [server.host]
    settings.MERCHANT_WEBHOOKS_TIMEOUT_SECONDS = 2.0
    yield server
    server.stop()


class Clock:
    """The app's clock: starts at the real now, moves only when told."""

    def __init__(self) -> None:
        self.now = timezone.now()

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now

    def set(self, when: datetime) -> datetime:
        self.now = max(self.now, when)
        return self.now


@pytest.fixture
def clock() -> Iterator[Clock]:
    c = Clock()
    with mock.patch("django.utils.timezone.now", lambda: c.now):
        yield c


@pytest.fixture
def merchant(db: Any) -> Merchant:
    return MerchantFactory(user__email="owner@shop.example")


@pytest.fixture
def endpoint(merchant: Merchant, receiver: Receiver) -> tuple[MerchantWebhookEndpoint, str]:
    return endpoint_create(merchant=merchant, url=receiver.url, event_types=ALL_EVENTS, description="orders")
