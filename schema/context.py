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
    _caller: asyncio.Future[Caller] | None = field(default=None, init=False)

    async def caller(self) -> Caller:
        # One authentication (and one rate-limit hit) per request, however many fields ask.
        if self._caller is None:
            headers = self.request.headers
            self._caller = asyncio.ensure_future(
                self.authenticator.authenticate(
                    api_keys=headers.getlist("x-api-key"),
                    authorizations=headers.getlist("authorization"),
                )
            )
        return await asyncio.shield(self._caller)
