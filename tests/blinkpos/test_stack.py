"""``blinkpos.stack``: the launcher's environment, the fake Blink as a separate process with readiness,
and how a dead, killed or restarted process is reported. The whole stack (migrate, workers, the web tier)
is exercised by ``make run`` and the chaos soak (tests/chaos)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from blinkpos.processes import free_port
from blinkpos.stack import Stack


def _stack(tmp_path: Path, **options: Any) -> Stack:
    web_port = free_port(21000 + os.getpid() % 2000)
    return Stack(web_port=web_port, fake_port=free_port(web_port + 1), log_dir=tmp_path, **options)


def test_every_process_gets_the_settings_fresh_fake_credentials_and_then_extra_env(tmp_path: Path) -> None:
    first = _stack(tmp_path, settings_module="some.settings", extra_env={"BLINK_WEBHOOK_SECRET": "whsec_given"})
    second = _stack(tmp_path)

    assert first.env["DJANGO_SETTINGS_MODULE"] == "some.settings"
    assert first.env["BLINK_API_URL"] == f"http://127.0.0.1:{first.fake_port}/graphql"
    assert first.env["BLINK_API_KEY"].startswith("blink_")
    assert first.env["BLINK_API_KEY"] != second.env["BLINK_API_KEY"]
    assert first.env["BLINK_WEBHOOK_SECRET"] == "whsec_given"  # extra_env wins


def test_without_a_fake_the_configured_blink_is_kept(tmp_path: Path) -> None:
    stack = Stack(fake_port=None, env={"BLINK_API_KEY": "blink_real", "BLINK_API_URL": "https://api.invalid/graphql"})

    assert stack.env["BLINK_API_KEY"] == "blink_real"
    assert stack.env["BLINK_API_URL"] == "https://api.invalid/graphql"
    with pytest.raises(RuntimeError, match="without the fake"):
        stack.start_fake()


@pytest.mark.slow
def test_the_fake_is_ready_when_started_and_again_after_a_kill_and_restart(tmp_path: Path) -> None:
    with _stack(tmp_path, autopay_seconds=None) as stack:
        # when the fake is started, it already answers, and the app is told its platform wallet
        fake = stack.start_fake()
        health = httpx.get(f"{stack.fake_control_url}/health", timeout=5).json()
        assert stack.env["BLINK_WALLET_ID"] == health["platform_wallet_id"]
        assert fake.argv[1:3] == ["-m", "fakeblink"]
        assert "--webhook-url" in fake.argv and f"{stack.base_url}/webhooks/blink" in fake.argv
        assert stack.env["BLINK_API_KEY"] not in " ".join(fake.argv)  # the key travels in the environment

        # a killed process is a fault we caused, not a death to report
        old_pid = stack.kill("fake-blink")
        assert stack.dead() == []

        # restarting waits for readiness again
        restarted = stack.restart("fake-blink")
        assert restarted.pid != old_pid
        assert httpx.get(f"{stack.fake_control_url}/health", timeout=5).status_code == 200

    assert not restarted.running()  # leaving the block stopped it


def test_a_process_that_dies_on_its_own_is_reported_until_it_is_restarted(tmp_path: Path) -> None:
    with _stack(tmp_path) as stack:
        quitter = stack.spawn("quitter", [sys.executable, "-c", "raise SystemExit(3)"])
        quitter.proc.wait(timeout=20)

        assert [(p.name, p.proc.returncode) for p in stack.dead()] == [("quitter", 3)]
        sleeper = stack.spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
        with pytest.raises(RuntimeError, match="already running"):
            stack.spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])

        stack.restart("quitter", env={**stack.env, "EXTRA_FOR_TESTS": "1"})
        assert stack.processes["quitter"].env["EXTRA_FOR_TESTS"] == "1"

    assert not sleeper.running()


@pytest.mark.slow
def test_the_demo_fake_keeps_blinks_limits_and_load_stacks_turn_them_off(tmp_path: Path) -> None:
    # given the launcher's default (what `make run` uses) and a load run's opt-out
    for fake_limits, expected in (
        (True, {"points": 60, "window_seconds": 60.0, "block_seconds": 300.0}),
        (False, None),
    ):
        with _stack(tmp_path, autopay_seconds=None, fake_demo=False, fake_limits=fake_limits) as stack:
            # when the fake is started
            fake = stack.start_fake()
            limits = httpx.get(f"{stack.fake_control_url}/limits", timeout=5).json()

            # then the demo has Blink's limits and the load stack none
            assert limits["config"]["invoice_rate"] == expected
            assert ("--no-limits" in fake.argv) is (not fake_limits)
            assert (limits["config"]["intraledger_daily_cents"] is None) is (not fake_limits)
