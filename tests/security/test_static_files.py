"""Production serves its own static files: collectstatic with the production settings, then the ASGI
application the web tier runs (and the WSGI one tools use; WhiteNoise in both) answers hashed names
with a far-future, immutable cache header, and the pages it renders point at those hashed names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.security.test_deploy_and_headers import production_env

ROOT = Path(__file__).resolve().parents[2]
ONE_YEAR = 365 * 24 * 60 * 60

# Runs in a child process with the production settings: GETs through blinkpos.wsgi.application, over
# https as the proxy would say, and prints what came back.
_WSGI_PROBE = r"""
import io, json, sys
from wsgiref.util import setup_testing_defaults
from blinkpos.wsgi import application

def get(path, accept_encoding=""):
    environ = {"PATH_INFO": path, "HTTP_HOST": "pos.example.com", "HTTP_X_FORWARDED_PROTO": "https",
               "HTTP_ACCEPT_ENCODING": accept_encoding, "wsgi.input": io.BytesIO()}
    setup_testing_defaults(environ)
    answer = {}
    def start_response(status, headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = {k.lower(): v for k, v in headers}
    chunks = application(environ, start_response)
    body = b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    html = answer["headers"].get("content-type", "").startswith("text/html")
    answer["body"] = body.decode("utf-8", "replace") if html else len(body)
    return answer

print(json.dumps({path: get(path, enc) for path, enc in json.loads(sys.argv[1])}))
"""

# The same through blinkpos.asgi.application (what uvicorn serves, blinkpos/webserver.py): one ASGI
# HTTP request per path, the response's start and body messages collected.
_ASGI_PROBE = r"""
import asyncio, json, sys
from blinkpos.asgi import application

async def get(path, accept_encoding=""):
    headers = [(b"host", b"pos.example.com"), (b"x-forwarded-proto", b"https")]
    if accept_encoding:
        headers.append((b"accept-encoding", accept_encoding.encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
    sent = [{"type": "http.request", "body": b"", "more_body": False}]
    messages = []
    async def receive():
        return sent.pop() if sent else await asyncio.Event().wait()
    async def send(message):
        messages.append(message)
    await application(scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    answer = {"status": start["status"], "headers": {k.decode().lower(): v.decode() for k, v in start["headers"]}}
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    html = answer["headers"].get("content-type", "").startswith("text/html")
    answer["body"] = body.decode("utf-8", "replace") if html else len(body)
    return answer

async def main():
    return {path: await get(path, enc) for path, enc in json.loads(sys.argv[1])}

print(json.dumps(asyncio.run(main())))
"""


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], dict[str, str]]:
    """(environment, manifest paths) of a production collectstatic into a temporary STATIC_ROOT."""
    static_root = tmp_path_factory.mktemp("staticfiles")
    env = {**os.environ, **production_env(), "DJANGO_SETTINGS_MODULE": "blinkpos.settings.production"}
    env["STATIC_ROOT"] = str(static_root)
    env.pop("DEBUG", None)
    done = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    return env, manifest


def _probe(env: dict[str, str], requests: list[tuple[str, str]], probe: str) -> dict[str, dict]:
    done = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(requests)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _max_age(cache_control: str) -> int:
    for part in cache_control.split(","):
        name, _, value = part.strip().partition("=")
        if name == "max-age":
            return int(value)
    return 0


@pytest.mark.parametrize("probe", [_ASGI_PROBE, _WSGI_PROBE], ids=["asgi", "wsgi"])
def test_production_serves_hashed_static_files_with_far_future_caching(
    collected: tuple[dict[str, str], dict[str, str]], probe: str
) -> None:
    env, manifest = collected
    favicon = "/static/" + manifest["blinkpos/favicon.svg"]
    admin_css = "/static/" + manifest["admin/css/base.css"]
    assert favicon != "/static/blinkpos/favicon.svg"  # a content hash in the name
    answers = _probe(
        env,
        [
            (favicon, ""),
            (admin_css, "gzip"),
            ("/static/admin/css/base.css", ""),
            ("/static/" + manifest["drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css"], ""),
            ("/admin/login/", ""),
            ("/favicon.ico", ""),
        ],
        probe,
    )
    icon = answers[favicon]
    assert icon["status"] == 200 and icon["headers"]["content-type"] == "image/svg+xml"
    assert _max_age(icon["headers"]["cache-control"]) >= ONE_YEAR
    assert "immutable" in icon["headers"]["cache-control"]
    css = answers[admin_css]
    assert css["status"] == 200 and css["headers"].get("content-encoding") == "gzip"
    assert "immutable" in css["headers"]["cache-control"]
    # the unhashed name may change content under the same URL: short caching only
    plain = answers["/static/admin/css/base.css"]
    assert plain["status"] == 200 and "immutable" not in plain["headers"]["cache-control"]
    # the API docs' own assets (Swagger UI from the sidecar package) are there too
    assert answers["/static/" + manifest["drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css"]]["status"] == 200
    # a rendered page references the hashed names, including the favicon
    login = answers["/admin/login/"]
    assert login["status"] == 200
    assert f'href="{admin_css}"' in login["body"] and f'href="{favicon}"' in login["body"]
    assert "script-src 'self'" in login["headers"]["content-security-policy"]
    # browsers asking for /favicon.ico on their own are sent to the icon
    redirect = answers["/favicon.ico"]
    assert redirect["status"] == 302 and redirect["headers"]["location"] == favicon


@pytest.mark.django_db
def test_without_collectstatic_the_test_settings_serve_the_favicon_linked_from_the_pages() -> None:
    client = Client()
    page = client.get("/login/").content.decode()
    assert '<link rel="icon" href="/static/blinkpos/favicon.svg" type="image/svg+xml">' in page
    icon = client.get("/static/blinkpos/favicon.svg")
    assert icon.status_code == 200 and icon["Content-Type"] == "image/svg+xml"
    body = b"".join(icon.streaming_content).decode()  # type: ignore[attr-defined]
    assert body.startswith("<svg") and "#f7931a" in body
    assert client.get("/favicon.ico")["Location"] == "/static/blinkpos/favicon.svg"
