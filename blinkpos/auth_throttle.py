"""Brute-force protection: failed sign-ins and failed API-key attempts are counted and, past a limit,
refused with 429 before any password or key is checked.

One middleware (``AuthFailureThrottleMiddleware``, listed in ``MIDDLEWARE``) watches:

- ``POST`` to the dashboard login and the admin login: a re-rendered form (200) is a failure, counted
  per client address and per username;
- any request carrying ``Authorization: Api-Key ...`` that is answered 401: counted per address.

An address past the API-key limit is refused before the view runs (``process_view``), or after URL
resolution failed (nothing ran, so the 404 is replaced). A view marked ``checks_api_key_block = True``
does the check itself: the status poll (``status_fast``) reads the counter in the same Redis round trip
as its rate counters and status document, so the middleware must not spend a GET of its own on it.

Counters are fixed windows in Redis (``ratelimit:authfail:{scope}:{ident}``, INCR + EXPIRE). A
success does not reset them (that would let an attacker interleave one good key). If Redis is
unreachable the request goes through: the limit protects against guessing, never decides about money,
and keys are 256-bit random anyway. Limits: ``AUTH_FAILURE_LIMITS`` (``{"login": [count, seconds],
"api_key": [count, seconds]}``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from blinkpos.logging import get_logger

log = get_logger(__name__)

DEFAULT_LIMITS: dict[str, tuple[int, int]] = {
    "login": (10, 15 * 60),
    "api_key": (20, 10 * 60),
    "cashier": (20, 15 * 60),  # the cashier's sign-in (dashboard/views_cashier.py) counts its own failures
    "staff": (20, 15 * 60),  # the staff sign-in (dashboard/views_staff_signin.py): wrong PINs and link asks
}


def limits(scope: str) -> tuple[int, int]:
    """(failures allowed, window seconds) for ``login`` or ``api_key``."""
    return _limits(scope)


def _limits(scope: str) -> tuple[int, int]:
    configured = getattr(settings, "AUTH_FAILURE_LIMITS", {}) or {}
    count, seconds = configured.get(scope, DEFAULT_LIMITS[scope])
    return int(count), int(seconds)


def _key(scope: str, ident: str) -> str:
    # Usernames and addresses are hashed: the key says nothing about who tried.
    digest = hashlib.sha256(ident.encode("utf-8", errors="replace")).hexdigest()[:24]
    return f"ratelimit:authfail:{scope}:{digest}"


def failure_key(scope: str, ident: str) -> str:
    return _key(scope, ident)


def failures(scope: str, ident: str) -> int:
    try:
        value = get_redis_connection("default").get(_key(scope, ident))
    except RedisError:
        return 0
    return int(value or 0)


def record_failure(scope: str, ident: str) -> int:
    _, window = _limits(scope.split(":")[0])
    try:
        pipe = get_redis_connection("default").pipeline(transaction=False)
        pipe.incr(_key(scope, ident))
        pipe.expire(_key(scope, ident), window, nx=True)
        return int(pipe.execute()[0])
    except RedisError:
        return 0


def blocked(scope: str, ident: str) -> bool:
    limit, _ = _limits(scope.split(":")[0])
    return failures(scope, ident) >= limit


def client_ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def uses_api_key(request: HttpRequest) -> bool:
    """Whether a request counts as an API-key attempt (any ``Api-Key`` scheme, well-formed or not)."""
    return str(request.META.get("HTTP_AUTHORIZATION", "")).startswith("Api-Key")


def api_key_blocked_response(request: HttpRequest) -> HttpResponse | None:
    """The 429 for an address past the API-key failure limit, or None. One Redis GET."""
    ip = client_ip(request)
    if not blocked("api_key", ip):
        return None
    return api_key_throttled(ip)


def api_key_throttled(ip: str) -> HttpResponse:
    log.warning("auth.api_key_throttled", source_ip=ip)
    return too_many_response(json=True, scope="api_key")


def too_many_response(*, json: bool, scope: str) -> HttpResponse:
    _, window = _limits(scope)
    message = "Too many failed attempts. Try again later."
    response: HttpResponse
    if json:
        response = JsonResponse({"error": {"code": "too_many_attempts", "message": message, "fields": {}}})
        response.status_code = 429
    else:
        response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(window)
    return response


# Per-request state of the API-key check, on the request object: PENDING until process_view ran.
_CHECK_ATTR = "_blinkpos_api_key_check"
_PENDING, _DONE = "pending", "done"


def _login_paths() -> frozenset[str]:
    admin = "/" + str(settings.ADMIN_URL).strip("/") + "/login/"
    return frozenset({str(settings.LOGIN_URL), admin})


class AuthFailureThrottleMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path in _login_paths():
            return self._login(request, client_ip(request))
        if not uses_api_key(request):
            return self.get_response(request)
        setattr(request, _CHECK_ATTR, _PENDING)
        response = self.get_response(request)
        if getattr(request, _CHECK_ATTR, None) == _PENDING:
            # No view ran (the URL did not resolve): answer a blocked address as before, with 429.
            refused = api_key_blocked_response(request)
            if refused is not None:
                return refused
        if response.status_code == 401:
            record_failure("api_key", client_ip(request))
        return response

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        # Checked here rather than in __call__ so a view that folds the check into its own Redis
        # round trip (checks_api_key_block) is not charged a second one.
        if getattr(request, _CHECK_ATTR, None) != _PENDING:
            return None
        setattr(request, _CHECK_ATTR, _DONE)
        if getattr(view_func, "checks_api_key_block", False):
            return None
        return api_key_blocked_response(request)

    def _login(self, request: HttpRequest, ip: str) -> HttpResponse:
        username = str(request.POST.get("username", ""))[:150].strip().lower()
        if blocked("login", ip) or (username and blocked("login:user", username)):
            log.warning("auth.login_throttled", source_ip=ip)
            return too_many_response(json=False, scope="login")
        response = self.get_response(request)
        # Django's LoginView answers a failed sign-in by showing the form again (200); success redirects.
        if response.status_code == 200:
            record_failure("login", ip)
            if username:
                record_failure("login:user", username)
        return response
