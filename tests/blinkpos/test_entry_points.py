"""The server entry points (WSGI, ASGI, the Celery app) run the production settings unless told
otherwise, so a forgotten DJANGO_SETTINGS_MODULE fails at boot, naming what is missing; manage.py
defaults to the dev settings so a command on a fresh clone works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRETS = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "FIELD_ENCRYPTION_KEYS", "ALLOWED_HOSTS")


def _bare_env() -> dict[str, str]:
    """This environment without a settings module and without any of production's secrets."""
    drop = {"DJANGO_SETTINGS_MODULE", "DEBUG", *SECRETS}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "code",
    [
        "import blinkpos.wsgi",
        "import blinkpos.asgi",
        # Celery reads the settings when a worker or beat starts: the first look at its configuration.
        "from blinkpos.celery_app import app; app.conf.broker_url",
    ],
    ids=["wsgi", "asgi", "celery"],
)
def test_entry_points_default_to_production_and_name_the_missing_secrets(code: str) -> None:
    done = _python(code, _bare_env())
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert "blinkpos/settings/production.py" in done.stderr
    last_line = done.stderr.strip().splitlines()[-1]
    for name in SECRETS:
        assert name in last_line, (name, last_line)


def test_the_asgi_app_loads_every_view_and_the_reverse_map_at_worker_start() -> None:
    # not in the first request a worker serves (a cashier's first invoice after a restart)
    code = (
        "import sys, blinkpos.asgi; from django.urls import get_resolver; "
        "print(get_resolver()._populated, 'payments.api.create_fast' in sys.modules)"
    )
    done = _python(code, {**os.environ, "DJANGO_SETTINGS_MODULE": "blinkpos.settings.test"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]


def test_importing_the_package_sets_no_settings_for_a_caller() -> None:
    # devservices passes on only what its caller chose (INHERITED_DJANGO_SETTINGS_MODULE), not the default
    # the Celery import puts in os.environ.
    code = "import os, blinkpos; print(blinkpos.INHERITED_DJANGO_SETTINGS_MODULE, os.environ['DJANGO_SETTINGS_MODULE'])"
    done = _python(code, _bare_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "blinkpos.settings.production"]


def test_manage_py_defaults_to_the_dev_settings() -> None:
    code = "from django.conf import settings as s; print(s.SETTINGS_MODULE, s.DEBUG, s.ADMIN_OTP_REQUIRED)"
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "--verbosity", "0", "-c", code],
        cwd=ROOT,
        env=_bare_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["blinkpos.settings.dev", "True", "False"]
