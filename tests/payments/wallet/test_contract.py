"""Contract test: the client's documents are valid Blink GraphQL (against Blink's public schema)."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema, parse, validate

from payments.wallet.documents import ALL_DOCUMENTS

REPO_ROOT = Path(__file__).resolve().parents[3]
BLINK_SCHEMA = REPO_ROOT / ".." / "shared" / "blink" / "schema.graphql"


@pytest.fixture(scope="module")
def blink_schema() -> GraphQLSchema:
    if not BLINK_SCHEMA.exists():
        pytest.skip(f"Blink's public schema is not available at {BLINK_SCHEMA} (reference material outside the repo)")
    return build_schema(BLINK_SCHEMA.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(ALL_DOCUMENTS))
def test_client_document_is_valid_against_blinks_schema(blink_schema: GraphQLSchema, name: str) -> None:
    # given one of the documents the client sends
    document = parse(ALL_DOCUMENTS[name])

    # when Blink's schema validates it
    errors = validate(blink_schema, document)

    # then Blink would accept it
    assert errors == [], f"{name}: {[e.message for e in errors]}"
