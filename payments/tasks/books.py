"""The daily books reconciliation (schedule: ``payments/tasks/schedule.py``). No arguments; one service
call that never moves money. A run that finds differences is a success of the task: the differences
are in ``books_differences``, the metric and the alert; a run that could not finish is retried by the
next day's tick (or an operator's ``manage.py reconcile_books``)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

__all__ = ["reconcile_books_task"]


@shared_task(name="payments.tasks.books.reconcile_books_task", soft_time_limit=1700, time_limit=1800)
def reconcile_books_task() -> dict[str, Any]:
    from payments.services.books import BooksBusy, BooksIncomplete, books_reconcile
    from payments.wallet.errors import WalletError

    try:
        result = books_reconcile()
    except BooksBusy:
        return {"outcome": "busy"}
    except (WalletError, BooksIncomplete) as exc:
        return {"outcome": "failed", "error": type(exc).__name__}
    run = result.run
    return {"outcome": "complete", "run_id": run.pk, "ok": run.ok, "differences": run.differences}
