"""The API's error handler: temporary database outages answer 503 with Retry-After, never a 500."""

from __future__ import annotations

import pytest
from django.db.utils import InterfaceError, OperationalError

from blinkpos.errors import ApplicationError
from payments.api.errors import DATABASE_RETRY_AFTER_SECONDS, exception_handler


@pytest.mark.parametrize("error", [OperationalError("server closed the connection"), InterfaceError("closed")])
def test_database_outage_is_a_503_with_retry_after(error: Exception) -> None:
    # given: what psycopg raises while PostgreSQL restarts (seen in the chaos soak as a 500)
    # when
    response = exception_handler(error, {})

    # then
    assert response is not None
    assert response.status_code == 503
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    assert response.data["error"]["code"] == "service_unavailable"
    assert "server closed" not in str(response.data)  # the driver's message stays in the log


def test_an_unexpected_error_is_left_to_djangos_500_handler() -> None:
    assert exception_handler(RuntimeError("bug"), {}) is None


def test_an_application_error_from_a_service_keeps_its_code_fields_status_and_retry_after() -> None:
    # given: any service error of the family (the handler has no list of them)
    class Refused(ApplicationError):
        code = "refused_for_test"
        http_status = 409

    error = Refused("Not now.", fields={"memo": ["Too long."]}, retry_after=3)

    # when
    response = exception_handler(error, {})

    # then
    assert response is not None
    assert response.status_code == 409
    assert response["Retry-After"] == "3"
    assert response.data == {
        "error": {"code": "refused_for_test", "message": "Not now.", "fields": {"memo": ["Too long."]}}
    }
