"""The caller of a REST request, from its `x-api-key` or `Authorization` header."""

from __future__ import annotations

from starlette.requests import Request

from resolvers.auth import Authenticator
from resolvers.models import Caller


async def authenticate(request: Request) -> Caller:
    authenticator: Authenticator = request.app.state.authenticator
    return await authenticator.authenticate(
        api_keys=request.headers.getlist("x-api-key"),
        authorizations=request.headers.getlist("authorization"),
    )
