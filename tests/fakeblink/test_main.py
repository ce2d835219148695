"""``python -m fakeblink``: runs until SIGTERM without Django settings, takes its credentials from the
environment variables its options name, and refuses to start without a platform key."""

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
from pathlib import Path
from typing import IO

import pytest

from fakeblink.server import PORT_RANGE
from payments.wallet import errors as e
from payments.wallet.client import BlinkClient
from payments.wallet.types import InvoiceState

REPO_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    for port in range(PORT_RANGE[0] + os.getpid() % 5000, PORT_RANGE[1]):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port")


def _read_lines(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def _env_without_django(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "BLINK_API_KEY")}
    return {**env, **extra}


@pytest.mark.slow
def test_runs_until_sigterm_without_django_settings() -> None:
    # given the platform credentials in variables named by the options, and no Django settings at all
    port = _free_port()
    wallet_id = str(uuid.uuid4())
    env = _env_without_django(FAKE_KEY_FOR_TESTS="blink_commandtestkey", FAKE_WALLET_FOR_TESTS=wallet_id)
    argv = [sys.executable, "-m", "fakeblink", "--port", str(port), "--demo", "--autopay", "0.05"]
    argv += ["--platform-api-key-env", "FAKE_KEY_FOR_TESTS", "--platform-wallet-id-env", "FAKE_WALLET_FOR_TESTS"]
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
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


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["--platform-api-key-env", "NO_SUCH_VARIABLE_FOR_TESTS"], {}, "NO_SUCH_VARIABLE_FOR_TESTS"),
        (["--webhook-url", "http://127.0.0.1:9/hook", "--webhook-secret-env", "NO_SECRET_FOR_TESTS"],
         {"BLINK_API_KEY": "blink_commandtestkey"}, "NO_SECRET_FOR_TESTS"),
        (["--platform-wallet-id-env", "BAD_WALLET_FOR_TESTS"],
         {"BLINK_API_KEY": "blink_commandtestkey", "BAD_WALLET_FOR_TESTS": "not-a-uuid"}, "platform_wallet_id"),
    ],
)  # fmt: skip
def test_a_missing_or_malformed_credential_is_refused_by_name(argv: list[str], env: dict[str, str], named: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fakeblink", "--port", str(_free_port()), *argv],
        cwd=REPO_ROOT,
        env=_env_without_django(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2
    assert named in done.stderr
    assert "ready" not in done.stdout
