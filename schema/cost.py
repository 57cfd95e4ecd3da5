"""What an operation spends of its caller's rate limit: one unit, or for a mutation one per root
field (aliases and fragments included, @skip/@include or not), so that a document of fifteen
aliased `createChat` fields spends fifteen, and is refused whole, before any runs, when fewer
are left."""

from __future__ import annotations

from cachetools import LRUCache
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
)

_COSTS: LRUCache[tuple[str, str | None], int] = LRUCache(256)


def operation_cost(document: DocumentNode, operation: OperationDefinitionNode | None) -> int:
    if operation is None or operation.operation is not OperationType.MUTATION:
        return 1
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    return max(1, _root_fields(operation.selection_set, fragments, set()))


def cost_of_text(query: str, operation_name: str | None, max_tokens: int) -> int:
    """The same for a document's text (the WebSocket's operations), parsed once per text, within
    the token budget the operation itself will be parsed with."""
    key = (query, operation_name)
    cost = _COSTS.get(key)
    if cost is None:
        try:
            document = parse(query, max_tokens=max_tokens)
            cost = operation_cost(document, find_operation(document, operation_name))
        except GraphQLError:
            cost = 1  # it will not run: the operation itself answers the syntax error
        _COSTS[key] = cost
    return cost


def find_operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    """The operation a request names, or its only one."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name is not None and o.name.value == name), None)


def _root_fields(
    selections: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    seen: set[str],
) -> int:
    count = 0
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            count += selection.name.value != "__typename"
        elif isinstance(selection, InlineFragmentNode):
            count += _root_fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:  # a cycle is a validation error
                count += _root_fields(fragments[name].selection_set, fragments, seen | {name})
    return count
