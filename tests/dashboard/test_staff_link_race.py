"""A sign-in link opens one session even when two requests spend it at the same moment (two database
connections racing on the conditional UPDATE)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from payments.models import Merchant, Staff
from payments.services.staff_access import staff_link_for_merchant, staff_link_redeem
from tests.dashboard.staff_support import give_login
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_concurrent_redeems_sign_in_once(merchant: Merchant) -> None:
    # given
    dana: Staff = StaffFactory(merchant=merchant, blink_username="dana")
    give_login(merchant, dana, email="dana@example.com")
    token = staff_link_for_merchant(merchant=merchant, staff_id=dana.pk).token
    barrier = threading.Barrier(4)
    results: list[bool] = []

    def redeem() -> None:
        try:
            barrier.wait()
            results.append(staff_link_redeem(token=token) is not None)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=redeem) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # then
    assert sorted(results) == [False, False, False, True]
