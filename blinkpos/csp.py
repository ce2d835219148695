"""Content-Security-Policy for the app's HTML pages (Django 5.2 has no CSP middleware of its own).

The dashboard and the admin use only same-origin scripts and styles (no inline script, no CDN), so the
policy is strict. Paths in ``CSP_EXEMPT_PATH_PREFIXES`` (the Swagger UI, which loads its own assets)
are left alone.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

DEFAULT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy: str = getattr(settings, "CONTENT_SECURITY_POLICY", DEFAULT_POLICY)
        self.exempt: tuple[str, ...] = tuple(getattr(settings, "CSP_EXEMPT_PATH_PREFIXES", ()))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" in response or request.path.startswith(self.exempt):
            return response
        if response.get("Content-Type", "").startswith("text/html"):
            response["Content-Security-Policy"] = self.policy
        return response
