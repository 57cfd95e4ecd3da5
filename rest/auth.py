"""The caller of a REST request, from its `x-api-key` or `Authorization` header, and what the
request costs.

Each route has a fixed cost (in the OpenAPI document as `x-cost`, and in every authenticated
answer's `x-cost` header): what its GraphQL twin costs by the schema's cost directives at the
route's default page size, spent from COST_RATE_LIMIT as GraphQL documents spend their estimate
(tests/contract/test_cost.py holds the two alike). RATE_LIMIT counts one per request, as ever.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from resolvers.auth import Authenticator
from resolvers.models import Caller

CHAT = "/api/chats/{chatId}"
# (method, route) -> cost: a write weighs a mutation's 10 plus the object it answers, a page
# what its default size returns.
COSTS: dict[tuple[str, str], int] = {
    ("POST", "/api/chats"): 11,
    ("PATCH", "/api/chats"): 11,
    ("DELETE", "/api/chats"): 10,
    ("GET", "/api/chats"): 41,
    ("GET", f"{CHAT}/messages"): 102,
    ("POST", f"{CHAT}/messages"): 11,
    ("DELETE", f"{CHAT}/messages"): 10,
    ("POST", f"{CHAT}/replies"): 11,
    ("POST", f"{CHAT}/replies/{{messageId}}/chunks"): 11,
    ("POST", f"{CHAT}/replies/{{messageId}}/finish"): 11,
    ("POST", f"{CHAT}/stop"): 11,
    ("POST", f"{CHAT}/read"): 11,
    ("GET", f"{CHAT}/stream"): 3,
    ("GET", "/api/accounts/me"): 2,
}


def cost_of(request: Request) -> int:
    route = request.scope.get("route")
    path = route.path if isinstance(route, Route) else request.url.path
    return COSTS.get((request.method, path), 1)


async def authenticate(request: Request) -> Caller:
    authenticator: Authenticator = request.app.state.authenticator
    cost = cost_of(request)
    caller = await authenticator.authenticate(
        api_keys=request.headers.getlist("x-api-key"),
        authorizations=request.headers.getlist("authorization"),
        units=cost,
    )
    request.scope.setdefault("state", {})["cost"] = cost
    return caller
