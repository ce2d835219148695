"""The SSRF-safe client: what it refuses with production's policy (no plain-http hosts), and that an
allowed fetch is pinned to the address checked, with the host name kept for Host and TLS."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping

import httpx
import pytest

from fakeblink.server import HTTPServerThread, Reply, json_reply
from payments.net.safe_http import (
    FetchFailed,
    SafeHttpPolicy,
    UnsafeUrl,
    is_public_address,
    safe_get,
)

PRODUCTION = SafeHttpPolicy()  # what production runs: https only, nothing allowed over http


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Mapping[str, str]]] = []
        self.replies: dict[str, Reply] = {}

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        self.seen.append((path, dict(headers)))
        return self.replies.get(path.split("?")[0], json_reply(200, {"ok": True, "path": path}))


@pytest.fixture
def server() -> Iterator[tuple[Recorder, str]]:
    recorder = Recorder()
    thread = HTTPServerThread(recorder.handle)
    thread.start()
    yield recorder, f"127.0.0.1:{thread.port}"
    thread.stop()


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/.well-known/lnurlp/a",
        "https://10.0.0.1/x",
        "https://10.255.1.2:8443/x",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/x",
        "https://[::ffff:127.0.0.1]/x",  # IPv4-mapped loopback
        "https://[::ffff:10.0.0.1]/x",
        "https://[fe80::1]/x",
        "https://[fc00::1]/x",
        "https://0.0.0.0/x",
        "https://224.0.0.1/x",
        "https://100.64.0.1/x",  # carrier-grade NAT
        "https://192.168.1.1/x",
        "https://[64:ff9b::a00:1]/x",  # NAT64 of 10.0.0.1
        "https://[2002:a00:1::]/x",  # 6to4 of 10.0.0.1
    ],
)
def test_private_and_special_addresses_are_refused_before_connecting(url: str) -> None:
    with pytest.raises(UnsafeUrl) as refused:
        safe_get(url, policy=PRODUCTION)
    assert refused.value.code == "private_address"


def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    policy = SafeHttpPolicy(resolver=lambda host, port: ["93.184.216.34", "10.0.0.7"])  # one bad record is enough
    with pytest.raises(UnsafeUrl) as refused:
        safe_get("https://wallet.example.com/.well-known/lnurlp/a", policy=policy)
    assert refused.value.code == "private_address"


def test_localhost_resolves_to_loopback_and_is_refused() -> None:
    with pytest.raises(UnsafeUrl, match="private_address"):
        safe_get("https://localhost/.well-known/lnurlp/a", policy=PRODUCTION)


@pytest.mark.parametrize("url", ["http://93.184.216.34/x", "ftp://example.com/x", "file:///etc/passwd"])
def test_only_https_in_production(url: str) -> None:
    with pytest.raises(UnsafeUrl) as refused:
        safe_get(url, policy=PRODUCTION)
    assert refused.value.code in {"insecure_scheme", "bad_url"}


def test_user_info_in_a_url_is_refused() -> None:
    with pytest.raises(UnsafeUrl, match="bad_url"):
        safe_get("https://user:pw@example.com/x", policy=PRODUCTION)


def test_an_allowed_host_port_skips_the_private_check_for_exactly_that_pair(server: tuple[Recorder, str]) -> None:
    _, hostport = server
    host, port = hostport.split(":")
    allowed = SafeHttpPolicy(allow_http_hosts=frozenset({hostport}))
    assert safe_get(f"http://{hostport}/a?k=v", policy=allowed).status_code == 200
    other_port = SafeHttpPolicy(allow_http_hosts=frozenset({f"{host}:{int(port) + 1}"}))
    with pytest.raises(UnsafeUrl, match="insecure_scheme"):
        safe_get(f"http://{hostport}/a", policy=other_port)
    listed = SafeHttpPolicy(allow_http_hosts=frozenset({hostport}))
    with pytest.raises(UnsafeUrl, match="private_address"):  # same host, another port: not the listed pair
        safe_get(f"https://{host}:{int(port) + 1}/a", policy=listed)
    with pytest.raises(UnsafeUrl, match="insecure_scheme"):  # another loopback address, same port
        safe_get(f"http://127.0.0.2:{port}/a", policy=listed)


def test_the_connection_is_pinned_to_the_checked_address_and_keeps_the_host_name(server: tuple[Recorder, str]) -> None:
    recorder, hostport = server
    port = hostport.split(":")[1]
    calls: list[str] = []

    def resolver(host: str, p: int) -> list[str]:  # a name only this resolver knows: DNS never answers it
        calls.append(host)
        return ["127.0.0.1"]

    policy = SafeHttpPolicy(allow_http_hosts=frozenset({f"lnurl.test:{port}"}), resolver=resolver)
    response = safe_get(f"http://lnurl.test:{port}/cb?tag=x", policy=policy, params={"amount": "1000"})
    assert response.status_code == 200 and calls == ["lnurl.test"]
    path, headers = recorder.seen[-1]
    assert path == "/cb?tag=x&amount=1000"  # the URL's own query string kept
    assert headers["host"] == f"lnurl.test:{port}"


def test_https_sends_sni_for_the_host_name_so_tls_verifies_it() -> None:
    captured: list[httpx.Request] = []

    class Capture(httpx.BaseTransport):  # stands in for the network: nothing leaves this machine
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            captured.append(request)
            return httpx.Response(200, stream=httpx.ByteStream(b"{}"))

    policy = SafeHttpPolicy(resolver=lambda h, p: ["93.184.216.34"], transport=Capture())
    safe_get("https://wallet.example.com/.well-known/lnurlp/a", policy=policy)
    request = captured[0]
    assert request.url.host == "93.184.216.34"  # connects to the pinned address
    assert request.headers["host"] == "wallet.example.com"
    assert request.extensions["sni_hostname"] == "wallet.example.com"  # httpcore checks the cert against it


def test_redirects_to_another_host_are_refused_and_same_host_ones_followed(server: tuple[Recorder, str]) -> None:
    recorder, hostport = server
    policy = SafeHttpPolicy(allow_http_hosts=frozenset({hostport}))
    recorder.replies["/away"] = Reply(status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    with pytest.raises(UnsafeUrl, match="cross_host_redirect"):
        safe_get(f"http://{hostport}/away", policy=policy)
    recorder.replies["/near"] = Reply(status=301, headers={"Location": "/there"})
    response = safe_get(f"http://{hostport}/near", policy=policy)
    assert response.status_code == 200 and response.url.endswith("/there")
    assert all("169.254" not in path for path, _ in recorder.seen)


def test_bodies_over_the_cap_are_refused(server: tuple[Recorder, str]) -> None:
    recorder, hostport = server
    recorder.replies["/big"] = Reply(status=200, body=b"x" * (64 * 1024 + 1))
    with pytest.raises(FetchFailed, match="too_large"):
        safe_get(f"http://{hostport}/big", policy=SafeHttpPolicy(allow_http_hosts=frozenset({hostport})))


def test_a_slow_host_times_out(server: tuple[Recorder, str]) -> None:
    recorder, hostport = server
    recorder.replies["/slow"] = Reply(action="sleep", sleep_seconds=1.0, body=b"{}")
    policy = SafeHttpPolicy(allow_http_hosts=frozenset({hostport}), timeout_seconds=0.3)
    with pytest.raises(FetchFailed, match="timeout"):
        safe_get(f"http://{hostport}/slow", policy=policy)


def test_public_addresses_pass() -> None:
    import ipaddress

    assert is_public_address(ipaddress.ip_address("93.184.216.34"))
    assert is_public_address(ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"))


def test_production_settings_refuse_plain_http_lnurl_hosts() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "blinkpos.settings.production",
        "SECRET_KEY": "x" * 50,
        "FIELD_ENCRYPTION_KEYS": "ZmRlZmF1bHRrZXlmb3J0ZXN0aW5nb25seTEyMzQ1Njc=",
        "ALLOWED_HOSTS": "pos.example.com",
        "LNURL_ALLOW_HTTP_HOSTS": "127.0.0.1:9999",
    }
    code = "import django; django.setup()"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "LNURL_ALLOW_HTTP_HOSTS must be empty in production" in done.stderr
