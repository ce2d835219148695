"""OpenAPI for the status streams (payments/api/status_events.py).

The stream views are async Django views (no DRF view class for drf-spectacular to read), so this
postprocessing hook writes their two operations into the generated schema: the ``text/event-stream``
answer, the event format, ``Last-Event-ID`` and the same errors as the status endpoint.
"""

from __future__ import annotations

from typing import Any

_EVENT_FORMAT = (
    "Server-Sent Events (`text/event-stream`). Each event:\n\n"
    '```\nid: 48121\nevent: paid\ndata: {"payment_hash": "5f1c…", "status": "paid", …}\n\n```\n\n'
    "- `id`: the status change's id (increasing per invoice); a reconnecting client sends it back as "
    "`Last-Event-ID` and receives every change after it before live events (EventSource does this by "
    "itself).\n"
    "- `event`: the new status: `pending`, `paid`, `processing`, `completed`, `expired`, `cancelled`, "
    "`failed`; a refund's change is `refund_<status>` (`refund_awaiting_funding`, `refund_funded`, "
    "`refund_paying`, `refund_paid`, `refund_expired`, `refund_cancelled`, `refund_failed`).\n"
    "- `data`: one line of JSON, exactly what `GET /api/v1/invoices/{payment_hash}` answers at the time "
    "the event is sent (schema `InvoiceStatus`).\n\n"
    "The stream also sends `retry: 3000` on connect and a `: ping` comment every 15 s. Delivery is at least "
    "once: after a reconnect a change may repeat; `data.status` is always the current state. Polling the "
    "status endpoint stays the reference: a client whose stream fails falls back to it."
)
_LAST_EVENT_ID = {
    "in": "header",
    "name": "Last-Event-ID",
    "required": False,
    "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
    "description": "The last `id` this client received: resume after it. Anything but a non-negative integer is a 400.",
}
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_STREAM = {"text/event-stream": {"schema": {"type": "string", "description": "A stream of events, see above."}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "A malformed `Last-Event-ID` (`fields` names it).",
        401: "No or a wrong API key.",
        403: "Not allowed (for the terminal stream: a session instead of a terminal key).",
        404: "No such invoice for this merchant (another merchant's invoice looks the same).",
        429: "Rate limited (opening a stream counts as a request).",
    }
    return {str(code): {"description": text[code], "content": _ERROR} for code in codes}


def add_status_streams(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    paths = result.setdefault("paths", {})
    security: list[dict[str, list[str]]] = [{"TerminalApiKey": []}, {"cookieAuth": []}]
    paths["/api/v1/invoices/{payment_hash}/events"] = {
        "get": {
            "operationId": "invoices_events",
            "summary": "Invoice status stream (Server-Sent Events)",
            "description": (
                "Every status change of one invoice, pushed as it is committed: terminals and the web POS "
                "follow it instead of polling. Same authentication (a terminal key or the merchant's "
                "session) and tenant rule as the status endpoint. Without `Last-Event-ID` the stream starts "
                "with `event: status` (the current state). It ends after a final status (`completed`, "
                "`expired`, `cancelled`, `failed`) with no refund open; reconnecting with the last id then "
                "answers 204, which stops EventSource.\n\n" + _EVENT_FORMAT
            ),
            "parameters": [
                {"in": "path", "name": "payment_hash", "required": True, "schema": {"type": "string"}},
                _LAST_EVENT_ID,
            ],
            "tags": ["invoices"],
            "security": security,
            "responses": {
                "200": {"description": "The event stream.", "content": _STREAM},
                "204": {"description": "Nothing will follow `Last-Event-ID`: the invoice is final."},
                **_errors(400, 401, 403, 404, 429),
            },
        }
    }
    paths["/api/v1/terminal/events"] = {
        "get": {
            "operationId": "terminal_events",
            "summary": "Status stream of every invoice of this terminal (Server-Sent Events)",
            "description": (
                "The changes of all the calling terminal's invoices on one stream (a terminal key only). A "
                "new stream starts with an `id:` line and no event, so that a reconnect before the first "
                "event resumes from the connect time. It never ends by itself.\n\n" + _EVENT_FORMAT
            ),
            "parameters": [_LAST_EVENT_ID],
            "tags": ["terminal"],
            "security": [{"TerminalApiKey": []}],
            "responses": {
                "200": {"description": "The event stream.", "content": _STREAM},
                **_errors(400, 401, 403, 429),
            },
        }
    }
    return result
