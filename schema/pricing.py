"""What a document costs before it runs, by the schema's @cost and @listSize (`schema.directives`),
read from the SDL the service publishes, with the rules of IBM's cost specification as the
routers apply them:

- a field costs its @cost weight, else 1 when it returns an object and 0 when a scalar or enum
  (mutations' root fields weigh 10); introspection and `__typename` cost nothing;
- a list multiplies what each item costs by its size: the largest slicing argument sent (a literal
  or a variable's value), else its `assumedSize`; a field with `sizedFields` sizes those fields of
  the object it returns (a connection's `edges`);
- fragments count where they are spread; @skip and @include are not read (the estimate is what
  the document could cost).

A document is priced once per text and operation (`Pricing.of`, an LRU): the result is a small
tree whose sizes may name variables, evaluated for each request's variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cachetools import LRUCache
from graphql import (
    DocumentNode,
    FieldDefinitionNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    build_ast_schema,
    get_named_type,
    is_composite_type,
    parse,
)

from schema.cost import find_operation, operation_cost

# A list that no @listSize sizes (none in this schema): what the routers assume by default.
DEFAULT_LIST_SIZE = 10
# Deeper than this is refused by the depth limit anyway; the walk does not go further.
MAX_NESTING = 32
PRICES = 1000


@dataclass(frozen=True, slots=True)
class Slice:
    """A list's size: the largest slicing argument sent, each a literal or a variable (with the
    operation's default for it), else `assumed`."""

    literals: tuple[int, ...]
    variables: tuple[tuple[str, object], ...]
    assumed: int

    def size(self, variables: Mapping[str, object] | None) -> int:
        sizes = [*self.literals]
        for name, default in self.variables:
            value = variables.get(name, default) if variables else default
            if isinstance(value, int) and not isinstance(value, bool):
                sizes.append(value)
        return max(0, max(sizes)) if sizes else self.assumed


@dataclass(frozen=True, slots=True)
class Term:
    """A selected field: its weight and its selections' costs, `times` over (a list's size)."""

    weight: int
    times: int | Slice
    children: tuple[Term, ...]

    def cost(self, variables: Mapping[str, object] | None) -> int:
        inner = self.weight + sum(child.cost(variables) for child in self.children)
        times = self.times if isinstance(self.times, int) else self.times.size(variables)
        return times * inner


@dataclass(frozen=True, slots=True)
class Price:
    """A document's operation, priced: a constant, or a tree read with each request's variables;
    what the operation is (its type and name, for its trace); and the units it spends of
    RATE_LIMIT, which counts operations (schema.cost), not cost."""

    terms: tuple[Term, ...]
    constant: int | None
    kind: str = "query"
    name: str | None = None
    operations: int = 1

    def estimate(self, variables: object) -> int:
        """The cost with a request's variables as sent (anything but an object reads as none:
        the executor refuses such variables after this)."""
        if self.constant is not None:
            return self.constant
        values = variables if isinstance(variables, Mapping) else None
        return sum(term.cost(values) for term in self.terms)


@dataclass(frozen=True, slots=True)
class _Declared:
    weight: int | None
    assumed: int | None = None
    slicing: tuple[str, ...] = ()
    sized: tuple[str, ...] = ()
    sizes_list: bool = False  # a @listSize without sizedFields: the field's own list


class Pricing:
    """The schema's prices, from its SDL, and the documents priced so far."""

    def __init__(self, sdl: str, size: int = PRICES) -> None:
        self.schema = build_ast_schema(parse(sdl))
        self._fields: dict[tuple[str, str], _Declared] = {}
        for type_ in self.schema.type_map.values():
            if isinstance(type_, GraphQLObjectType):
                for name, field in type_.fields.items():
                    if isinstance(field.ast_node, FieldDefinitionNode):
                        declared = _declared(field.ast_node)
                        if declared is not None:
                            self._fields[(type_.name, name)] = declared
        self._prices: LRUCache[tuple[str, str | None, int], Price | None] = LRUCache(size)

    def of(self, query: str, operation_name: str | None, max_tokens: int) -> Price | None:
        """The price of a document's operation; None when it does not parse within `max_tokens`
        or names no operation it holds (it will not run: its executor says why)."""
        key = (query, operation_name, max_tokens)
        if key in self._prices:
            return self._prices[key]
        return self._priced(key)

    def known(self, query: str, operation_name: str | None, max_tokens: int) -> Price | bool | None:
        """A price already made within `max_tokens` (None: the document will not run), else
        False: asked before the caller's own budget is known, which costs an authentication."""
        return self._prices.get((query, operation_name, max_tokens), False)

    def _priced(self, key: tuple[str, str | None, int]) -> Price | None:
        query, operation_name, max_tokens = key
        try:
            document = parse(query, max_tokens=max_tokens)
        except GraphQLError:
            price = None
        else:
            operation = find_operation(document, operation_name)
            price = None if operation is None else self.price(document, operation)
        self._prices[key] = price
        return price

    def price(self, document: DocumentNode, operation: OperationDefinitionNode) -> Price:
        root = self.schema.get_root_type(operation.operation)
        kind, name = operation.operation.value, operation.name.value if operation.name else None
        operations = operation_cost(document, operation)
        if root is None:
            return Price((), 0, kind, name, operations)
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        defaults: dict[str, object] = {
            d.variable.name.value: _int_value(d.default_value)
            for d in operation.variable_definitions or ()
        }
        walk = _Walk(self, fragments, defaults)
        terms = tuple(walk.selections(root, operation.selection_set, {}, frozenset(), 0))
        constant = None if walk.variable else sum(term.cost(None) for term in terms)
        return Price(terms, constant, kind, name, operations)

    def declared(self, type_name: str, field_name: str) -> _Declared | None:
        return self._fields.get((type_name, field_name))


class _Walk:
    """One document's selections turned into terms."""

    def __init__(
        self,
        pricing: Pricing,
        fragments: dict[str, FragmentDefinitionNode],
        defaults: dict[str, object],
    ) -> None:
        self.pricing, self.fragments, self.defaults = pricing, fragments, defaults
        self.variable = False  # whether a size depends on a request's variables

    def selections(
        self,
        parent: GraphQLObjectType,
        selection_set: SelectionSetNode,
        sizes: dict[str, Slice],
        spread: frozenset[str],
        depth: int,
    ) -> list[Term]:
        terms: list[Term] = []
        if depth > MAX_NESTING:
            return terms
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                term = self.field(parent, selection, sizes, spread, depth)
                if term is not None:
                    terms.append(term)
                continue
            if isinstance(selection, InlineFragmentNode):
                target, selections = selection.type_condition, selection.selection_set
                inner = spread
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in spread:  # a cycle is a validation error
                    continue
                target, selections = fragment.type_condition, fragment.selection_set
                inner = spread | {name}
            else:  # pragma: no cover - graphql-core has no other selection
                continue
            typed = self.pricing.schema.get_type(target.name.value) if target else parent
            if isinstance(typed, GraphQLObjectType):
                terms += self.selections(typed, selections, sizes, inner, depth + 1)
        return terms

    def field(
        self,
        parent: GraphQLObjectType,
        node: FieldNode,
        sizes: dict[str, Slice],
        spread: frozenset[str],
        depth: int,
    ) -> Term | None:
        name = node.name.value
        definition = parent.fields.get(name)
        if name.startswith("__") or definition is None:
            return None  # introspection is free; an unknown field fails validation
        declared = self.pricing.declared(parent.name, name)
        named = get_named_type(definition.type)
        weight = 1 if is_composite_type(named) else 0
        if declared is not None and declared.weight is not None:
            weight = declared.weight
        own = self._slice(node, declared) if declared is not None else None
        times: int | Slice = 1
        if _is_list(definition.type):
            times = (
                sizes.get(name)
                or (own if declared and declared.sizes_list else None)
                or (DEFAULT_LIST_SIZE)
            )
        inner = {field: own for field in declared.sized} if declared and own else {}
        children: tuple[Term, ...] = ()
        if isinstance(named, GraphQLObjectType) and node.selection_set is not None:
            children = tuple(self.selections(named, node.selection_set, inner, spread, depth + 1))
        return Term(weight, times, children)

    def _slice(self, node: FieldNode, declared: _Declared) -> Slice | None:
        if not declared.slicing and declared.assumed is None:
            return None
        literals: list[int] = []
        variables: list[tuple[str, object]] = []
        for argument in node.arguments or ():
            if argument.name.value not in declared.slicing:
                continue
            value = argument.value
            if isinstance(value, VariableNode):
                name = value.name.value
                variables.append((name, self.defaults.get(name)))
                self.variable = True
            elif isinstance(value, IntValueNode):
                literals.append(int(value.value))
        return Slice(tuple(literals), tuple(variables), declared.assumed or DEFAULT_LIST_SIZE)


def _declared(node: FieldDefinitionNode) -> _Declared | None:
    """A field's @cost and @listSize, as its SDL declares them."""
    weight: int | None = None
    list_size: Mapping[str, object] = {}
    for directive in node.directives or ():
        arguments = {a.name.value: a.value for a in directive.arguments or ()}
        if directive.name.value == "cost":
            weight = _int_value(arguments.get("weight"))
        elif directive.name.value == "listSize":
            list_size = arguments
    if weight is None and not list_size:
        return None
    sized = _strings(list_size.get("sizedFields"))
    return _Declared(
        weight,
        _int_value(list_size.get("assumedSize")),
        _strings(list_size.get("slicingArguments")),
        sized,
        sizes_list=bool(list_size) and not sized,
    )


def _int_value(node: object) -> int | None:
    return int(node.value) if isinstance(node, IntValueNode) else None


def _strings(node: object) -> tuple[str, ...]:
    if not isinstance(node, ListValueNode):
        return ()
    return tuple(v.value for v in node.values if isinstance(v, StringValueNode))


def _is_list(type_: GraphQLOutputType) -> bool:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)
