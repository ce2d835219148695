"""What an operator sees of the books: ``manage.py reconcile_books`` (table and exit status), the admin
pages, the figures written to ``system_metrics``, the alert and the /metrics gauges, and the daily job."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from analytics.models import SystemMetric
from analytics.services.metrics import alerts_evaluate, metrics_collect
from blinkpos.beat import declared_jobs
from fakeblink import FakeBlink
from payments.models import BooksDifference, BooksRun, BooksTransaction
from payments.tasks.books import reconcile_books_task
from tests.factories import UserFactory
from tests.payments.books.conftest import Sale
from tests.payments.forwarding.conftest import MakeSplit

pytestmark = pytest.mark.django_db


def _run_command() -> tuple[str, int]:
    out = io.StringIO()
    try:
        call_command("reconcile_books", stdout=out)
    except CommandError as exc:
        return out.getvalue() + str(exc), exc.returncode
    return out.getvalue(), 0


@pytest.fixture
def undetected(fake_blink: FakeBlink, sale: Sale, make_split: MakeSplit) -> int:
    """A forwarded sale, then a split a customer paid that we never detected; returns its id."""
    sale()
    split = make_split(base=400, tips=())
    fake_blink.pay_invoice_as_customer(split.payment_hash)
    return split.pk


def test_the_command_prints_agreement_and_exits_zero_on_a_clean_ledger(fake_blink: FakeBlink, sale: Sale) -> None:
    sale()

    output, status = _run_command()

    assert status == 0
    assert "walked 4 transaction(s)" in output
    assert "difference +0" in output and "no differences: the books agree with Blink" in output


def test_the_command_prints_a_table_of_differences_and_exits_one(undetected: int) -> None:
    output, status = _run_command()

    assert status == 1
    lines = output.splitlines()
    header = next(line for line in lines if line.startswith("KIND"))
    assert header.split() == ["KIND", "KEY", "EXPECTED", "ACTUAL", "DELTA", "SPLIT", "LEG", "SEEN", "SINCE"]
    row = next(line for line in lines if line.startswith("split_unpaid_but_paid"))
    assert row.split()[2:6] == ["0", "400", "400", str(undetected)]
    assert any(line.startswith("balance_mismatch") for line in lines)
    assert "difference +400" in output
    assert "2 difference(s) between our books and Blink" in output

    # and run again, the same two differences, nothing new
    output, status = _run_command()
    assert status == 1 and "2 difference(s): 0 new, 0 closed" in output
    assert BooksDifference.objects.count() == 2


def test_the_command_exits_two_when_blink_is_unavailable_or_a_run_is_in_progress(fake_blink: FakeBlink) -> None:
    fake_blink.script("me", ["HTTP_503"])
    output, status = _run_command()
    assert status == 2 and "checkpoint unchanged" in output

    BooksRun.objects.create(status="running")
    output, status = _run_command()
    assert status == 2 and "in progress" in output


def test_a_run_writes_its_figures_and_differences_raise_an_alert_and_gauges(undetected: int, settings: object) -> None:
    # given a run that found differences
    reconcile_books_task()

    # then the run wrote its figures to system_metrics
    written = {m.metric_name: m for m in SystemMetric.objects.filter(metric_name__startswith="books_")}
    assert int(written["books_differences"].metric_value or 0) == 2
    assert int(written["books_balance_difference_sats"].metric_value or 0) == 400
    # and the metrics job's alert evaluation raises one books alert naming the kinds
    collected = metrics_collect()
    books_alerts = [a for a in alerts_evaluate(collected) if a.name.startswith("books_")]
    assert [a.name for a in books_alerts] == ["books_differ"]
    assert "split_unpaid_but_paid 1" in books_alerts[0].message
    # and /metrics exposes the gauges and the active alert
    settings.METRICS_TOKEN = "books-test-token"  # type: ignore[attr-defined]
    body = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer books-test-token").content.decode()
    assert "blinkpos_books_differences 2.0" in body
    assert "blinkpos_books_balance_difference_sats 400.0" in body
    assert 'blinkpos_alert_active{alert="books_differ"} 1.0' in body


def test_a_clean_run_raises_no_alert_and_a_failed_run_does(fake_blink: FakeBlink, sale: Sale) -> None:
    sale()
    assert reconcile_books_task()["ok"] is True
    assert not [a for a in alerts_evaluate(metrics_collect()) if a.name.startswith("books_")]

    fake_blink.script("me", ["HTTP_503"])
    assert {k: v for k, v in reconcile_books_task().items() if k != "accounts"} == {
        "outcome": "failed",
        "error": "WalletUnavailable",
    }
    assert [a.name for a in alerts_evaluate(metrics_collect()) if a.name.startswith("books_")] == ["books_run_failed"]


def test_the_books_job_is_scheduled_daily() -> None:
    (job,) = [j for j in declared_jobs() if j.name == "reconcile_books"]
    assert job.task == reconcile_books_task.name and job.at_hour is not None and job.every_seconds is None


def test_the_admin_pages_render_for_an_operator(undetected: int) -> None:
    # given two runs with differences
    reconcile_books_task()
    reconcile_books_task()
    run = BooksRun.objects.order_by("-pk").first()
    assert run is not None
    client = Client()
    client.force_login(UserFactory(username="books-operator", is_staff=True, is_superuser=True))

    # when an operator opens the runs, the latest run, the differences filtered by kind and the mirror
    runs = client.get(reverse("admin:payments_booksrun_changelist"))
    detail = client.get(reverse("admin:payments_booksrun_change", args=[run.pk]))
    by_kind = client.get(reverse("admin:payments_booksdifference_changelist"), {"kind__exact": "split_unpaid_but_paid"})
    unmatched = client.get(reverse("admin:payments_bookstransaction_changelist"), {"matched": "none"})
    checkpoint = client.get(reverse("admin:payments_bookscheckpoint_changelist"))

    # then every page renders, the run shows its differences inline, and the filter filters
    assert {r.status_code for r in (runs, detail, by_kind, unmatched, checkpoint)} == {200}
    assert "differs" in runs.content.decode()
    page = detail.content.decode().lower()
    assert "differences last seen in this run" in page and "split_unpaid_but_paid" in page
    assert "balance_mismatch" in page
    listed = by_kind.context["cl"].result_list
    assert [d.kind for d in listed] == ["split_unpaid_but_paid"]
    assert list(unmatched.context["cl"].result_list) == []  # every Blink transaction here matched something
    assert BooksTransaction.objects.count() == 5
    # and nothing can be changed from there
    assert client.post(reverse("admin:payments_booksrun_change", args=[run.pk]), {}).status_code == 403
