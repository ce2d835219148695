"""Redis through Sentinel: the settings build Sentinel clients for django-redis and Celery, and the
clients follow a failover. A real master, replica and Sentinel are started on free loopback ports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from blinkpos.redis_config import RedisTarget, cache_location_and_options, celery_broker, parse_sentinels
from cluster.services import SENTINEL_MASTER, SentinelRedis

ROOT = Path(__file__).resolve().parents[2]


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
    assert cache_location_and_options(target) == (
        "redis://cache:6379/3",
        {"CONNECTION_FACTORY": "blinkpos.redis_clients.SharedClientConnectionFactory"},
    )
    assert celery_broker(target) == ("redis://cache:6379/3", {})


def test_sentinels_select_the_master_for_every_client() -> None:
    target = RedisTarget(url="redis://:pw@ignored:6379/4", sentinels=(("s1", 26379), ("s2", 26380)), master="pos")
    location, options = cache_location_and_options(target)
    assert location == "redis://:pw@pos/4?is_master=1"
    assert options == {
        "CONNECTION_FACTORY": "blinkpos.redis_clients.SharedClientSentinelConnectionFactory",
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


# --- a real master, replica and three Sentinels (the rehearsal's, cluster/services.py) ---------------


@pytest.fixture
def sentinel_setup() -> Iterator[SentinelRedis]:
    group = SentinelRedis(first_port=26400)
    try:
        group.start()
        yield group
    finally:
        group.stop()


def test_clients_built_from_settings_follow_a_failover(sentinel_setup: SentinelRedis) -> None:
    env = {
        "REDIS_URL": "redis://127.0.0.1:1/2",  # the host is unused with Sentinels; the database is 2
        "REDIS_SENTINELS": sentinel_setup.sentinels_setting,
        "REDIS_SENTINEL_MASTER": SENTINEL_MASTER,
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

    assert sentinel_setup.failover() == sentinel_setup.replica_port

    after = _settings_in_subprocess(env, code)
    assert after == {"hot": sentinel_setup.replica_port, "broker": sentinel_setup.replica_port, "value": "x"}
