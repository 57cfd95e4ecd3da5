"""A `Plan`: one operation of one document, ready to run.

Its fragments and variables' signatures are read once; its root fields are compiled once per set
of @skip/@include values; executing it calls the root resolvers Strawberry built (directly, with
arguments converted by `coercion`) with the `info` Strawberry would give them, and completes their
values with `compile`'s field functions. The response is a plain dict in selection order.

Not planned (`NotCompiled`, decided before anything runs): abstract types, introspection,
subscriptions, nested fields that resolve, fragment variables, and a query with more than one
root field that resolves (graphql-core would run them concurrently, and the order of their errors
would depend on timing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    OperationDefinitionNode,
    OperationType,
    is_non_null_type,
)
from graphql.language import DirectiveNode, VariableNode, visit
from graphql.language.visitor import Visitor
from graphql.pyutils import Path

from schema.cost import operation_cost
from schema.errors import operation_label
from schema.execution.coercion import (
    Signature,
    argument_values,
    coerce_variables,
    direct_call,
)
from schema.execution.compiler import Completer, FieldCompiler, NotCompiled, handle_field_error
from schema.execution.private import (
    FragmentDetails,
    VariableValues,
    collect_fields,
    get_variable_signature,
    graphql_schema,
    optimized_is_awaitable,
    resolve_info,
)
from schema.pricing import Price
from schema.schema import Schema


@dataclass(slots=True, frozen=True)
class _RootTypename:
    name: str
    typename: str


@dataclass(slots=True, frozen=True)
class _RootField:
    name: str
    nodes: list[FieldNode]
    field_def: GraphQLField
    parent: GraphQLObjectType
    arguments: dict[str, Any] | None  # None: they read variables, coerced per request
    complete: Completer
    # The field's own resolver, called directly with its arguments converted by a plan; None:
    # through the resolver Strawberry built (a shape the plan does not cover).
    call: Callable[[Any, Any, dict[str, Any]], Any] | None


class Plan:
    """One operation of one document, ready to run."""

    def __init__(
        self,
        schema: Schema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
    ) -> None:
        self.schema = schema
        self.gql = graphql_schema(schema)
        self.operation = operation
        self.name = operation.name.value if operation.name else None
        self.is_mutation = operation.operation is OperationType.MUTATION
        self.label = operation_label(document)
        self.cost = operation_cost(document, operation)
        # What the operation costs by the schema's directives, once the plans' owner prices it.
        self.price: Price | None = None
        self.fragment_definitions: dict[str, FragmentDefinitionNode] = {}
        self.fragments: dict[str, FragmentDetails] = {}
        for definition in document.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                if definition.variable_definitions:
                    raise NotCompiled("fragment variables")
                self.fragment_definitions[definition.name.value] = definition
                self.fragments[definition.name.value] = FragmentDetails(definition, None)
        root = self.gql.get_root_type(operation.operation)
        if root is None or operation.operation not in (
            OperationType.QUERY,
            OperationType.MUTATION,
        ):
            raise NotCompiled(f"{operation.operation.value} operation")
        self.root_type: GraphQLObjectType = root
        signatures: list[Signature] = []
        for variable in operation.variable_definitions or ():
            signature = get_variable_signature(self.gql, variable)
            if isinstance(signature, GraphQLError):
                raise NotCompiled("variable of a type that is not an input type")
            has_default = variable.default_value is not None
            signatures.append((signature, has_default, is_non_null_type(signature.type)))
        self.signatures = tuple(signatures)
        # @skip/@include that read variables: one set of compiled fields per combination.
        self.directive_variables = _directive_variables(operation, self.fragment_definitions)
        self._variants: dict[tuple[Any, ...], tuple[_RootField | _RootTypename, ...]] = {}
        if not self.directive_variables:
            self._variants[()] = self._compile(VariableValues({}, {}))

    def _compile(self, variables: VariableValues) -> tuple[_RootField | _RootTypename, ...]:
        compiler = FieldCompiler(self.schema, self.operation, self.fragments, variables)
        collected = collect_fields(
            compiler.gql, self.fragments, variables, self.root_type, self.operation
        ).grouped_field_set
        roots: list[_RootField | _RootTypename] = []
        resolving = 0
        for response_name, details in collected.items():
            node = details[0].node
            name = node.name.value
            nodes = [d.node for d in details]
            if name == "__typename":
                roots.append(_RootTypename(response_name, self.root_type.name))
                continue
            field_def = self.root_type.fields.get(name)
            if field_def is None:
                raise NotCompiled(f"root field {name}")  # __schema, __type
            resolving += 1
            roots.append(
                _RootField(
                    name=response_name,
                    nodes=nodes,
                    field_def=field_def,
                    parent=self.root_type,
                    arguments=None
                    if _reads_variables(node)
                    else argument_values(field_def, node, variables),
                    complete=compiler.completer(field_def.type, details, self.root_type.name, name),
                    call=direct_call(self.schema, field_def),
                )
            )
        if self.operation.operation is OperationType.QUERY and resolving > 1:
            raise NotCompiled("concurrent root fields")
        return tuple(roots)

    def coerce(self, raw_variables: dict[str, Any] | None) -> VariableValues | None:
        """The request's variables, coerced; None when they are invalid."""
        return coerce_variables(self.signatures, raw_variables)

    def _roots(self, variables: VariableValues) -> tuple[_RootField | _RootTypename, ...]:
        key = tuple(variables.coerced.get(name) for name in self.directive_variables)
        roots = self._variants.get(key)
        if roots is None:
            roots = self._variants[key] = self._compile(variables)
        return roots

    async def execute(
        self, context: Any, variables: VariableValues, extensions: Any
    ) -> tuple[dict[str, Any] | None, list[GraphQLError]]:
        """Data and field errors, as graphql-core's execute would give them. Root fields run one
        after another: mutations must, and a compiled query has one field that resolves."""
        errors: list[GraphQLError] = []
        data: dict[str, Any] = {}
        root_name = self.root_type.name
        for root in self._roots(variables):
            if isinstance(root, _RootTypename):
                data[root.name] = root.typename
                continue
            return_type = root.field_def.type
            path = Path(None, root.name, root_name)
            info = resolve_info(
                root.nodes,
                return_type,
                root.parent,
                path,
                self.gql,
                self.fragment_definitions,
                self.operation,
                variables.coerced,
                context,
                extensions,
            )
            try:
                arguments = root.arguments
                if arguments is None:
                    arguments = argument_values(root.field_def, root.nodes[0], variables)
                if root.call is not None:
                    value = root.call(None, info, arguments)
                else:
                    value = root.field_def.resolve(None, info, **arguments)  # type: ignore[misc]
                if optimized_is_awaitable(value):
                    value = await value
                data[root.name] = root.complete(value, path, errors)
            except Exception as raw:
                try:
                    handle_field_error(raw, return_type, root.nodes, path, errors)
                except GraphQLError as error:
                    # A non-null root field failed: graphql-core nulls the whole data.
                    errors.append(error)
                    return None, errors
                data[root.name] = None
        return data, errors


def _reads_variables(node: FieldNode) -> bool:
    found = False

    class Finder(Visitor):
        def enter_variable(self, *_: Any) -> None:
            nonlocal found
            found = True

    for argument in node.arguments or ():
        visit(argument, Finder())
    return found


def _directive_variables(
    operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
) -> tuple[str, ...]:
    names: list[str] = []

    class Finder(Visitor):
        def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
            for argument in node.arguments or ():
                if isinstance(argument.value, VariableNode):
                    names.append(argument.value.name.value)

    for node in (operation, *fragments.values()):
        visit(node, Finder())
    return tuple(dict.fromkeys(names))
