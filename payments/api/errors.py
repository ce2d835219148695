"""One error format everywhere: ``{"error": {"code": ..., "message": ..., "fields": {...}}}``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.utils import InterfaceError as DatabaseInterfaceError
from django.db.utils import OperationalError as DatabaseOperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from blinkpos.errors import ApplicationError
from blinkpos.logging import get_logger

log = get_logger(__name__)
DATABASE_RETRY_AFTER_SECONDS = 5
# PostgreSQL restarting, failing over or the pool exhausted: a temporary outage, answered 503 by the API's
# handler here and by blinkpos/db_unavailable.py for the plain views.
DATABASE_UNAVAILABLE = (DatabaseOperationalError, DatabaseInterfaceError)
DATABASE_UNAVAILABLE_MESSAGE = "The database is temporarily unavailable; retry shortly."


class ApiError(exceptions.APIException):
    """An error with an explicit code, status and optional per-field messages."""

    def __init__(
        self,
        *,
        code: str,
        message: str,
        status_code: int = status.HTTP_400_BAD_REQUEST,
        fields: dict[str, list[str]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.message = message
        self.fields = fields or {}
        self.retry_after = retry_after


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub, msgs in _flatten(value).items():
                    out[f"{key}.{sub}"] = msgs
            elif isinstance(value, list):
                out[str(key)] = [str(v) for v in value]
            else:
                out[str(key)] = [str(value)]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(v) for v in detail]}
    return {"non_field_errors": [str(detail)]}


_CODES = {
    exceptions.NotAuthenticated: ("not_authenticated", "Authentication credentials were not provided."),
    exceptions.AuthenticationFailed: ("authentication_failed", None),
    exceptions.PermissionDenied: ("permission_denied", None),
    exceptions.NotFound: ("not_found", "Not found."),
    exceptions.MethodNotAllowed: ("method_not_allowed", None),
    exceptions.ParseError: ("malformed_request", None),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", None),
    exceptions.Throttled: ("rate_limited", None),
    exceptions.NotAcceptable: ("not_acceptable", None),
}


def not_found() -> ApiError:
    """The one 404 of the POS API: an unknown id and another merchant's id look the same."""
    return ApiError(code="not_found", message="Not found.", status_code=status.HTTP_404_NOT_FOUND)


def _from_service_error(exc: Exception) -> Exception:
    """Service-layer errors (no HTTP knowledge) become API errors: field-keyed ValidationError → 400,
    an ``ApplicationError`` → its own code, message, fields, status and Retry-After."""
    if isinstance(exc, RequestDataTooBig):
        return ApiError(
            code="request_too_large",
            message=f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            fields = {name: [str(m) for m in messages] for name, messages in exc.message_dict.items()}
        else:
            fields = {"non_field_errors": [str(m) for m in exc.messages]}
        return ApiError(code="invalid_input", message="The request has invalid fields.", fields=fields)
    if isinstance(exc, ApplicationError):
        return ApiError(
            code=exc.code,
            message=exc.message,
            status_code=exc.http_status,
            fields=exc.fields,
            retry_after=exc.retry_after,
        )
    return exc


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    exc = _from_service_error(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, ApiError):
        api_response = Response(error_body(exc.error_code, exc.message, exc.fields), status=exc.status_code)
        if exc.retry_after is not None:
            api_response["Retry-After"] = str(exc.retry_after)
        return api_response
    if isinstance(exc, DATABASE_UNAVAILABLE):
        # PostgreSQL restarting or the pool exhausted: a temporary outage, not a bug. The client may
        # retry (with the same Idempotency-Key for a create); nothing was committed.
        log.warning("api.database_unavailable", error=type(exc).__name__)
        db_response = Response(
            error_body("service_unavailable", DATABASE_UNAVAILABLE_MESSAGE),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        db_response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return db_response
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unexpected: Django's 500 handler logs it
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("invalid_input", "The request has invalid fields.", _flatten(exc.detail))
        return response
    code, message = "error", None
    for exc_type, (mapped_code, default_message) in _CODES.items():
        if isinstance(exc, exc_type):
            code, message = mapped_code, default_message
            break
    detail = getattr(exc, "detail", None)
    response.data = error_body(code, message or str(detail or exc))
    return response
