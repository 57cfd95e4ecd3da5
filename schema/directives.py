"""The cost directives of IBM's GraphQL Cost Directives specification, as Apollo Federation adopted
them (`https://specs.apollo.dev/cost`) and Apollo Router, Hot Chocolate, Cosmo, Grafbase and Hive
Router read them: declared in the schema's SDL, so that a router in front of the service prices a
document as the service does (`schema.pricing`).

What is not declared takes the specification's defaults: an object 1, a scalar or enum 0.
"""

from __future__ import annotations

import strawberry
from strawberry.schema_directive import Location

# A mutation's root field, as the routers weigh it by default.
MUTATION_WEIGHT = 10


@strawberry.schema_directive(
    name="cost",
    locations=[
        Location.ARGUMENT_DEFINITION,
        Location.ENUM,
        Location.FIELD_DEFINITION,
        Location.INPUT_FIELD_DEFINITION,
        Location.OBJECT,
        Location.SCALAR,
    ],
    description="What selecting this costs, instead of the default (an object 1, a scalar 0).",
)
class Cost:
    weight: int


@strawberry.schema_directive(
    name="listSize",
    locations=[Location.FIELD_DEFINITION],
    description="How many items a list field returns: its slicing arguments' value, else its"
    " assumed size; with sizedFields, the size is that of those fields of the returned object.",
)
class ListSize:
    assumed_size: int | None = strawberry.directive_field(name="assumedSize", default=None)
    slicing_arguments: list[str] | None = strawberry.directive_field(
        name="slicingArguments", default=None
    )
    sized_fields: list[str] | None = strawberry.directive_field(name="sizedFields", default=None)
    require_one_slicing_argument: bool | None = strawberry.directive_field(
        name="requireOneSlicingArgument", default=True
    )


MUTATION = Cost(weight=MUTATION_WEIGHT)


def page(slicing: list[str], default: int) -> ListSize:
    """A connection: its `edges` hold as many items as the slicing argument asks for, `default`
    when none is sent (the field's own default page)."""
    return ListSize(
        assumed_size=default,
        slicing_arguments=slicing,
        sized_fields=["edges"],
        require_one_slicing_argument=False,
    )
