"""/api/accounts/me: the caller's own account."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from resolvers import accounts
from rest.auth import authenticate
from rest.responses import success


async def me(request: Request) -> Response:
    account = await accounts.viewer(await authenticate(request))
    return success(account={"id": str(account.id), "name": account.name, "kind": account.kind})


routes = [Route("/api/accounts/me", me, methods=["GET"])]
