"""Per-request GraphQL context. The caller is authenticated lazily, on the first field that needs
it, because the context is also built for the GraphiQL page and for introspection."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection
from starlette.responses import Response

from resolvers.auth import Authenticator
from resolvers.models import Caller


@dataclass
class Context:
    request: HTTPConnection
    response: Response | None
    authenticator: Authenticator
    # A WebSocket's `connection_init` payload, set by Strawberry; None over HTTP.
    connection_params: dict[str, object] | None = None
    _caller: asyncio.Future[Caller] | None = field(default=None, init=False)

    async def caller(self) -> Caller:
        # One authentication (and one rate-limit hit) per request or connection, however many
        # fields ask.
        if self._caller is None:
            api_keys, authorizations = self._credentials()
            self._caller = asyncio.ensure_future(
                self.authenticator.authenticate(api_keys=api_keys, authorizations=authorizations)
            )
        return await asyncio.shield(self._caller)

    def _credentials(self) -> tuple[list[str], list[str]]:
        if self.connection_params is None:
            headers = self.request.headers
            return headers.getlist("x-api-key"), headers.getlist("authorization")
        params = {str(k).lower(): v for k, v in self.connection_params.items()}
        return (
            [str(params["x-api-key"])] if "x-api-key" in params else [],
            [str(params["authorization"])] if "authorization" in params else [],
        )
