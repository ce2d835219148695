"""``python -m blinkpos.devservices -- CMD``: embedded PostgreSQL and Redis when no URL is given,
the given URLs untouched otherwise, and nothing left running afterwards."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
PGDATA = ROOT / ".local" / "pgdata"
EMBEDDED_REDIS_PORT = 16390  # not make test's default (16379), below the ephemeral range

# Runs inside devservices: report the URLs it was given and prove both servers answer.
CHILD = """
import json, os
import psycopg, redis
db_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
with psycopg.connect(db_url, connect_timeout=10) as conn:
    select_one = conn.execute("SELECT 1").fetchone()[0]
ping = redis.Redis.from_url(redis_url, socket_timeout=5).ping()
print("CHILD " + json.dumps({"db": db_url, "redis": redis_url, "select_one": select_one, "ping": ping}))
"""


def _run(child_code: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "blinkpos.devservices", "--", sys.executable, "-c", child_code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _child_report(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    lines = [line for line in result.stdout.splitlines() if line.startswith("CHILD ")]
    assert lines, f"child printed nothing; stderr:\n{result.stderr}"
    return json.loads(lines[-1].removeprefix("CHILD "))  # type: ignore[no-any-return]


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _pg_handles() -> list[int]:
    """Processes pgserver thinks hold the embedded server (shared, e.g. by a concurrent ``make test``)."""
    try:
        return list(json.loads((PGDATA / ".handle_pids.json").read_text()))
    except (FileNotFoundError, ValueError):
        return []


def _pg_running() -> bool:
    pid_file = PGDATA / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.mark.slow
def test_without_urls_embedded_servers_start_answer_and_stop() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["EMBEDDED_REDIS_PORT"] = str(EMBEDDED_REDIS_PORT)
    shared_before = bool(_pg_handles())

    result = _run(CHILD, env)

    assert result.returncode == 0, result.stderr
    report = _child_report(result)
    assert str(report["db"]).startswith("postgresql://")
    assert urlparse(str(report["db"])).path == "/blinkpos"
    redis_url = urlparse(str(report["redis"]))
    assert (redis_url.scheme, redis_url.hostname) == ("redis", "127.0.0.1")
    assert redis_url.port is not None
    assert EMBEDDED_REDIS_PORT <= redis_url.port < 32768  # moved up if 16390 was taken, never ephemeral
    assert report["select_one"] == 1
    assert report["ping"] is True

    # after the command exits, the embedded Redis is gone ...
    assert not _port_open(redis_url.port)
    # ... and PostgreSQL is stopped, unless another process (a concurrent make test) still shares it
    if not shared_before and not _pg_handles():
        assert not _pg_running()


def test_given_urls_are_used_as_they_are_and_nothing_is_started() -> None:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/blinkpos")
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    env["EMBEDDED_REDIS_PORT"] = str(EMBEDDED_REDIS_PORT + 1)
    code = (
        "import json, os; "
        "print('CHILD ' + json.dumps({'db': os.environ['DATABASE_URL'], 'redis': os.environ['REDIS_URL']}))"
    )

    result = _run(code, env, timeout=30)

    assert result.returncode == 0, result.stderr
    assert _child_report(result) == {"db": env["DATABASE_URL"], "redis": env["REDIS_URL"]}
    assert "embedded" not in result.stderr


def test_the_commands_exit_status_is_passed_through() -> None:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/blinkpos")
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    result = _run("import sys; sys.exit(3)", env, timeout=30)
    assert result.returncode == 3


def test_no_command_prints_usage_and_fails() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "blinkpos.devservices"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "Usage" in result.stderr


@pytest.mark.parametrize("caller_value", [None, "blinkpos.settings.test"])
def test_the_child_gets_only_the_settings_module_the_caller_chose(caller_value: str | None) -> None:
    # Regression: importing the blinkpos package (its Celery app) sets a default settings module; passing
    # that on made `make test` run pytest with the base settings instead of pytest.ini's test settings.
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/blinkpos")
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if caller_value:
        env["DJANGO_SETTINGS_MODULE"] = caller_value
    code = "import json, os; print('CHILD ' + json.dumps({'dsm': os.environ.get('DJANGO_SETTINGS_MODULE')}))"

    result = _run(code, env, timeout=30)

    assert result.returncode == 0, result.stderr
    assert _child_report(result) == {"dsm": caller_value}
