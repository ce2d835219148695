"""Three tiny views served by the same web server as the real API: the floors the scenarios are divided by.

Mounted under ``/bench/floor/`` only when ``BLINKPOS_BENCH_FLOORS=1`` (see blinkpos/urls.py). They go
through the same middleware and DRF machinery as the POS API but skip authentication, so
"real endpoint / floor" is the cost of the endpoint's own work:

- ``empty``: DRF view returning a constant;
- ``redis``: one Redis GET of a 400-byte value on the hot-store connection;
- ``write``: validate a small body with a serializer, INSERT one row (autocommit), one Redis SET.

Importing this module also installs the bench's per-process SQL statement counter (bench.querycount).
"""

from __future__ import annotations

import secrets
from typing import Any

from django.db import connection
from django.urls import path
from django_redis import get_redis_connection
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bench import querycount
from bench.floor_create import CreateFloorView

FLOOR_KEY = "bench:floor:value"
FLOOR_TABLE = "bench_floor_rows"
FLOOR_TTL = 900

querycount.install()


class _FloorView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]


class EmptyView(_FloorView):
    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class RedisGetView(_FloorView):
    def get(self, request: Request) -> Response:
        value = get_redis_connection("hot").get(FLOOR_KEY)
        return Response({"ok": True, "size": len(value or b"")})


class WriteView(_FloorView):
    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        amount = serializers.IntegerField(min_value=1, max_value=10_000_000)
        tipPercent = serializers.IntegerField(min_value=0, max_value=100)
        memo = serializers.CharField(max_length=200, allow_blank=True)

    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ref = secrets.token_hex(16)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {FLOOR_TABLE} (ref, amount, tip_percent, memo) VALUES (%s, %s, %s, %s)",  # noqa: S608
                [ref, data.validated_data["amount"], data.validated_data["tipPercent"], data.validated_data["memo"]],
            )
        value = f'{{"ref":"{ref}","amount":{data.validated_data["amount"]}}}'.ljust(400).encode()
        get_redis_connection("hot").set(f"bench:floor:{ref}", value, ex=FLOOR_TTL)
        return Response({"ref": ref}, status=201)


urlpatterns = [
    path("create", CreateFloorView.as_view()),  # issue 22: the create floor with the provider call
    path("empty", EmptyView.as_view()),
    path("redis", RedisGetView.as_view()),
    path("write", WriteView.as_view()),
]
