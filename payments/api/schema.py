"""OpenAPI description of terminal authentication (imported by the views so drf-spectacular sees it)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TerminalKeyScheme(OpenApiAuthenticationExtension):
    target_class = "payments.api.authentication.TerminalKeyAuthentication"
    name = "TerminalApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "Per-terminal API key, shown once when the terminal is created: "
                "`Authorization: Api-Key bpos_<prefix>_<secret>`. Revoked keys answer 401."
            ),
        }
