"""How a web page shows a service's refusal: one mapping for every ApplicationError and Django's
field-keyed ValidationError, instead of a list of exception types per view."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError

from blinkpos.errors import ApplicationError, user_error_fields, user_error_response
from payments.services.invoice_cancel import InvoiceNotCancellable
from payments.services.pricing import ProviderUnavailable


def test_an_application_error_answers_its_own_code_status_and_retry_after() -> None:
    # given: the provider is away (a subclass sets code and status; the instance its retry hint)
    error = ProviderUnavailable(provider_code="TIMEOUT", message="The provider is away.", retry_after=7)

    # when
    response = user_error_response(error)

    # then
    assert response.status_code == 503
    assert response["Retry-After"] == "7"
    assert json.loads(response.content) == {
        "error": {"code": "provider_unavailable", "message": "The provider is away.", "fields": {}}
    }


def test_a_refusal_without_fields_is_a_message_for_the_whole_form() -> None:
    assert user_error_fields(InvoiceNotCancellable("paid")) == {
        "__all__": ["An invoice in status 'paid' cannot be cancelled."]
    }
    assert "Retry-After" not in user_error_response(InvoiceNotCancellable("paid"))


def test_field_messages_are_renamed_to_the_forms_fields() -> None:
    # given: the service names its API input; the page's form calls it differently
    error = ApplicationError("Bad staff.", code="bad_staff", fields={"staff_id": ["Unknown staff member."]})

    # when
    response = user_error_response(error, field_names={"staff_id": "staff"})

    # then
    assert response.status_code == 400
    assert json.loads(response.content)["error"]["fields"] == {"staff": ["Unknown staff member."]}


def test_a_validation_error_is_a_400_naming_its_fields() -> None:
    keyed = ValidationError({"amount_sats": ["Must be greater than 0."]})
    response = user_error_response(keyed, field_names={"amount_sats": "amount"})
    assert response.status_code == 400
    body = json.loads(response.content)["error"]
    assert body["code"] == "invalid_input"
    assert body["fields"] == {"amount": ["Must be greater than 0."]}
    assert user_error_fields(ValidationError("Weights must add up to 100%.")) == {
        "__all__": ["Weights must add up to 100%."]
    }
