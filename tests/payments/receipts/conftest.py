"""The receipts tests' sale: tests/receipt_support.py."""

from __future__ import annotations

import pytest

from payments.models import PaymentSplit
from tests.receipt_support import make_tipped_sale


@pytest.fixture
def tipped_sale() -> PaymentSplit:
    return make_tipped_sale()
