"""What an operation spends of its caller's rate limit: one unit, or for a mutation one per root
field (aliases and fragments included, @skip/@include or not), so that a document of fifteen
aliased `createChat` fields spends fifteen, and is refused whole, before any runs, when fewer
are left. And what a document costs to validate: the fields it selects."""

from __future__ import annotations

import re

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)


def operation_cost(document: DocumentNode, operation: OperationDefinitionNode | None) -> int:
    if operation is None or operation.operation is not OperationType.MUTATION:
        return 1
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    return max(1, _root_fields(operation.selection_set, fragments, set()))


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


# GraphQL's lexical grammar, enough to tell selections apart: what is ignored (white space, commas,
# the BOM, comments), strings (block strings first), the spread, names, punctuators, numbers.
_TOKEN = re.compile(
    r"""(?P<ignored>[\s,\ufeff]+|\#[^\n\r]*)
    |(?P<string>\"\"\"(?:\\\"\"\"|[^"]|"(?!""))*\"\"\"|"(?:\\.|[^"\\\n\r])*")
    |(?P<spread>\.\.\.)
    |(?P<name>[_A-Za-z][_0-9A-Za-z]*)
    |(?P<punctuator>[!$&():=@\[\]{|}])
    |(?P<number>-?[0-9][0-9.eE+-]*)""",
    re.VERBOSE,
)


def selects_more_than(text: str, limit: int, max_tokens: int) -> bool:
    """Whether a document's fields and fragment spreads, each counted where it is written, are
    more than `limit`, told from its tokens before it is parsed. Validating overlapping fields grows
    with the square of that count (a fragment spread many times is compared once, so a spread
    counts one); parsing 2,000 tokens takes graphql-core 10-20 ms, this pass a fraction of that.
    A document this cannot read (a syntax error, over `max_tokens`) is not over: the parser says
    what is wrong with it, as it would have without this bound."""
    selections: list[bool] = []  # open brackets: True for a selection set, False for a value
    count = tokens = 0
    previous = ""
    type_condition = False
    position, end = 0, len(text)
    while position < end:
        match = _TOKEN.match(text, position)
        if match is None:
            return False
        position = match.end()
        kind = match.lastgroup
        if kind == "ignored":
            continue
        tokens += 1
        if tokens > max_tokens:
            return False
        token = match.group()
        in_selection = bool(selections) and selections[-1]
        if kind == "name" and in_selection:
            if type_condition:
                type_condition = False  # `... on Type`: the type
            elif previous == "..." and token == "on":
                type_condition = True
            elif previous != "@":  # not a directive: a field, an alias or a fragment spread
                count += 1
        elif token == ":" and in_selection:
            count -= 1  # the name before was an alias of the field that follows
        elif token in "{([":
            selections.append(token == "{" and (not selections or selections[-1]))
        elif token in "})]":
            if not selections:
                return False
            selections.pop()
        previous = token
    return count > limit
