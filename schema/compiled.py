"""Compiled execution for the documents the service has seen: the technique of graphql-jit.

A document and operation, once parsed and validated, become a `Plan`: its variables are coerced
with graphql-core's own functions, its fields are collected once, and every field becomes a small
function that resolves and completes its value (the schema's own scalars serialise leaves, the
response is a plain dict in selection order). The root fields call the resolvers Strawberry built,
with the info object Strawberry would give them, so that arguments become the same input objects.

Exact semantics: each step mirrors graphql-core's `Executor` (execute_field, handle_field_error,
complete_value; `tests/contract/test_compiled.py` proves it against Strawberry's standard execution,
document by document). Whatever a plan would not reproduce exactly is not compiled: it goes through
Strawberry as before. That is decided before anything runs:

- abstract types, introspection (`__schema`, `__type`), subscriptions;
- nested fields with a resolver or arguments (every nested field here is a plain attribute);
- a query with more than one root field that resolves (graphql-core would run them concurrently,
  and the order of their errors would depend on timing);
- invalid variables: Strawberry answers them, before any resolver runs.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import MISSING as NO_DEFAULT
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    OperationDefinitionNode,
    OperationType,
    TypeNameMetaFieldDef,
    coerce_input_value,
    is_leaf_type,
    is_non_null_type,
    located_error,
    parse,
)
from graphql.execution.collect_fields import (
    FieldDetails,
    FragmentDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.get_variable_signature import (
    GraphQLVariableSignature,
    get_variable_signature,
)
from graphql.execution.values import (
    VariableValues,
    VariableValueSource,
    get_argument_values,
    input_is_nested_too_deeply,
    maybe_use_default_value,
)
from graphql.language import DirectiveNode, VariableNode, visit
from graphql.language.visitor import Visitor
from graphql.pyutils import Path, Undefined, inspect, is_iterable
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.scalars import is_scalar
from strawberry.schema.schema import _OperationContextAwareGraphQLResolveInfo as ResolveInfo
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryOptional,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.execution import ExecutionContext
from strawberry.types.field import StrawberryField
from strawberry.types.unset import UNSET

from schema.cost import operation_cost
from schema.errors import operation_label
from schema.schema import LIMIT_RULES, MAX_TOKENS, Schema, validated

PLANS = 1000  # documents a worker keeps compiled (or knows it cannot compile)
TYPENAME = TypeNameMetaFieldDef.type


class Missing(enum.Enum):
    MISSING = "missing"


MISSING = Missing.MISSING  # not seen yet (None: seen, and not compiled)


class NotCompiled(Exception):
    """This document stays with Strawberry's standard execution."""


# A compiled completion: (value, path, errors) -> completed value. `errors` collects field errors
# in the order graphql-core would.
Completer = Callable[[Any, Path, list[GraphQLError]], Any]


def _handle_field_error(
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


class _Compiler:
    """Builds the field functions of one operation, for one set of @skip/@include values."""

    def __init__(
        self,
        schema: Schema,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDetails],
        variables: VariableValues,
    ) -> None:
        self.schema = schema
        self.gql = schema._schema
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
                    _handle_field_error(raw, item_type, nodes, item_path, errors)
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
        if (
            definition is None
            or not getattr(resolve, "_is_default", False)
            or not self.getattr_is_default
        ):
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
            _handle_field_error(raw, field.return_type, field.nodes, field_path, errors)
            results[field.name] = None
    return results


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
        self.operation = operation
        self.name = operation.name.value if operation.name else None
        self.label = operation_label(document)
        self.cost = operation_cost(document, operation)
        self.fragment_definitions: dict[str, FragmentDefinitionNode] = {}
        self.fragments: dict[str, FragmentDetails] = {}
        for definition in document.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                if definition.variable_definitions:
                    raise NotCompiled("fragment variables")
                self.fragment_definitions[definition.name.value] = definition
                self.fragments[definition.name.value] = FragmentDetails(definition, None)
        root = schema._schema.get_root_type(operation.operation)
        if root is None or operation.operation not in (
            OperationType.QUERY,
            OperationType.MUTATION,
        ):
            raise NotCompiled(f"{operation.operation.value} operation")
        self.root_type: GraphQLObjectType = root
        signatures: list[tuple[GraphQLVariableSignature, bool, bool]] = []
        for variable in operation.variable_definitions or ():
            signature = get_variable_signature(schema._schema, variable)
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
        compiler = _Compiler(self.schema, self.operation, self.fragments, variables)
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
                    else _argument_values(field_def, node, variables),
                    complete=compiler.completer(field_def.type, details, self.root_type.name, name),
                    call=_direct_call(self.schema, field_def),
                )
            )
        if self.operation.operation is OperationType.QUERY and resolving > 1:
            raise NotCompiled("concurrent root fields")
        return tuple(roots)

    def coerce(self, raw_variables: dict[str, Any] | None) -> VariableValues | None:
        """The request's variables as graphql-core's coerce_variable_values gives them, with the
        variables' signatures (their types looked up in the schema) planned once; None when they
        are invalid: Strawberry then answers with graphql-core's exact errors."""
        if not self.signatures and not raw_variables:
            return _NO_VARIABLES
        inputs = raw_variables or {}
        sources: dict[str, VariableValueSource] = {}
        coerced: dict[str, Any] = {}
        invalid = False

        def on_error(*_: object) -> None:
            nonlocal invalid
            invalid = True

        try:
            for signature, has_default, non_null in self.signatures:
                name = signature.name
                value = inputs.get(name, Undefined)
                if value is Undefined:
                    sources[name] = VariableValueSource(signature)
                    if has_default:
                        maybe_use_default_value(coerced, name, signature, on_error)
                        continue
                    if not non_null:
                        continue  # not provided, nullable: omitted
                else:
                    sources[name] = VariableValueSource(signature, value)
                if input_is_nested_too_deeply(value, signature.type):
                    return None
                coerced_value = coerce_input_value(value, signature.type)
                if coerced_value is Undefined:
                    return None
                coerced[name] = coerced_value
        except (GraphQLError, RecursionError):
            return None
        return None if invalid else VariableValues(sources, coerced)

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
            info = ResolveInfo(
                root.nodes[0].name.value,
                root.nodes,
                return_type,
                root.parent,
                path,
                self.schema._schema,
                self.fragment_definitions,
                None,
                self.operation,
                variables.coerced,
                context,
                optimized_is_awaitable,
                None,
                None,
                extensions,
            )
            try:
                arguments = root.arguments
                if arguments is None:
                    arguments = _argument_values(root.field_def, root.nodes[0], variables)
                if root.call is not None:
                    value = root.call(None, info, arguments)
                else:
                    value = root.field_def.resolve(None, info, **arguments)  # type: ignore[misc]
                if optimized_is_awaitable(value):
                    value = await value
                data[root.name] = root.complete(value, path, errors)
            except Exception as raw:
                try:
                    _handle_field_error(raw, return_type, root.nodes, path, errors)
                except GraphQLError as error:
                    # A non-null root field failed: graphql-core nulls the whole data.
                    errors.append(error)
                    return None, errors
                data[root.name] = None
        return data, errors


Converter = Callable[[Any], Any]


def _direct_call(
    schema: Schema, field_def: GraphQLField
) -> Callable[[Any, Any, dict[str, Any]], Any] | None:
    """The field's resolver called as Strawberry's would call it (strawberry.types.arguments'
    convert_arguments, get_arguments and StrawberryField.get_result), with the argument
    conversion planned once instead of walking the argument types on every request. None when
    the field has something that wrapper would do beyond that: field extensions (permission
    classes are one), exception handlers, arguments of a shape planned here."""
    definition = field_def.extensions.get("strawberry-definition")
    if not isinstance(definition, StrawberryField):
        return None
    resolver = definition.base_resolver
    converter = schema.schema_converter
    if (
        resolver is None
        or definition.extensions
        or converter._get_field_exception_handlers(definition)
        or not callable(resolver.wrapped_func)
    ):
        return None
    config, registry = schema.config, converter.scalar_registry
    try:
        planned = tuple(
            (
                config.name_converter.from_argument(argument),
                str(argument.python_name),
                _converter(argument.type, registry, config),
            )
            for argument in definition.arguments
        )
    except NotCompiled:
        return None
    info_class, func = config.info_class, resolver.wrapped_func
    self_parameter = resolver.self_parameter is not None
    source_names = tuple(
        parameter.name
        for parameter in (resolver.parent_parameter, resolver.root_parameter)
        if parameter is not None
    )
    info_name = resolver.info_parameter.name if resolver.info_parameter else None

    def call(source: Any, raw_info: Any, raw: dict[str, Any]) -> Any:
        info = info_class(_raw_info=raw_info, _field=definition)
        kwargs = {python: convert(raw[name]) for name, python, convert in planned if name in raw}
        for name in source_names:
            kwargs[name] = source
        if info_name is not None:
            kwargs[info_name] = info
        return func(source, **kwargs) if self_parameter else func(**kwargs)

    return call


def _converter(type_: Any, registry: Any, config: Any) -> Converter:
    """convert_argument, specialised for one type: None and UNSET stay, leaves (scalars and
    enums, which graphql-core has already parsed) stay, lists are copied, input objects are
    built from their fields. Anything else (Maybe, GlobalID, lazy types, `from_input`) is not
    planned."""
    if isinstance(type_, StrawberryMaybe):
        raise NotCompiled("Maybe argument")
    if isinstance(type_, StrawberryOptional):
        return _converter(type_.of_type, registry, config)
    inner = _inner_converter(type_, registry, config)
    if inner is None:
        return _keep

    def convert(value: Any) -> Any:
        if value is None or value is UNSET:
            return value
        return inner(value)

    return convert


def _is_leaf(type_: Any, registry: Any) -> bool:
    if getattr(type_, "__name__", None) == "GlobalID":
        raise NotCompiled("GlobalID")
    return is_scalar(type_, registry) or isinstance(type_, StrawberryEnumDefinition)


def _inner_converter(type_: Any, registry: Any, config: Any) -> Converter | None:
    """For a value that is neither None nor UNSET; None: the value itself."""
    if isinstance(type_, StrawberryList):
        item = type_.of_type
        item_is_leaf = _is_leaf(item, registry) or (
            isinstance(item, StrawberryOptional) and _is_leaf(item.of_type, registry)
        )
        if item_is_leaf:
            return list  # copied: graphql-core shares a default between requests
        convert_item = _converter(item, registry, config)
        return lambda values: [convert_item(value) for value in values]
    if _is_leaf(type_, registry) or has_enum_definition(type_):
        return None
    if has_object_definition(type_):
        definition = type_.__strawberry_definition__
        if definition.from_input is not None:
            raise NotCompiled("from_input")
        defaults = (
            {
                field.python_name: None
                for field in definition.fields
                if field.default_value is NO_DEFAULT and field.default_factory is NO_DEFAULT
            }
            if definition.is_input
            else {}
        )
        fields = tuple(
            (
                config.name_converter.from_field(field),
                field.python_name,
                _converter(field.resolve_type(type_definition=definition), registry, config),
            )
            for field in definition.fields
        )

        def build(value: Any) -> Any:
            kwargs = dict(defaults)
            for name, python, convert in fields:
                if name in value:
                    kwargs[python] = convert(value[name])
            return type_(**kwargs)

        return build
    raise NotCompiled(f"argument of type {type_}")


def _keep(value: Any) -> Any:
    return value


_NO_VARIABLES = VariableValues({}, {})


def _argument_values(
    field_def: GraphQLField, node: FieldNode, variables: VariableValues
) -> dict[str, Any]:
    if not (field_def.args or node.arguments):
        return {}
    return get_argument_values(field_def, node, variables)


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


class CompiledDocuments:
    """The plans of the documents this worker has seen, by document and operation name; a
    document that cannot be compiled is remembered as None, so it is not tried again."""

    def __init__(self, schema: Schema, size: int = PLANS) -> None:
        self.schema = schema
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

    def known(self, query: str, operation_name: str | None) -> bool:
        """Whether this document was seen: planned, or found not to compile."""
        return (query, operation_name) in self._plans

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
        if validated(self.schema._schema, query, document, self._rules):
            return None
        operation = _select_operation(document.definitions, operation_name)
        if operation is None:
            return None
        try:
            return Plan(self.schema, document, operation)
        except NotCompiled:
            return None


def _select_operation(
    definitions: Iterable[Any], operation_name: str | None
) -> OperationDefinitionNode | None:
    operations = [d for d in definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    named = [o for o in operations if o.name is not None and o.name.value == operation_name]
    return named[0] if named else None
