"""``POST /graphql`` for the fake Blink: authenticate, parse, validate, apply scenarios, execute.

Refused requests look like Blink's Apollo server: HTTP 400 with ``errors[].extensions.code`` of
GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED or BAD_USER_INPUT; an unknown API key is HTTP 401
(Blink's gateway rejects it before GraphQL runs).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    execute_sync,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values

from fakeblink.ledger import Ledger
from fakeblink.prices import PriceBook
from fakeblink.resolvers import RequestContext
from fakeblink.scenarios import AFTER_EXECUTION, BEFORE_EXECUTION, Scenarios
from fakeblink.schema import executable_schema
from fakeblink.server import Reply, json_reply

logger = logging.getLogger(__name__)


def _refusal(status: int, code: str, message: str) -> Reply:
    return json_reply(status, {"errors": [{"message": message, "extensions": {"code": code}}]})


@functools.lru_cache(maxsize=256)
def _checked_document(query: str) -> tuple[DocumentNode, tuple[GraphQLError, ...]]:
    """Parse and validate once per distinct document. A client sends the same handful of documents
    every time, and parse + validate cost more CPU than executing them: under load the fake would
    otherwise compete with the server it stands in for. Raises ``GraphQLError`` on a syntax error
    (not cached: lru_cache does not keep exceptions). The AST is never mutated, so sharing is safe."""
    document = parse(query)
    return document, tuple(validate(executable_schema(), document))


def _root_fields(selection_set: SelectionSetNode) -> list[str]:
    names: list[str] = []
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            names.append(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            names.extend(_root_fields(selection.selection_set))
    return names


def _formatted(error: GraphQLError) -> dict[str, Any]:
    formatted = dict(error.formatted)
    if not (error.extensions or {}).get("code"):
        # Apollo labels anything a resolver threw without a code as an internal error.
        formatted["extensions"] = {"code": "INTERNAL_SERVER_ERROR"}
        if error.original_error is not None:
            logger.error("fakeblink.resolver_bug", exc_info=error.original_error)
    return formatted


class GraphQLEndpoint:
    def __init__(self, *, ledger: Ledger, prices: PriceBook, scenarios: Scenarios) -> None:
        self._ledger = ledger
        self._prices = prices
        self._scenarios = scenarios
        self._lock = threading.Lock()
        # Each request: when it arrived and when its answer was ready ("at"), its operations and outcome.
        # The arrival is per handler thread: the server runs one request at a time on each.
        self.requests: list[dict[str, Any]] = []
        self._arrival = threading.local()
        self.slow_seconds = 2.0  # how long TIMEOUT_AFTER_APPLY_SLEEP holds the answer
        executable_schema()  # built as the fake starts, not inside the first (timed) requests

    def _record(self, operations: list[str], outcome: str | None) -> None:
        at = time.time()
        arrived = getattr(self._arrival, "at", at)
        with self._lock:
            self.requests.append({"arrived": arrived, "at": at, "operations": operations, "outcome": outcome})

    def handle(self, headers: Mapping[str, str], body: bytes) -> Reply:
        self._arrival.at = time.time()
        try:
            request = json.loads(body, parse_float=Decimal)
        except ValueError:
            self._record([], "BAD_REQUEST")
            return _refusal(400, "BAD_REQUEST", "POST body must be JSON")
        if not isinstance(request, dict) or not isinstance(request.get("query"), str):
            self._record([], "BAD_REQUEST")
            return _refusal(400, "BAD_REQUEST", "POST body must be {query, variables}")
        account = None
        if api_key := headers.get("x-api-key"):
            account = self._ledger.account_by_key(api_key)
            if account is None:
                self._record([], "NOT_AUTHENTICATED")
                return _refusal(401, "NOT_AUTHENTICATED", "Not authenticated")
        return self._run(request, account)

    def _run(self, request: dict[str, Any], account: Any) -> Reply:
        schema = executable_schema()
        try:
            document, problems = _checked_document(request["query"])
        except GraphQLError as error:
            self._record([], "GRAPHQL_PARSE_FAILED")
            return _refusal(400, "GRAPHQL_PARSE_FAILED", error.message)
        if problems:
            self._record([], "GRAPHQL_VALIDATION_FAILED")
            return json_reply(
                400,
                {"errors": [{**p.formatted, "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}} for p in problems]},
            )
        operation_name = request.get("operationName")
        operation = get_operation_ast(document, operation_name)
        if not isinstance(operation, OperationDefinitionNode):
            self._record([], "BAD_REQUEST")
            return _refusal(400, "BAD_REQUEST", "could not determine the operation to run")
        variables = request.get("variables") or {}
        coerced = get_variable_values(schema, operation.variable_definitions or (), variables)
        if isinstance(coerced, list):
            self._record([], "BAD_USER_INPUT")
            return json_reply(
                400, {"errors": [{**e.formatted, "extensions": {"code": "BAD_USER_INPUT"}} for e in coerced]}
            )

        fields = _root_fields(operation.selection_set)
        if delay := self._scenarios.latency_for(fields):
            time.sleep(delay)
        outcomes = {f: o for f in fields if (o := self._scenarios.next_outcome(f)) is not None}
        transport = next((o for o in outcomes.values() if o in BEFORE_EXECUTION), None)
        if transport is not None:
            self._record(fields, transport)
            return self._transport_failure(transport)

        context = RequestContext(
            ledger=self._ledger,
            prices=self._prices,
            account=account,
            outcomes={f: o for f, o in outcomes.items() if o not in AFTER_EXECUTION},
        )
        result = execute_sync(
            schema, document, variable_values=variables, operation_name=operation_name, context_value=context
        )
        response: dict[str, Any] = {"data": result.data}
        if result.errors:
            response["errors"] = [_formatted(e) for e in result.errors]
        after = next((o for o in outcomes.values() if o in AFTER_EXECUTION), None)
        self._record(fields, after or next(iter(outcomes.values()), None))
        reply = json_reply(200, response)
        if after == "TIMEOUT_AFTER_APPLY":
            return Reply(action="drop")
        if after == "TIMEOUT_AFTER_APPLY_SLEEP":
            reply.action, reply.sleep_seconds = "sleep", self.slow_seconds
        elif after == "MALFORMED_JSON":
            reply.body = reply.body[: len(reply.body) // 2]
        elif after == "HTTP_500_AFTER_APPLY":
            return self._transport_failure("HTTP_500")
        return reply

    @staticmethod
    def _transport_failure(outcome: str) -> Reply:
        if outcome == "TIMEOUT":
            return Reply(action="drop")
        if outcome == "HTTP_429":
            return json_reply(429, {"error": "Too Many Requests"}, headers={"Retry-After": "2"})
        status = int(outcome.removeprefix("HTTP_"))
        html = f"<html><body><h1>{status}</h1>gateway error</body></html>".encode()
        return Reply(status=status, body=html, headers={"Content-Type": "text/html"})
