"""The create floor WITH the provider call (issue 22 §1), served at ``/bench/floor/create`` by the same
gunicorn as the real API (mounted by ``bench/floor_views.py``).

What any create must do, and nothing else: validate the body with a serializer; ONE HTTP round trip to
the fake Blink's GraphQL endpoint (a trivial ``authorization`` query) with the library and the
connection reuse the real client uses (one ``httpx.Client`` per process, keep-alive); ONE transaction
inserting a split, three legs and one event in plain SQL; ONE Redis SET of the hot document. The
real create (``POST /api/v1/invoices``, a three-way tip split) is divided by it.
"""

from __future__ import annotations

import json
import secrets
import threading
from typing import Any

import httpx
from django.conf import settings
from django.db import connection, transaction
from django_redis import get_redis_connection
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

TRIVIAL_QUERY = "query { authorization { scopes } }"
_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _blink() -> httpx.Client:
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(
                headers={"X-API-KEY": settings.BLINK_API_KEY, "Accept": "application/json"},
                timeout=httpx.Timeout(connect=5, read=15, write=15, pool=5),
            )
        return _client


class CreateFloorView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        amount_sats = serializers.IntegerField(min_value=1, max_value=10_000_000)
        tip_percent = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=0, max_value=100)
        memo = serializers.CharField(max_length=200, allow_blank=True)

    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        amount = data.validated_data["amount_sats"]
        tip = int(amount * data.validated_data["tip_percent"] / 100)
        reply = _blink().post(settings.BLINK_API_URL, json={"query": TRIVIAL_QUERY, "variables": {}})
        reply.raise_for_status()
        reply.json()
        payment_hash = secrets.token_hex(32)
        shares = [tip - 2 * (tip // 3), tip // 3, tip // 3]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_floor_splits (payment_hash, amount, tip, status, memo) "
                "VALUES (%s, %s, %s, 'pending', %s) RETURNING id",
                [payment_hash, amount + tip, tip, data.validated_data["memo"]],
            )
            split_id = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO bench_floor_legs (split_id, kind, amount, status) VALUES "
                "(%s, 'tip', %s, 'planned'), (%s, 'tip', %s, 'planned'), (%s, 'tip', %s, 'planned')",
                [split_id, shares[0], split_id, shares[1], split_id, shares[2]],
            )
            cursor.execute(
                "INSERT INTO bench_floor_events (split_id, event_type, data) VALUES (%s, 'created', %s)",
                [split_id, json.dumps({"amount": amount + tip})],
            )
        document = json.dumps({"payment_hash": payment_hash, "status": "pending", "amount": amount + tip})
        get_redis_connection("hot").set(f"bench:floor:split:{payment_hash}", document, ex=900)
        return Response({"payment_hash": payment_hash}, status=201)
