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
    """One run per platform account. The answer is the default account's outcome, with every account's
    (``default`` or its id) under ``accounts``."""
    from payments.platform_accounts import account_ids_in_use, account_label
    from payments.services.books import BooksBusy, books_reconcile_accounts

    accounts: dict[str, dict[str, Any]] = {}
    for account_id, result in zip(account_ids_in_use(), books_reconcile_accounts(), strict=False):
        if isinstance(result, BooksBusy):
            entry: dict[str, Any] = {"outcome": "busy"}
        elif isinstance(result, Exception):
            entry = {"outcome": "failed", "error": type(result).__name__}
        else:
            run = result.run
            entry = {"outcome": "complete", "run_id": run.pk, "ok": run.ok, "differences": run.differences}
        accounts[account_label(account_id)] = entry
    return {**accounts.get(account_label(None), {}), "accounts": accounts}
