"""Every console action (evict, re-warm, export) goes to Django's admin log with the operator's name, where
the admin's "Recent actions" and ``LogEntry`` show it. Messages never hold a key's value."""

from __future__ import annotations

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.http import HttpRequest

from blinkpos.logging import get_logger
from console.models import ConsoleAccess

log = get_logger(__name__)


def record(request: HttpRequest, action: str, target: str) -> LogEntry:
    """Write one admin-log row (``change_message`` = "<action>: <target>") and a structured log line."""
    user = request.user
    entry = LogEntry.objects.create(
        user_id=int(user.pk or 0),
        content_type=ContentType.objects.get_for_model(ConsoleAccess, for_concrete_model=False),
        object_id=None,
        object_repr=f"console {action}"[:200],
        action_flag=CHANGE,
        change_message=f"{action}: {target}"[:1000],
    )
    log.info("console.action", action=action, target=target[:200], operator=user.get_username())
    return entry
