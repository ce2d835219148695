"""The fake's schema: it binds every root field, accepts the client's documents, and its SDL is a
faithful subset of Blink's public schema (so passing against the fake means something against Blink)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    build_schema,
    parse,
    validate,
)

from fakeblink import schema as schema_module
from fakeblink.schema import executable_schema, sdl
from payments.wallet.documents import ALL_DOCUMENTS


@pytest.fixture(scope="module")
def fake_schema() -> GraphQLSchema:
    return build_schema(sdl())


@pytest.mark.parametrize("name", sorted(ALL_DOCUMENTS))
def test_client_document_is_valid_against_the_fake(fake_schema: GraphQLSchema, name: str) -> None:
    errors = validate(fake_schema, parse(ALL_DOCUMENTS[name]))

    assert errors == [], f"{name}: {[e.message for e in errors]}"


def test_fake_executable_schema_binds_every_root_field() -> None:
    # executable_schema() raises when a root field has no resolver or a resolver no field
    schema = executable_schema()

    assert schema.query_type is not None and schema.mutation_type is not None
    assert all(f.resolve is not None for f in schema.query_type.fields.values())
    assert all(f.resolve is not None for f in schema.mutation_type.fields.values())


def test_concurrent_first_callers_share_one_build(monkeypatch: pytest.MonkeyPatch) -> None:
    # the fake's request threads all ask at once on the first burst; only one may pay for the build
    monkeypatch.setattr(schema_module, "_schema", None)
    real_build, builds = schema_module._build, []
    callers = 8
    arrived = threading.Barrier(callers)

    def counted_build() -> GraphQLSchema:
        builds.append(1)
        return real_build()

    monkeypatch.setattr(schema_module, "_build", counted_build)

    def first_call(_: int) -> GraphQLSchema:
        arrived.wait()
        return executable_schema()

    with ThreadPoolExecutor(callers) as pool:
        schemas = list(pool.map(first_call, range(callers)))

    assert len(builds) == 1
    assert all(s is schemas[0] for s in schemas)


def _user_types(schema: GraphQLSchema) -> dict[str, GraphQLNamedType]:
    return {name: t for name, t in schema.type_map.items() if not name.startswith("__")}


def test_fake_sdl_is_a_subset_of_blinks_schema(fake_schema: GraphQLSchema, blink_schema: GraphQLSchema) -> None:
    problems: list[str] = []
    for name, fake_type in _user_types(fake_schema).items():
        real = blink_schema.get_type(name)
        if real is None:
            problems.append(f"{name}: not in Blink's schema")
            continue
        if type(real) is not type(fake_type):
            problems.append(f"{name}: {type(fake_type).__name__} here, {type(real).__name__} in Blink")
            continue
        problems += _compare(name, fake_type, real)

    assert problems == []


def _compare(name: str, fake: GraphQLNamedType, real: GraphQLNamedType) -> list[str]:
    problems: list[str] = []
    if isinstance(fake, GraphQLObjectType | GraphQLInterfaceType):
        assert isinstance(real, GraphQLObjectType | GraphQLInterfaceType)
        for field_name, field in fake.fields.items():
            real_field = real.fields.get(field_name)
            if real_field is None:
                problems.append(f"{name}.{field_name}: not in Blink")
                continue
            if str(field.type) != str(real_field.type):
                problems.append(f"{name}.{field_name}: {field.type} here, {real_field.type} in Blink")
            for arg_name, arg in field.args.items():
                real_arg = real_field.args.get(arg_name)
                if real_arg is None or str(arg.type) != str(real_arg.type):
                    problems.append(f"{name}.{field_name}({arg_name}): {arg.type} vs {real_arg and real_arg.type}")
            for arg_name, real_arg in real_field.args.items():
                if arg_name not in field.args and str(real_arg.type).endswith("!"):
                    problems.append(f"{name}.{field_name}: required argument {arg_name} missing")
        missing_interfaces = {i.name for i in fake.interfaces} - {i.name for i in real.interfaces}
        problems += [f"{name}: implements {i} only here" for i in sorted(missing_interfaces)]
    elif isinstance(fake, GraphQLInputObjectType):
        assert isinstance(real, GraphQLInputObjectType)
        # Inputs must match exactly: the fake accepts what Blink accepts, and requires what it requires.
        fake_fields = {n: str(f.type) for n, f in fake.fields.items()}
        real_fields = {n: str(f.type) for n, f in real.fields.items()}
        if fake_fields != real_fields:
            problems.append(f"{name}: input fields {fake_fields} here, {real_fields} in Blink")
    elif isinstance(fake, GraphQLEnumType):
        assert isinstance(real, GraphQLEnumType)
        if set(fake.values) != set(real.values):
            problems.append(f"{name}: values {sorted(fake.values)} here, {sorted(real.values)} in Blink")
    elif isinstance(fake, GraphQLUnionType):
        assert isinstance(real, GraphQLUnionType)
        if {t.name for t in fake.types} != {t.name for t in real.types}:
            problems.append(f"{name}: union members differ")
    else:
        assert isinstance(fake, GraphQLScalarType)
    return problems
