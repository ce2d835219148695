"""Production settings refuse to boot without their secrets and name the missing variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _boot(env_overrides: dict[str, str], drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_overrides)
    env["DJANGO_SETTINGS_MODULE"] = "blinkpos.settings.production"
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_boot_without_secret_key() -> None:
    result = _boot(
        {"DATABASE_URL": "postgres://x@127.0.0.1/x", "REDIS_URL": "redis://127.0.0.1/0", "ALLOWED_HOSTS": "a"},
        drop=("SECRET_KEY", "FIELD_ENCRYPTION_KEYS"),
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "FIELD_ENCRYPTION_KEYS" in result.stderr


def test_production_refuses_debug_with_a_live_wallet_key() -> None:
    result = _boot(
        {
            "SECRET_KEY": "x" * 50,
            "DATABASE_URL": "postgres://x@127.0.0.1/x",
            "REDIS_URL": "redis://127.0.0.1/0",
            "ALLOWED_HOSTS": "a",
            "FIELD_ENCRYPTION_KEYS": "ZGV2LW9ubHktZmllbGQta2V5LTMyLWJ5dGVzLWxvbmc=",
            "DEBUG": "true",
            "BLINK_API_KEY": "blink_live",
        }
    )
    assert result.returncode != 0
    assert "DEBUG must be off" in result.stderr


def test_production_boots_with_every_secret() -> None:
    result = _boot(
        {
            "SECRET_KEY": "x" * 50,
            "DATABASE_URL": "postgres://x@127.0.0.1/x",
            "REDIS_URL": "redis://127.0.0.1/0",
            "ALLOWED_HOSTS": "a",
            "FIELD_ENCRYPTION_KEYS": "ZGV2LW9ubHktZmllbGQta2V5LTMyLWJ5dGVzLWxvbmc=",
            "DEBUG": "false",
        }
    )
    assert result.returncode == 0, result.stderr
