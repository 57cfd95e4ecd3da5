"""The request's variables and the root fields' arguments, converted as graphql-core and
Strawberry convert them, with the work that depends only on the document or the schema done once.

- `coerce_variables`: graphql-core's `coerce_variable_values`, with the variables' signatures (their
  types looked up in the schema) planned per document;
- `direct_call`: a root field's resolver called as Strawberry's wrapper would call it, with its
  arguments' conversion (`convert_argument`) planned per field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING as NO_DEFAULT
from typing import Any

from graphql import FieldNode, GraphQLError, GraphQLField, coerce_input_value
from graphql.pyutils import Undefined
from strawberry.scalars import is_scalar
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryOptional,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.field import StrawberryField
from strawberry.types.unset import UNSET

from schema.execution.compiler import NotCompiled
from schema.execution.private import (
    GraphQLVariableSignature,
    VariableValues,
    VariableValueSource,
    field_exception_handlers,
    get_argument_values,
    input_is_nested_too_deeply,
    maybe_use_default_value,
    strawberry_info,
)
from schema.schema import Schema

NO_VARIABLES = VariableValues({}, {})

# A variable's signature, whether it has a default, and whether its type is non-null.
Signature = tuple[GraphQLVariableSignature, bool, bool]


def coerce_variables(
    signatures: tuple[Signature, ...], raw_variables: dict[str, Any] | None
) -> VariableValues | None:
    """The request's variables as graphql-core's coerce_variable_values gives them; None when
    they are invalid: Strawberry's executor then answers with graphql-core's exact errors."""
    if not signatures and not raw_variables:
        return NO_VARIABLES
    inputs = raw_variables or {}
    sources: dict[str, VariableValueSource] = {}
    coerced: dict[str, Any] = {}
    invalid = False

    def on_error(*_: object) -> None:
        nonlocal invalid
        invalid = True

    try:
        for signature, has_default, non_null in signatures:
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


def argument_values(
    field_def: GraphQLField, node: FieldNode, variables: VariableValues
) -> dict[str, Any]:
    if not (field_def.args or node.arguments):
        return {}
    return get_argument_values(field_def, node, variables)


Converter = Callable[[Any], Any]


def direct_call(
    schema: Schema, field_def: GraphQLField
) -> Callable[[Any, Any, dict[str, Any]], Any] | None:
    """The field's resolver called as Strawberry's would call it (strawberry.types.arguments'
    convert_arguments, get_arguments and StrawberryField.get_result), with the argument
    conversion planned once instead of walking the argument types on every request. None when
    the field has something that wrapper would do beyond that: field extensions (permission
    classes are one), exception handlers, arguments of a shape not planned here."""
    definition = field_def.extensions.get("strawberry-definition")
    if not isinstance(definition, StrawberryField):
        return None
    resolver = definition.base_resolver
    converter = schema.schema_converter
    if (
        resolver is None
        or definition.extensions
        or field_exception_handlers(schema, definition)
        or not callable(resolver.wrapped_func)
    ):
        return None
    config, registry = schema.config, converter.scalar_registry
    try:
        planned = tuple(
            (
                config.name_converter.from_argument(argument),
                str(argument.python_name),
                argument_converter(argument.type, registry, config),
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
        info = strawberry_info(info_class, raw_info, definition)
        kwargs = {python: convert(raw[name]) for name, python, convert in planned if name in raw}
        for name in source_names:
            kwargs[name] = source
        if info_name is not None:
            kwargs[info_name] = info
        return func(source, **kwargs) if self_parameter else func(**kwargs)

    return call


def argument_converter(type_: Any, registry: Any, config: Any) -> Converter:
    """convert_argument, specialised for one type: None and UNSET stay, leaves (scalars and
    enums, which graphql-core has already parsed) stay, lists are copied, input objects are
    built from their fields. Anything else (Maybe, GlobalID, lazy types, `from_input`) is not
    planned."""
    if isinstance(type_, StrawberryMaybe):
        raise NotCompiled("Maybe argument")
    if isinstance(type_, StrawberryOptional):
        return argument_converter(type_.of_type, registry, config)
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
        convert_item = argument_converter(item, registry, config)
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
                argument_converter(
                    field.resolve_type(type_definition=definition), registry, config
                ),
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
