"""Which documents have a plan: those sent in full, by their text (a bounded LRU per process),
and trusted documents, for the life of the process. A document is admitted with the same limits
and validation as Strawberry's path; anything refused or not compiled is remembered as None, and
goes to Strawberry's executor, where it gets its exact answer.

The plans reproduce what the schema's extensions do on Strawberry's path (error codes, the
validation limits, operation names, the rate-limit cost); `COMPILES_FOR` names those extensions, and
a schema with any other is not compiled at all.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from cachetools import LRUCache
from graphql import GraphQLError, OperationDefinitionNode, parse
from strawberry.types.execution import ExecutionContext

from schema.errors import ErrorCodes
from schema.execution.compiler import NotCompiled
from schema.execution.plan import Plan
from schema.execution.private import graphql_schema
from schema.extensions import (
    LIMIT_RULES,
    MAX_TOKENS,
    CallerTokenLimit,
    LimitRules,
    OperationCost,
    OperationNameRequired,
    TextParserCache,
    TextValidationCache,
    validated,
)
from schema.pricing import Pricing
from schema.schema import Schema

PLANS = 1000  # documents a worker keeps compiled (or knows it cannot compile)

# The schema extensions whose effects a plan reproduces: ErrorCodes (`to_graphql_error`, by the
# pipeline), the limits and validation (`_admit`), CallerTokenLimit (a new document from a caller
# nobody knows is not planned), OperationNameRequired (`_select_operation`), OperationCost
# (`Plan.cost`); the two caches have no effect on answers.
COMPILES_FOR = (
    ErrorCodes,
    LimitRules,
    CallerTokenLimit,
    TextParserCache,
    TextValidationCache,
    OperationNameRequired,
    OperationCost,
)


def compiles_for(schema: Schema) -> bool:
    """Whether the schema's extensions are exactly those a plan reproduces."""
    return tuple(schema.extensions) == COMPILES_FOR


class Missing(enum.Enum):
    MISSING = "missing"


MISSING = Missing.MISSING  # not seen yet (None: seen, and not compiled)


class Plans:
    """The plans of the documents this worker has seen, by document and operation name; a
    document that cannot be compiled is remembered as None, so it is not tried again."""

    def __init__(self, schema: Schema, pricing: Pricing, size: int = PLANS) -> None:
        self.schema = schema
        self.pricing = pricing
        self._plans: LRUCache[tuple[str, str | None], Plan | None] = LRUCache(size)
        self._trusted: dict[str, Plan | None] = {}
        rules = ExecutionContext(query=None, schema=schema, allowed_operations=()).validation_rules
        self._rules = (*rules, *LIMIT_RULES)

    def plan(self, query: str, operation_name: str | None) -> Plan | None:
        """The plan of a document sent in full. Its key is the string itself: Python hashes a
        string once, in C, not the parsed document's frozen nodes, recursively."""
        key = (query, operation_name)
        plan: Plan | Missing | None = self._plans.get(key, MISSING)
        if plan is MISSING:
            plan = self._plans[key] = self._admit(query, operation_name)
        return plan

    def known(self, query: str, operation_name: str | None) -> Plan | Missing | None:
        """The plan of a document seen before (None: it does not compile), or MISSING."""
        return self._plans.get((query, operation_name), MISSING)

    def plan_trusted(self, query: str, operation_name: str | None) -> Plan | None:
        """A trusted document's plan (it holds one operation), kept for the life of the process:
        trusted documents are few and never change, and the documents anyone else sends must not
        evict theirs. Another operation name than the document's goes the common way (and fails
        there, as it does for any document)."""
        plan = self._trusted.get(query, MISSING)
        if plan is MISSING:
            plan = self._trusted[query] = self._admit(query, None)
        if plan is not None and operation_name is not None and plan.name != operation_name:
            return self.plan(query, operation_name)
        return plan

    def _admit(self, query: str, operation_name: str | None) -> Plan | None:
        """The same limits and validation as Strawberry's path; anything refused stays there,
        where it gets its exact error."""
        try:
            document = parse(query, max_tokens=MAX_TOKENS)
        except GraphQLError:
            return None
        if validated(graphql_schema(self.schema), query, document, self._rules):
            return None
        operation = _select_operation(document.definitions, operation_name)
        if operation is None:
            return None
        try:
            plan = Plan(self.schema, document, operation)
        except NotCompiled:
            return None
        plan.price = self.pricing.price(document, operation)  # once, with the plan
        return plan


def _select_operation(
    definitions: Iterable[Any], operation_name: str | None
) -> OperationDefinitionNode | None:
    operations = [d for d in definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    named = [o for o in operations if o.name is not None and o.name.value == operation_name]
    return named[0] if named else None
