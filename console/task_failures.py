"""What the queues page knows about tasks beyond the broker: failures and retries recorded from Celery's
signals (kept for ``TaskFailure.RETENTION``, at most ``TaskFailure.MAX_ROWS`` rows), and a
``published_at`` header on every message so the oldest waiting message's age can be read off the queue.

The handlers run in whichever process sends or runs the task; a handler that cannot write (database
away) logs and gives up: recording a failure must never fail the task or the publish.
"""

from __future__ import annotations

from typing import Any

from django.db import Error as DatabaseLayerError
from django.utils import timezone

from blinkpos.logging import get_logger
from console.masking import mask_text

log = get_logger(__name__)

PUBLISHED_AT_HEADER = "published_at"


def stamp_published_at(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """before_task_publish: the time the message was sent (Celery's messages carry none of their own)."""
    if headers is not None and PUBLISHED_AT_HEADER not in headers:
        headers[PUBLISHED_AT_HEADER] = timezone.now().isoformat()


def record(*, task_name: str, task_id: str, kind: str, exc: BaseException | None) -> None:
    from console.models import TaskFailure

    try:
        TaskFailure.objects.create(
            task_name=task_name[:200],
            task_id=(task_id or "")[:64],
            kind=kind,
            exception_type=type(exc).__name__[:120] if exc else "",
            # exception texts can quote what a provider answered: masked, cut
            message=mask_text(str(exc) if exc else "")[:500],
        )
        trim()
    except DatabaseLayerError as error:  # any database trouble, a closed connection included
        log.warning("console.task_failure_not_recorded", task=task_name, error=type(error).__name__)


def trim() -> int:
    """Delete rows past retention and beyond the newest ``MAX_ROWS``; returns how many went."""
    from console.models import TaskFailure

    deleted, _ = TaskFailure.objects.filter(recorded_at__lt=timezone.now() - TaskFailure.RETENTION).delete()
    cutoff = TaskFailure.objects.order_by("-id").values_list("id", flat=True)[
        TaskFailure.MAX_ROWS : TaskFailure.MAX_ROWS + 1
    ]
    if cutoff:
        more, _ = TaskFailure.objects.filter(id__lte=cutoff[0]).delete()
        deleted += more
    return deleted


def _on_failure(sender: Any = None, task_id: str = "", exception: BaseException | None = None, **_: Any) -> None:
    record(task_name=getattr(sender, "name", str(sender)), task_id=task_id, kind="failure", exc=exception)


def _on_retry(sender: Any = None, request: Any = None, reason: Any = None, **_: Any) -> None:
    exc = reason if isinstance(reason, BaseException) else None
    record(
        task_name=getattr(sender, "name", str(sender)), task_id=getattr(request, "id", "") or "", kind="retry", exc=exc
    )


def connect_signals() -> None:
    from celery.signals import before_task_publish, task_failure, task_retry

    before_task_publish.connect(stamp_published_at, dispatch_uid="console.stamp_published_at", weak=False)
    task_failure.connect(_on_failure, dispatch_uid="console.task_failure", weak=False)
    task_retry.connect(_on_retry, dispatch_uid="console.task_retry", weak=False)
