"""Browser tests drive the stack a user runs: ``blinkpos.stack`` starts it exactly as ``make run`` does
(migrate, collectstatic, the fake Blink as its own process, the demo data, a Celery worker, beat and
uvicorn serving the static files through WhiteNoise), on free loopback ports, with a database and a
Redis database of its own. Nothing here uses Django's test server, which serves static files itself and
once hid a web POS whose assets all answered 404.

The browser is Debian's ``chromium`` and ``chromium-driver``, installed here when missing (the tests skip,
saying why, only when that install fails). Chromium's network log is read after every page: a page that
loaded any resource with a status of 400 or more, or failed to load one, fails its test. Screenshots go
to ``artifacts/screenshots/`` (git-ignored) for a reviewer to look at; the stack's logs to
``artifacts/browser-stack/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis

from blinkpos.stack import Stack, running_stack
from tests.webhook_receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = ROOT / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
OPERATOR = "operator"
OPERATOR_PASSWORD = "operator-pass-5678"  # a throwaway superuser of the stack's own database


def _ensure_chromium() -> str | None:
    """Install the system browser when it is missing; return why it is unavailable, or None."""
    if Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists():
        return None
    if shutil.which("apt-get") is None:
        return "chromium is not installed and apt-get is not available to install it"
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium", "chromium-driver"]):
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, check=False)
        if result.returncode != 0:
            return f"installing chromium failed ({' '.join(command)}): {result.stderr.strip()[-300:]}"
    return None if Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists() else "chromium install left no binary"


@pytest.fixture(scope="session")
def chromium_available() -> None:
    reason = _ensure_chromium()
    if reason:
        pytest.skip(reason)


# -- the stack ---------------------------------------------------------------------------------------


def _own_database(database_url: str) -> str:
    """A fresh database beside the suite's (same server), so the stack never shares rows with it."""
    parts = urlsplit(database_url)
    name = (parts.path.lstrip("/") or "blinkpos") + "_browser_stack"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def _own_redis_db(redis_url: str) -> str:
    """Another Redis database on the same server: the suite flushes its own before every test. Eight
    above the suite's (mod 16), so suites on databases 0-7 running side by side never share one."""
    parts = urlsplit(redis_url)
    current = int(parts.path.lstrip("/") or 0)
    url = urlunsplit(parts._replace(path=f"/{(current + 8) % 16}"))
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[Receiver]:
    """A merchant's webhook receiver on loopback, started before the stack: the stack's SSRF policy lets
    exactly its host:port be reached over plain http (as LNURL's outside host), nothing else."""
    server = Receiver()
    server.start(ports=range(26500, 27000))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_stack(chromium_available: None, webhook_receiver: Receiver) -> Iterator[Stack]:
    """The stack as ``make run`` starts it (dev settings, demo data), with the fake Blink's customer
    paying only when a test says so, and ``webhook_receiver`` reachable as a merchant's endpoint."""
    database_url = _own_database(os.environ["DATABASE_URL"])
    redis_url = _own_redis_db(os.environ["REDIS_URL"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "BLINK_"))}
    log_dir = ARTIFACTS / "browser-stack"
    shutil.rmtree(log_dir, ignore_errors=True)
    with running_stack(
        env=env,
        extra_env={
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "MERCHANT_WEBHOOKS_ALLOW_HTTP_HOSTS": webhook_receiver.host,
        },
        autopay_seconds=None,
        log_dir=log_dir,
    ) as stack:
        stack.env["DJANGO_SUPERUSER_PASSWORD"] = OPERATOR_PASSWORD
        stack.manage("createsuperuser", "--noinput", "--username", OPERATOR, "--email", "operator@example.com")
        del stack.env["DJANGO_SUPERUSER_PASSWORD"]
        yield stack


# -- the browser -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    url: str
    status: int
    kind: str  # Chromium's resource type: Document, Stylesheet, Script, Image, Fetch, XHR, Font, Other


class Network:
    """What Chromium fetched since the last read, from its DevTools network log."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser

    def read(self) -> tuple[list[Loaded], list[str]]:
        loaded: list[Loaded] = []
        failed: list[str] = []
        requested: dict[str, str] = {}
        for entry in self.browser.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message["method"] == "Network.requestWillBeSent":
                requested[params["requestId"]] = params["request"]["url"]
            elif message["method"] == "Network.responseReceived":
                response = params["response"]
                if not response["url"].startswith("data:"):
                    loaded.append(Loaded(response["url"], int(response["status"]), params.get("type", "")))
            elif message["method"] == "Network.loadingFailed" and not params.get("canceled"):
                url = requested.get(params["requestId"], params["requestId"])
                failed.append(f"{url}: {params.get('errorText')} {params.get('blockedReason') or ''}".strip())
        return loaded, failed

    def assert_all_loaded(self, *, expect: tuple[str, ...] = ("Stylesheet",)) -> list[Loaded]:
        """Every resource since the last check answered below 400 and none failed to load; and the page
        really loaded the kinds of assets it is made of (a page whose CSS is missing altogether loads
        no stylesheet, so counting errors alone would not see it)."""
        loaded, failed = self.read()
        bad = [f"{item.status} {item.kind} {item.url}" for item in loaded if item.status >= 400]
        assert not bad, f"resources answered with an error: {bad}"
        assert not failed, f"resources failed to load: {failed}"
        kinds = {item.kind for item in loaded}
        missing = [kind for kind in expect if kind not in kinds]
        assert not missing, f"no {missing} loaded; got {sorted(kinds)}"
        return loaded


@pytest.fixture
def browser(chromium_available: None) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument("--window-size=1280,900")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def network(browser: Any) -> Network:
    return Network(browser)


@pytest.fixture
def screenshot(browser: Any) -> Callable[[str], Path]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        browser.save_screenshot(str(path))
        return path

    return take
