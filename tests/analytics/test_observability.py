"""/metrics (Prometheus text, token or network protected) and /api/storage/health."""

from __future__ import annotations

import pytest
from django.test import Client
from django_redis import get_redis_connection

from payments import metrics as latency
from tests.factories import PaymentSplitFactory, UserFactory

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture
def protected(settings: object) -> None:
    settings.METRICS_TOKEN = TOKEN  # type: ignore[attr-defined]
    settings.METRICS_ALLOWED_IPS = []  # type: ignore[attr-defined]


@pytest.mark.usefixtures("protected")
@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Token {TOKEN}", "Bearer "])
def test_metrics_refuses_without_the_token(client: Client, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"blinkpos_" not in response.content


def test_metrics_closed_when_nothing_is_configured(client: Client, settings: object) -> None:
    settings.METRICS_TOKEN = ""  # type: ignore[attr-defined]
    settings.METRICS_ALLOWED_IPS = []  # type: ignore[attr-defined]
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401


@pytest.mark.usefixtures("protected")
def test_metrics_content_with_the_token(client: Client) -> None:
    redis = get_redis_connection("hot")
    redis.set("metrics:hotstore:hits", 30)
    redis.set("metrics:hotstore:misses", 70)
    for _ in range(5):
        latency.observe_latency("create_invoice", 700.0)
    PaymentSplitFactory()
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    assert 'blinkpos_hotstore_lookups_total{result="hit"} 30.0' in body
    assert "blinkpos_hotstore_hit_ratio 0.3" in body
    assert 'blinkpos_latency_milliseconds{operation="create_invoice",quantile="0.95"} 700.0' in body
    assert 'blinkpos_payments_open{status="pending"} 1.0' in body
    assert "blinkpos_celery_queue_depth 0.0" in body
    assert "blinkpos_redis_memory_used_bytes" in body
    assert 'blinkpos_alert_active{alert="hotstore_hit_ratio_low"} 1.0' in body
    assert 'blinkpos_alert_active{alert="latency_create_invoice_p95_high"} 1.0' in body


def test_metrics_allowed_network(client: Client, settings: object) -> None:
    settings.METRICS_TOKEN = TOKEN  # type: ignore[attr-defined]
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "not-an-address"]  # type: ignore[attr-defined]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.1").status_code == 401


@pytest.mark.usefixtures("protected")
def test_storage_health_content(client: Client) -> None:
    get_redis_connection("hot").set("metrics:hotstore:hits", 8)
    get_redis_connection("hot").set("metrics:hotstore:misses", 2)
    PaymentSplitFactory()
    response = client.get("/api/storage/health", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["storage"] == "hybrid (Redis + PostgreSQL)"
    assert body["checks"]["postgres"]["status"] == "up"
    assert body["checks"]["redis"]["status"] == "up"
    assert body["hot_store"]["hits"] == 8
    assert body["hot_store"]["hit_ratio"] == 0.8
    assert body["hot_store"]["active_splits"] == 1
    assert body["last24Hours"]["pending_count"] == 1
    assert body["alerts"][0]["name"] == "metrics_stale"  # no snapshot yet


@pytest.mark.usefixtures("protected")
def test_storage_health_requires_token_or_staff(client: Client) -> None:
    assert client.get("/api/storage/health").status_code == 401
    client.force_login(UserFactory(is_staff=False))
    assert client.get("/api/storage/health").status_code == 401
    client.force_login(UserFactory(is_staff=True))
    assert client.get("/api/storage/health").status_code == 200
