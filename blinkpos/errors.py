"""One base for the errors a merchant, a cashier or an operator can act on, and how web pages show them.

A service raises an ``ApplicationError`` subclass (or Django's field-keyed ``ValidationError``) when a
request cannot be done as asked: the invoice was already paid, the wallet provider is away, the
Idempotency-Key was used for another body. Each error carries what an answer needs (a stable
``code``, a ``message`` fit to show, per-field messages, an HTTP status hint and, for a temporary
condition, ``retry_after`` seconds), so each front end maps the whole family in one place:

- the POS API: ``payments.api.errors.exception_handler``;
- the merchant's web pages: ``USER_ERRORS``, ``user_error_fields`` and ``user_error_response`` below.

Anything else escaping a service is a bug and surfaces as one (a logged 500), never as a form error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.core.exceptions import ValidationError
from django.http import JsonResponse

# Messages for the form as a whole rather than one field (Django's NON_FIELD_ERRORS).
ALL_FIELDS = "__all__"


class ApplicationError(Exception):
    """A request the application refuses for a reason the caller can act on.

    Subclasses set ``code`` and ``http_status`` as class attributes; an instance may override both.
    ``fields`` maps input names to messages (empty when the error is not about one input).
    """

    code: str = "invalid_request"
    http_status: int = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: Mapping[str, Sequence[str]] | None = None,
        http_status: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status
        self.fields: dict[str, list[str]] = {name: list(messages) for name, messages in (fields or {}).items()}
        self.retry_after = retry_after


# What a web page shows as a refusal instead of an error page.
USER_ERRORS = (ApplicationError, ValidationError)


def user_error_fields(exc: ApplicationError | ValidationError) -> dict[str, list[str]]:
    """Messages keyed by input name, ``__all__`` for those about the request as a whole."""
    if isinstance(exc, ApplicationError):
        return exc.fields or {ALL_FIELDS: [exc.message]}
    if hasattr(exc, "error_dict"):
        return {name: [str(m) for m in messages] for name, messages in exc.message_dict.items()}
    return {ALL_FIELDS: [str(m) for m in exc.messages]}


def user_error_response(
    exc: ApplicationError | ValidationError, *, field_names: Mapping[str, str] | None = None
) -> JsonResponse:
    """The JSON a page's script shows: ``{"error": {"code", "message", "fields"}}`` with the error's
    status (400 for a ``ValidationError``). ``field_names`` renames service inputs to the form's fields."""
    names = field_names or {}
    if isinstance(exc, ApplicationError):
        code, message, status = exc.code, exc.message, exc.http_status
        fields = exc.fields
    else:
        code, message, status = "invalid_input", "Check the highlighted fields.", 400
        fields = user_error_fields(exc)
    renamed = {names.get(name, name): messages for name, messages in fields.items()}
    response = JsonResponse({"error": {"code": code, "message": message, "fields": renamed}}, status=status)
    if isinstance(exc, ApplicationError) and exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    return response
