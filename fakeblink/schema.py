"""The fake's executable schema: our SDL subset (``schema.graphql``) plus the resolvers."""

from __future__ import annotations

import threading
from pathlib import Path

from graphql import GraphQLObjectType, GraphQLSchema, build_schema

from fakeblink.resolvers import MUTATION_RESOLVERS, QUERY_RESOLVERS

SDL_PATH = Path(__file__).with_name("schema.graphql")

_build_lock = threading.Lock()
_schema: GraphQLSchema | None = None


def sdl() -> str:
    return SDL_PATH.read_text(encoding="utf-8")


def executable_schema() -> GraphQLSchema:
    """Built once per process; resolvers are stateless (state comes in through the context).

    Under a lock, not ``functools.cache``: the cache does not hold concurrent callers back, so the
    first burst of requests (one thread each) all missed it and each built the schema (~25 CPU ms
    apiece) while the bench was measuring. ``GraphQLEndpoint`` also builds it when the fake starts."""
    global _schema
    if _schema is None:
        with _build_lock:
            if _schema is None:
                _schema = _build()
    return _schema


def _build() -> GraphQLSchema:
    schema = build_schema(sdl())
    for root, resolvers in ((schema.query_type, QUERY_RESOLVERS), (schema.mutation_type, MUTATION_RESOLVERS)):
        if not isinstance(root, GraphQLObjectType):
            raise RuntimeError("schema.graphql must define Query and Mutation")
        missing = set(root.fields) ^ set(resolvers)
        if missing:
            raise RuntimeError(f"schema and resolvers disagree on {sorted(missing)}")
        for name, resolver in resolvers.items():
            root.fields[name].resolve = resolver
    return schema
