"""Live invoice status over Server-Sent Events: one stream per invoice, one per terminal.

``GET /api/v1/invoices/{hash}/events``: the POS API's authentication, throttling and tenant rule (a
terminal key or a merchant's session; another merchant's invoice is the same 404 as the status
endpoint). ``GET /api/v1/terminal/events``: every invoice of the calling terminal (a terminal key).

An event is one status change of the invoice or of one of its refunds: ``id`` is the change's
``payment_events`` id, ``event`` the new status (``paid``, ``processing``, ``completed``, ``expired``,
``cancelled``, ``failed``, ``pending``; ``refund_<status>`` for a refund), ``data`` the JSON the status
endpoint answers at the time of sending. A new invoice stream starts with ``event: status`` (the
current state). ``Last-Event-ID`` resumes: the changes after it are sent first (read from PostgreSQL,
docs in payments/streams/reads.py). ``: ping`` every ``KEEPALIVE_SECONDS`` (every second, with a
re-read, while Redis is unreachable), ``retry:`` on connect. An invoice stream ends after a final
status with no refund open; reconnecting with the last id then answers 204, which stops a browser's
EventSource.

The views are async and run on the ASGI server (uvicorn): an open stream holds no thread, only a
queue on the process's one pub/sub connection (payments/streams/hub.py). The ORM runs in
``sync_to_async``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from asgiref.sync import SyncToAsync, sync_to_async
from django.db import connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.request import Request

from payments import selectors
from payments.api import errors
from payments.api.common import MerchantApiView
from payments.api.principal import request_merchant_id, request_terminal_id
from payments.api.status_fast import render
from payments.streams import reads, sse
from payments.streams.hub import RESYNC, StatusHub, Subscription, get_hub, invoice_key, terminal_key

KEEPALIVE_SECONDS = 15.0
# While the process's pub/sub listener is down no wake-up comes: streams re-read PostgreSQL this often
# instead, so a client waits about as long as a polling one would.
DEGRADED_SECONDS = 1.0
SUBSCRIBE_WAIT_SECONDS = 2.0  # how long a new stream waits for the process's listener before reading
MAX_TERMINAL_RESUME = 3600.0  # seconds a terminal stream looks back when its Last-Event-ID is unknown
T = TypeVar("T")


def _db(fn: Callable[..., T]) -> Callable[..., Any]:
    """``fn`` on the loop's shared thread pool, its database connections handed back to the pool
    afterwards. Thread-sensitive mode would run it on the request's own thread, which keeps its
    connection until the response ends: an open stream would then hold one of the process's few
    pooled PostgreSQL connections for hours."""

    def released(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    return sync_to_async(released, thread_sensitive=False)


class _StreamAccess(MerchantApiView):
    """The POS API's authentication, permission and throttling, applied to the async stream views."""


def _error_response(exc: Exception) -> HttpResponse:
    handled = errors.exception_handler(exc, {})
    if handled is None:
        raise exc
    response = HttpResponse(render(handled.data), status=handled.status_code, content_type="application/json")
    for header in ("WWW-Authenticate", "Retry-After"):
        if handled.has_header(header):
            response[header] = handled[header]
    response["Cache-Control"] = "no-store, private"
    return response


def _authorize(django_request: HttpRequest) -> tuple[int, int | None] | HttpResponse:
    """(merchant id, terminal id or None), or the error response the POS API would give."""
    view = _StreamAccess()
    view.args, view.kwargs, view.headers = (), {}, {}
    request: Request = view.initialize_request(django_request)
    view.request = request
    try:
        view.perform_authentication(request)
        view.check_permissions(request)
        view.check_throttles(request)
    except exceptions.APIException as exc:
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            header = view.get_authenticate_header(request)
            if header:
                response = _error_response(exc)
                response["WWW-Authenticate"] = header
                return response
            exc.status_code = 403
        return _error_response(exc)
    merchant_id = request_merchant_id(request)
    assert merchant_id is not None  # HasMerchant
    return merchant_id, request_terminal_id(request)


def _wait(hub: StatusHub) -> float:
    return KEEPALIVE_SECONDS if hub.connected.is_set() else DEGRADED_SECONDS


def _last_event_id(request: HttpRequest) -> int | None:
    return sse.parse_last_event_id(request.headers.get("Last-Event-ID"))


def _bad_last_event_id(exc: sse.BadLastEventId) -> HttpResponse:
    return _error_response(errors.ApiError(code="invalid", message=str(exc), fields={"Last-Event-ID": [str(exc)]}))


def _release_request_thread() -> None:
    """Let the request's own thread go for as long as the stream stays open.

    Django's ASGI handler gives every request a one-thread executor (asgiref's ThreadSensitiveContext)
    for its sync middleware, kept until the response ends: an open stream would park one idle OS thread
    for hours (1 000 streams: 1 000 threads, measured). By the time the body is iterated the middleware
    has finished, so the executor is shut down here; the handler's closing call after the stream makes
    a fresh one for that moment only. Uses asgiref's documented-by-code class attributes (asgiref 3.x)."""
    context = SyncToAsync.thread_sensitive_context.get(None)
    if context is None:
        return
    executor = SyncToAsync.context_to_thread_executor.pop(context, None)
    if executor is not None:
        executor.shutdown(wait=False)


async def _without_request_thread(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    _release_request_thread()
    async for part in body:
        yield part


def _stream(body: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_without_request_thread(body), content_type="text/event-stream")
    response["Cache-Control"] = "no-store, private"
    response["X-Accel-Buffering"] = "no"  # a reverse proxy must pass events on as they come
    return response


# -- one invoice ---------------------------------------------------------------------------------------


def _invoice_read(
    payment_hash: str, merchant_id: int, after_id: int | None
) -> tuple[reads.InvoiceState | None, list[reads.Change], int]:
    """The state, the changes after ``after_id`` (none when None) and the last change id: one hop to
    the database thread, one snapshot."""
    with reads.one_snapshot():
        state = reads.invoice_state(payment_hash=payment_hash, merchant_id=merchant_id)
        changes = [] if after_id is None else reads.invoice_changes(payment_hash=payment_hash, after_id=after_id)
        last = changes[-1].id if changes else reads.invoice_last_change_id(payment_hash=payment_hash)
    return state, changes, max(last, after_id or 0)


async def invoice_events(request: HttpRequest, payment_hash: str) -> HttpResponseBase:
    access = await _db(_authorize)(request)
    if isinstance(access, HttpResponse):
        return access
    merchant_id, _terminal = access
    try:
        last_id = _last_event_id(request)
    except sse.BadLastEventId as exc:
        return _bad_last_event_id(exc)
    normalized = selectors.normalize_payment_hash(payment_hash)
    state = (
        None if normalized is None else await _db(reads.invoice_state)(payment_hash=normalized, merchant_id=merchant_id)
    )
    if normalized is None or state is None:
        return _error_response(errors.not_found())
    if last_id is not None and state.ended:
        last = await _db(reads.invoice_last_change_id)(payment_hash=normalized)
        if last_id >= last:
            return HttpResponse(status=204)  # nothing more will come: EventSource stops reconnecting
    return _stream(_invoice_stream(get_hub(), normalized, merchant_id, last_id))


async def _invoice_stream(
    hub: StatusHub, payment_hash: str, merchant_id: int, last_id: int | None
) -> AsyncIterator[bytes]:
    subscription = hub.subscribe(invoice_key(payment_hash))  # before reading: no change falls in between
    try:
        yield sse.retry()
        await hub.wait_connected(SUBSCRIBE_WAIT_SECONDS)
        state, changes, cursor = await _db(_invoice_read)(payment_hash, merchant_id, last_id)
        if state is None:
            return
        if last_id is None:
            yield sse.event(event_id=cursor, name="status", data=state.body)
        for change in changes:
            yield sse.event(event_id=change.id, name=change.name, data=state.body)
        while not state.ended:
            wake = await subscription.next(_wait(hub))
            if wake is None:
                yield sse.KEEPALIVE
                if hub.connected.is_set():
                    continue  # while the listener is down, every (1 s) wait ends in a re-read instead
            elif wake is not RESYNC and wake.event_id <= cursor:
                continue  # already sent (read together with an earlier change)
            state, changes, last = await _db(_invoice_read)(payment_hash, merchant_id, cursor)
            if state is None:
                return
            for change in changes:
                yield sse.event(event_id=change.id, name=change.name, data=state.body)
            cursor = max(cursor, last)
    finally:
        subscription.close()


# -- every invoice of a terminal -----------------------------------------------------------------------


def _terminal_start(last_id: int | None) -> tuple[int, datetime]:
    """The id to mark a fresh stream with, and where a resumed one starts reading."""
    now = timezone.now()
    if last_id is None:
        return reads.latest_event_id(), now
    when = reads.event_time(event_id=last_id)
    if when is None:
        return last_id, now - timedelta(seconds=MAX_TERMINAL_RESUME)
    return last_id, when - reads.TERMINAL_RESUME_GRACE


def _terminal_read(
    merchant_id: int, terminal_id: int, since: datetime, floor: int, cursors: dict[str, int]
) -> list[tuple[reads.Change, dict[str, Any]]]:
    """The changes since ``since`` the client may not have: above its invoice's cursor, or (for an
    invoice not seen on this stream) above ``floor`` or inside the resume window."""
    out: list[tuple[reads.Change, dict[str, Any]]] = []
    after = 0
    while True:
        with reads.one_snapshot():
            batch, states = _terminal_batch(merchant_id, terminal_id, since, after, cursors, floor)
        for change in batch:
            known = cursors.get(change.payment_hash)
            if (known is not None and change.id <= known) or change.id == floor:
                continue
            state = states.get(change.payment_hash)
            if state is not None:
                out.append((change, state.body))
                cursors[change.payment_hash] = max(change.id, known or 0)
        if len(batch) < reads.BATCH:
            return out
        after = batch[-1].id


def _terminal_batch(
    merchant_id: int, terminal_id: int, since: datetime, after: int, cursors: dict[str, int], floor: int
) -> tuple[list[reads.Change], dict[str, reads.InvoiceState | None]]:
    batch = reads.terminal_changes(terminal_id=terminal_id, since=since, after_id=after)
    wanted = {c.payment_hash for c in batch if c.id > cursors.get(c.payment_hash, -1) and c.id != floor}
    return batch, {h: reads.invoice_state(payment_hash=h, merchant_id=merchant_id) for h in wanted}


def _terminal_wake(merchant_id: int, payment_hash: str, after_id: int) -> list[tuple[reads.Change, dict[str, Any]]]:
    with reads.one_snapshot():
        changes = reads.invoice_changes(payment_hash=payment_hash, after_id=after_id)
        state = reads.invoice_state(payment_hash=payment_hash, merchant_id=merchant_id) if changes else None
    return [] if state is None else [(change, state.body) for change in changes]


async def terminal_events(request: HttpRequest) -> HttpResponseBase:
    access = await _db(_authorize)(request)
    if isinstance(access, HttpResponse):
        return access
    merchant_id, terminal_id = access
    if terminal_id is None:
        return _error_response(
            exceptions.PermissionDenied("The terminal stream needs a terminal's API key; use an invoice's stream.")
        )
    try:
        last_id = _last_event_id(request)
    except sse.BadLastEventId as exc:
        return _bad_last_event_id(exc)
    return _stream(_terminal_stream(get_hub(), merchant_id, terminal_id, last_id))


async def _terminal_stream(
    hub: StatusHub, merchant_id: int, terminal_id: int, last_id: int | None
) -> AsyncIterator[bytes]:
    subscription: Subscription = hub.subscribe(terminal_key(terminal_id))
    cursors: dict[str, int] = {}  # per invoice: the last change sent on this stream
    try:
        yield sse.retry()
        await hub.wait_connected(SUBSCRIBE_WAIT_SECONDS)
        floor, since = await _db(_terminal_start)(last_id)
        if last_id is None:
            yield sse.mark(floor)  # a reconnect before the first event resumes from here
        else:
            for change, body in await _db(_terminal_read)(merchant_id, terminal_id, since, floor, cursors):
                yield sse.event(event_id=change.id, name=change.name, data=body)
        since = timezone.now() - reads.TERMINAL_RESUME_GRACE
        while True:
            wake = await subscription.next(_wait(hub))
            if wake is None:
                yield sse.KEEPALIVE
            if hub.connected.is_set() and wake is not RESYNC:
                # Listening now: a later re-read need not look further back than this.
                since = timezone.now() - reads.TERMINAL_RESUME_GRACE
                if wake is None:
                    continue
            if wake is None or wake is RESYNC:
                # The listener was away: whatever changed since it was last known to listen.
                sent = await _db(_terminal_read)(merchant_id, terminal_id, since, floor, cursors)
            else:
                known = cursors.get(wake.payment_hash)
                if known is not None and wake.event_id <= known:
                    continue
                after = known if known is not None else wake.event_id - 1
                sent = await _db(_terminal_wake)(merchant_id, wake.payment_hash, after)
                if sent:
                    cursors[wake.payment_hash] = sent[-1][0].id
            for change, body in sent:
                yield sse.event(event_id=change.id, name=change.name, data=body)
    finally:
        subscription.close()
