"""The fake's HTTP control endpoints (how other processes steer it) and ``manage.py fake_blink``."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from payments.wallet import errors as e
from payments.wallet.client import BlinkClient
from payments.wallet.fake import FakeBlink
from payments.wallet.fake.server import PORT_RANGE
from payments.wallet.types import InvoiceState, SendStatus

from .conftest import WEBHOOK_SECRET, WebhookReceiver

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def control(fake_blink: FakeBlink) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{fake_blink.base_url}/control", timeout=5) as client:
        yield client


def test_health_and_ledger(fake_blink: FakeBlink, blink_client: BlinkClient, control: httpx.Client) -> None:
    invoice = blink_client.create_invoice(amount_sats=10, memo=None, expires_in_minutes=5, external_id="s")

    health = control.get("/health").json()
    ledger = control.get("/ledger").json()

    assert health == {"ok": True, "platform_wallet_id": fake_blink.platform_wallet_id}
    assert [i["payment_hash"] for i in ledger["invoices"]] == [invoice.payment_hash]
    assert "preimage" not in ledger["invoices"][0]
    assert fake_blink.platform_api_key not in control.get("/ledger").text


def test_accounts_pay_and_script_over_http(blink_client: BlinkClient, control: httpx.Client) -> None:
    # given a recipient created by another process
    created = control.post("/accounts", json={"username": "Bob", "currencies": ["BTC"]}).json()
    assert blink_client.resolve_username(username="bob").wallet_id == created["wallets"]["BTC"]

    # when a customer pays a sale through the control API
    sale = blink_client.create_invoice(amount_sats=10, memo=None, expires_in_minutes=5, external_id="s")
    paid = control.post("/pay", json={"payment_hash": sale.payment_hash})

    # then
    assert paid.status_code == 200
    assert paid.json()["status"] == "PAID"
    assert blink_client.invoice_status(payment_hash=sale.payment_hash).state is InvoiceState.PAID

    # and a scripted failure reaches the client
    control.post("/script", json={"operation": "lnInvoiceCreate", "outcomes": ["TOO_MANY_REQUEST"]})
    with pytest.raises(e.RateLimited):
        blink_client.create_invoice(amount_sats=10, memo=None, expires_in_minutes=5, external_id="t")


def test_pending_polls_and_settle_over_http(
    fake_blink: FakeBlink, blink_client: BlinkClient, control: httpx.Client, alice: str
) -> None:
    control.post("/pending-polls", json={"polls": 100})
    control.post("/script", json={"operation": "lnInvoicePaymentSend", "outcomes": ["PENDING_THEN_SUCCESS"]})
    payout = blink_client.create_invoice_for_recipient(
        recipient_wallet_id=alice, amount_sats=10, memo=None, external_id="l"
    )
    assert blink_client.pay_invoice(payment_request=payout.payment_request).status is SendStatus.PENDING

    assert control.post("/settle", json={"payment_hash": payout.payment_hash}).json() == {"settled": True}

    assert blink_client.payment_lookup(payment_hash=payout.payment_hash).status is SendStatus.SUCCEEDED


def test_clock_price_balance_and_latency_over_http(
    fake_blink: FakeBlink, blink_client: BlinkClient, control: httpx.Client
) -> None:
    invoice = blink_client.create_invoice(amount_sats=10, memo=None, expires_in_minutes=1, external_id="c")

    control.post("/clock", json={"advance_seconds": 120})
    control.post("/price", json={"currency": "EUR", "btc_price": "50000"})
    control.post("/balance", json={"wallet_id": fake_blink.platform_wallet_id, "balance": 42})
    control.post("/latency", json={"operation": "realtimePrice", "seconds": 0})

    assert blink_client.invoice_status(payment_hash=invoice.payment_hash).state is InvoiceState.EXPIRED
    assert blink_client.btc_price(currency="EUR").base == 5 * 10**10
    assert fake_blink.balance(fake_blink.platform_wallet_id) == 42


def test_autopay_pays_new_platform_invoices(blink_client: BlinkClient, control: httpx.Client) -> None:
    control.post("/autopay", json={"seconds": 0.05})

    invoice = blink_client.create_invoice(amount_sats=10, memo=None, expires_in_minutes=5, external_id="a")

    deadline = time.monotonic() + 3
    while blink_client.invoice_status(payment_hash=invoice.payment_hash).state is not InvoiceState.PAID:
        assert time.monotonic() < deadline, "autopay did not pay the invoice"
        time.sleep(0.02)


def test_webhooks_and_redelivery_over_http(
    blink_client: BlinkClient, control: httpx.Client, webhook_receiver: WebhookReceiver
) -> None:
    control.post("/webhooks", json={"url": webhook_receiver.url, "secret": WEBHOOK_SECRET})
    sale = blink_client.create_invoice(amount_sats=10, memo=None, expires_in_minutes=5, external_id="w")
    control.post("/pay", json={"payment_hash": sale.payment_hash})
    assert webhook_receiver.wait(1)
    svix_id = webhook_receiver.received[0][0]["svix-id"]

    redelivered = control.post("/redeliver", json={"svix_id": svix_id}).json()

    assert redelivered["status_code"] == 200
    assert webhook_receiver.received[1][0]["svix-id"] == svix_id
    assert control.get("/webhooks").json()[0]["svix_id"] == svix_id


def test_bad_control_requests(control: httpx.Client) -> None:
    assert control.post("/script", json={"operation": "nope", "outcomes": []}).status_code == 400
    assert control.post("/script", json={"operation": "lnInvoiceCreate", "outcomes": ["FAILURE"]}).status_code == 400
    assert control.post("/pay", json={}).status_code == 400
    assert control.post("/pay", content=b"not json").status_code == 400
    assert control.get("/nope").status_code == 404


def test_graphql_endpoint_refuses_like_apollo(fake_blink: FakeBlink) -> None:
    with httpx.Client(timeout=5) as http:
        syntax = http.post(fake_blink.url, json={"query": "query {"})
        invalid = http.post(fake_blink.url, json={"query": "query { nope }"})
        bad_key = http.post(fake_blink.url, json={"query": "query { me { id } }"}, headers={"X-API-KEY": "blink_x"})
        anonymous = http.post(fake_blink.url, json={"query": "query { me { id } }"})

    assert syntax.status_code == 400
    assert syntax.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert invalid.status_code == 400
    assert invalid.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert bad_key.status_code == 401
    assert anonymous.json() == {"data": {"me": None}}


def _free_port() -> int:
    for port in range(PORT_RANGE[0] + os.getpid() % 5000, PORT_RANGE[1]):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port")


def _read_lines(stream: object, lines: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.put(line)


@pytest.mark.slow
def test_management_command_runs_until_sigterm() -> None:
    # given the platform credentials in the environment, as `make run` provides them
    port = _free_port()
    wallet_id = str(uuid.uuid4())
    env = {**os.environ, "BLINK_API_KEY": "blink_commandtestkey", "BLINK_WALLET_ID": wallet_id}
    script = (
        "import sys, django; from django.conf import settings; settings.configure(); django.setup();"
        "from django.core.management import call_command;"
        "from payments.management.commands.fake_blink import Command;"
        "call_command(Command(), *sys.argv[1:])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "--port", str(port), "--demo", "--autopay", "0.05"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
    output: list[str] = []
    try:
        while not output or output[-1].strip() != "ready":
            output.append(lines.get(timeout=30))

        # when the app talks to it
        url = f"http://127.0.0.1:{port}/graphql"
        with BlinkClient(url=url, api_key="blink_commandtestkey", wallet_id=wallet_id) as client:
            alice = client.resolve_username(username="alice")
            with pytest.raises(e.WrongCurrency):
                client.resolve_username(username="dave_usd")
            sale = client.create_invoice(amount_sats=10, memo=None, expires_in_minutes=5, external_id="cmd")
            deadline = time.monotonic() + 3
            while client.invoice_status(payment_hash=sale.payment_hash).state is not InvoiceState.PAID:
                assert time.monotonic() < deadline
                time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)

    # then
    text = "".join(output)
    assert f"BLINK_API_URL={url}" in text
    assert f"BLINK_WALLET_ID={wallet_id}" in text
    assert alice.wallet_id in text  # demo accounts are listed with their wallet ids
    assert "blink_commandtestkey" not in text
    assert code == 0


@pytest.mark.slow
def test_management_command_requires_a_platform_key() -> None:
    env = {k: v for k, v in os.environ.items() if k != "BLINK_API_KEY"}
    script = (
        "import sys, django; from django.conf import settings; settings.configure(); django.setup();"
        "from django.core.management import call_command;"
        "from payments.management.commands.fake_blink import Command;"
        "call_command(Command(), '--platform-api-key-env', 'NO_SUCH_VARIABLE_FOR_TESTS')"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert done.returncode != 0
    assert "NO_SUCH_VARIABLE_FOR_TESTS" in done.stderr
