"""A selection's nested fields turned into small functions, once per plan: graphql-core's
`complete_value` and `execute_fields`, specialised for one type and one selection.

Every nested field here is a plain attribute (no resolver, no arguments); anything else raises
`NotCompiled` and its document runs through Strawberry's executor. Each step mirrors graphql-core's
`Executor` (execute_field, handle_field_error, complete_value).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    OperationDefinitionNode,
    TypeNameMetaFieldDef,
    is_leaf_type,
    located_error,
)
from graphql.pyutils import Path, Undefined, inspect, is_iterable

from schema.execution.private import (
    FieldDetails,
    FragmentDetails,
    VariableValues,
    collect_subfields,
    graphql_schema,
    is_default_resolver,
)
from schema.schema import Schema

TYPENAME = TypeNameMetaFieldDef.type


class NotCompiled(Exception):
    """This document stays with Strawberry's standard execution."""


# A compiled completion: (value, path, errors) -> completed value. `errors` collects field errors
# in the order graphql-core would.
Completer = Callable[[Any, Path, list[GraphQLError]], Any]


def handle_field_error(
    raw: Exception,
    return_type: GraphQLOutputType,
    nodes: list[FieldNode],
    path: Path,
    errors: list[GraphQLError],
) -> None:
    # graphql-core's Executor.handle_field_error: non-null fields pass the error up.
    error = located_error(raw, nodes, path.as_list())
    if isinstance(return_type, GraphQLNonNull):
        raise error
    errors.append(error)


class _Field:
    """One nested field: a plain attribute, or `__typename`."""

    __slots__ = ("attribute", "complete", "name", "nodes", "return_type", "typename")

    def __init__(
        self,
        name: str,
        nodes: list[FieldNode],
        return_type: GraphQLOutputType,
        attribute: str,
        typename: str | None,
        complete: Completer,
    ) -> None:
        self.name = name
        self.nodes = nodes
        self.return_type = return_type
        self.attribute = attribute
        self.typename = typename
        self.complete = complete


class FieldCompiler:
    """Builds the field functions of one operation, for one set of @skip/@include values."""

    def __init__(
        self,
        schema: Schema,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDetails],
        variables: VariableValues,
    ) -> None:
        self.schema = schema
        self.gql = graphql_schema(schema)
        self.operation = operation
        self.fragments = fragments
        self.variables = variables
        self.getattr_is_default = schema.config.default_resolver is getattr

    def completer(
        self, return_type: GraphQLOutputType, details: list[FieldDetails], parent: str, name: str
    ) -> Completer:
        """graphql-core's complete_value, specialised for one type and selection."""
        if isinstance(return_type, GraphQLNonNull):
            inner = self.completer(return_type.of_type, details, parent, name)
            message = f"Cannot return null for non-nullable field {parent}.{name}."

            def complete_non_null(value: Any, path: Path, errors: list[GraphQLError]) -> Any:
                if isinstance(value, Exception):
                    raise value
                completed = inner(value, path, errors)
                if completed is None:
                    raise TypeError(message)
                return completed

            return complete_non_null
        if isinstance(return_type, GraphQLList):
            return self._list_completer(return_type, details, parent, name)
        if is_leaf_type(return_type):
            coerce = return_type.coerce_output_value

            def complete_leaf(value: Any, path: Path, errors: list[GraphQLError]) -> Any:
                if isinstance(value, Exception):
                    raise value
                if value is None or value is Undefined:
                    return None
                coerced = coerce(value)
                if coerced is Undefined or coerced is None:
                    raise TypeError(
                        f"Expected `{inspect(return_type)}.coerce_output_value("
                        f"{inspect(value)})` to return non-nullable value, returned:"
                        f" {inspect(coerced)}"
                    )
                return coerced

            return complete_leaf
        if isinstance(return_type, GraphQLObjectType):
            if return_type.is_type_of is not None:
                raise NotCompiled("is_type_of")
            fields = self.object_fields(return_type, details)

            def complete_object(value: Any, path: Path, errors: list[GraphQLError]) -> Any:
                if isinstance(value, Exception):
                    raise value
                if value is None or value is Undefined:
                    return None
                return _execute_fields(fields, value, path, errors)

            return complete_object
        raise NotCompiled(f"abstract type {return_type}")

    def _list_completer(
        self, return_type: GraphQLList[Any], details: list[FieldDetails], parent: str, name: str
    ) -> Completer:
        item_type = return_type.of_type
        complete_item = self.completer(item_type, details, parent, name)
        nodes = [d.node for d in details]
        message = f"Expected Iterable, but did not find one for field '{parent}.{name}'."

        def complete_list(value: Any, path: Path, errors: list[GraphQLError]) -> Any:
            if isinstance(value, Exception):
                raise value
            if value is None or value is Undefined:
                return None
            if not is_iterable(value):
                raise GraphQLError(message)
            completed: list[Any] = []
            for index, item in enumerate(value):
                item_path = Path(path, index, None)
                try:
                    completed.append(complete_item(item, item_path, errors))
                except Exception as raw:
                    handle_field_error(raw, item_type, nodes, item_path, errors)
                    completed.append(None)
            return completed

        return complete_list

    def object_fields(
        self, object_type: GraphQLObjectType, details: list[FieldDetails]
    ) -> tuple[tuple[_Field, ...], str]:
        collected = collect_subfields(
            self.gql, self.fragments, self.variables, self.operation, object_type, details
        ).grouped_field_set
        fields = []
        for response_name, field_details in collected.items():
            node = field_details[0].node
            name = node.name.value
            nodes = [d.node for d in field_details]
            if name == "__typename":
                fields.append(_Field(response_name, nodes, TYPENAME, "", object_type.name, _raw))
                continue
            field_def = object_type.fields.get(name)
            if field_def is None:
                raise NotCompiled(f"unknown field {name}")  # validation has refused it already
            attribute = self.plain_attribute(field_def)
            if attribute is None or field_def.args or node.arguments:
                raise NotCompiled(f"{object_type.name}.{name} resolves")
            complete = self.completer(field_def.type, field_details, object_type.name, name)
            fields.append(_Field(response_name, nodes, field_def.type, attribute, None, complete))
        return tuple(fields), object_type.name

    def plain_attribute(self, field_def: GraphQLField) -> str | None:
        """The Python attribute a field reads, when it has no resolver of its own."""
        definition = field_def.extensions.get("strawberry-definition")
        resolve = field_def.resolve
        if definition is None or not is_default_resolver(resolve) or not self.getattr_is_default:
            return None
        return str(definition.python_name)


def _raw(value: Any, path: Path, errors: list[GraphQLError]) -> Any:
    return value


def _execute_fields(
    compiled: tuple[tuple[_Field, ...], str], source: Any, path: Path, errors: list[GraphQLError]
) -> dict[str, Any]:
    """graphql-core's execute_fields for fields that read attributes (nothing to await)."""
    fields, typename = compiled
    results: dict[str, Any] = {}
    for field in fields:
        field_path = Path(path, field.name, typename)
        if field.typename is not None:
            results[field.name] = field.typename
            continue
        try:
            results[field.name] = field.complete(
                getattr(source, field.attribute), field_path, errors
            )
        except Exception as raw:
            handle_field_error(raw, field.return_type, field.nodes, field_path, errors)
            results[field.name] = None
    return results
