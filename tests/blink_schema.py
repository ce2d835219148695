"""Blink's public schema as a pytest fixture, for the contract tests of the client and of the fake.

It is reference material kept beside the repository (the shared folder's ``blink/schema.graphql``), not a copy in
it; where it is absent the contract tests skip and say so."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema

BLINK_SCHEMA = Path(__file__).resolve().parents[1] / ".." / "shared" / "blink" / "schema.graphql"


@pytest.fixture(scope="session")
def blink_schema() -> GraphQLSchema:
    if not BLINK_SCHEMA.exists():
        pytest.skip(f"Blink's public schema is not available at {BLINK_SCHEMA} (reference material outside the repo)")
    return build_schema(BLINK_SCHEMA.read_text(encoding="utf-8"))
