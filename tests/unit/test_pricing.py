"""The estimator's edges (schema.pricing): what it does with documents it cannot fully read, which
the executors then refuse with their own errors."""

from __future__ import annotations

import pytest

from schema.gate import pricing_of
from schema.pricing import MAX_NESTING
from schema.schema import SDL_PATH

PRICING = pricing_of(SDL_PATH.read_text())


def estimate(document: str, variables: dict[str, object] | None = None) -> int | None:
    price = PRICING.of(document, None, 2000)
    return None if price is None else price.estimate(variables)


def test_a_fragment_cycle_is_priced_once_round() -> None:
    cycle = (
        "fragment A on Query { viewer { account { id } } ...B }"
        " fragment B on Query { ...A } { ...A }"
    )
    assert estimate(cycle) == 2


def test_unknown_fields_cost_nothing_and_a_syntax_error_has_no_price() -> None:
    assert estimate("{ nope { id } viewer { account { id } } }") == 2
    assert estimate("{ viewer {") is None
    assert PRICING.of("query A { __typename } query B { __typename }", None, 2000) is None


@pytest.mark.parametrize(
    ("variables", "cost"),
    [({"n": 3}, 7), ({"n": "3"}, 41), ({"n": True}, 41), ({"n": -5}, 1), ({}, 41), (None, 41)],
)
def test_a_slicing_variable_that_is_not_a_count_falls_back_to_the_default_page(
    variables: dict[str, object] | None, cost: int
) -> None:
    """Only an integer sizes a list: anything else is refused by coercion, after pricing."""
    document = "query P($n: Int) { chats(first: $n) { edges { node { id } } } }"
    assert estimate(document, variables) == cost


def test_the_largest_slicing_argument_sizes_the_list() -> None:
    chat = '{ chat(id: "x") { messages(first: 5, last: 30) { edges { node { id } } } } }'
    assert estimate(chat) == 1 + 1 + 30 * 2


def nested(levels: int) -> str:
    return "{ " + "... on Query { " * levels + "viewer { account { id } }" + " }" * (levels + 1)


def test_nesting_beyond_the_walk_is_not_followed() -> None:
    """Fragments nest without fields, which the depth limit does not count: the walk stops at
    MAX_NESTING (the document is a validation error long before any real one nests so deep)."""
    assert estimate(nested(3)) == 2
    assert estimate(nested(MAX_NESTING + 5)) == 0
