"""Fixtures for the merchant web app: two merchants (for isolation checks) with logged-in clients."""

from __future__ import annotations

import pytest
from django.test import Client

from payments.models import Merchant
from tests.factories import MerchantFactory, StaffFactory, UserFactory

PASSWORD = "correct horse battery staple"


@pytest.fixture
def merchant() -> Merchant:
    return MerchantFactory(user=UserFactory(username="alice-owner"), name="Alice's Cafe", tip_presets=[10, 15, 20])


@pytest.fixture
def other_merchant() -> Merchant:
    return MerchantFactory(user=UserFactory(username="bob-owner"), name="Bob's Bar")


@pytest.fixture
def client_a(merchant: Merchant) -> Client:
    client = Client()
    client.force_login(merchant.user)
    return client


@pytest.fixture
def csrf_client_a(merchant: Merchant) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(merchant.user)
    return client


@pytest.fixture
def staff_a(merchant: Merchant) -> object:
    return StaffFactory(merchant=merchant, display_name="Dana", blink_username="dana")
