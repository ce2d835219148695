"""Server-Sent Events framing (the WHATWG EventSource format), and the ``Last-Event-ID`` parser."""

from __future__ import annotations

import json
from typing import Any

RETRY_MS = 3000  # the browser's reconnect delay after a broken stream
KEEPALIVE = b": ping\n\n"
_MAX_ID = 2**63 - 1  # payment_events.id is a BIGINT


def event(*, event_id: int | None, name: str, data: dict[str, Any]) -> bytes:
    """One event: ``id``, ``event`` and the JSON on one ``data`` line (JSON has no raw newlines)."""
    head = f"id: {event_id}\n" if event_id else ""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"{head}event: {name}\ndata: {body}\n\n".encode()


def mark(event_id: int) -> bytes:
    """An id without an event: the client resumes from here, nothing is dispatched to its handlers."""
    return f"id: {event_id}\n\n".encode()


def retry(ms: int = RETRY_MS) -> bytes:
    return f"retry: {ms}\n\n".encode()


class BadLastEventId(ValueError):
    pass


def parse_last_event_id(value: str | None) -> int | None:
    """None when absent or empty (a fresh connection); else the id, or ``BadLastEventId``."""
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > _MAX_ID:
        raise BadLastEventId("Last-Event-ID must be an event id this stream sent (a non-negative integer).")
    return int(text)
