"""Contract test: the client's documents are valid Blink GraphQL (against Blink's public schema)."""

from __future__ import annotations

import pytest
from graphql import GraphQLSchema, parse, validate

from payments.wallet.documents import ALL_DOCUMENTS


@pytest.mark.parametrize("name", sorted(ALL_DOCUMENTS))
def test_client_document_is_valid_against_blinks_schema(blink_schema: GraphQLSchema, name: str) -> None:
    # given one of the documents the client sends
    document = parse(ALL_DOCUMENTS[name])

    # when Blink's schema validates it
    errors = validate(blink_schema, document)

    # then Blink would accept it
    assert errors == [], f"{name}: {[e.message for e in errors]}"
