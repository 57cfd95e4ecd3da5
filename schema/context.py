"""Per-request GraphQL context. The caller is authenticated lazily, on the first field that needs
it, because the context is also built for the GraphiQL page and for introspection."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from uuid import UUID

from starlette.requests import HTTPConnection
from strawberry.dataloader import DataLoader

from resolvers import conversations
from resolvers.auth import Authenticator
from resolvers.errors import AccessDenied, ServiceError, Unauthenticated
from resolvers.models import Caller


@dataclass
class Context:
    request: HTTPConnection
    # Headers the answer carries (Retry-After); None over a WebSocket, which has no answer.
    headers: dict[str, str] | None
    authenticator: Authenticator
    # A WebSocket's `connection_init` payload, set by Strawberry; None over HTTP.
    connection_params: dict[str, object] | None = None
    # Units of the rate limit the request spends when its caller is authenticated: one, or one
    # per root field of a mutation (schema.cost). Over a WebSocket each operation is charged.
    cost: int = 1
    # The document's estimated cost (schema.pricing): what it spends of COST_RATE_LIMIT.
    units: int = 0
    # The `Last-Event-ID` a reconnecting event stream sent (Server-Sent Events): it wins over the
    # `after` the client resends with the same document.
    last_event_id: str | None = None
    # One authentication (and one rate-limit hit of `cost` units) per request or connection,
    # however many fields ask. It runs in the asking task, so a request's deadline or a client
    # going away stops it.
    _authenticating: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    _outcome: Caller | ServiceError | None = field(default=None, init=False)
    _identified: Caller | None = field(default=None, init=False)
    # isStreaming and hasUnread of the chats a document asks for, read in one query per tick;
    # uncached, since a WebSocket's context outlives every state it would keep.
    _states: DataLoader[UUID, tuple[bool, bool]] | None = field(default=None, init=False)

    def resume_from(self, after: str | None) -> str | None:
        """Where a subscription resumes: the stream's own last event id, else `after`."""
        return self.last_event_id or after

    async def chat_state(self, chat_id: UUID) -> tuple[bool, bool]:
        """(isStreaming, hasUnread for the caller) of a chat the caller may see."""
        if self._states is None:

            async def load(chat_ids: list[UUID]) -> list[tuple[bool, bool]]:
                states = await conversations.chat_states(await self.caller(), chat_ids)
                return [states[chat_id] for chat_id in chat_ids]

            self._states = DataLoader(load_fn=load, cache=False)
        return await self._states.load(chat_id)

    async def caller(self) -> Caller:
        async with self._authenticating:
            if self._outcome is None:
                try:
                    self._outcome = await self._authenticate(self.cost, self.units)
                except ServiceError as refusal:
                    self._outcome = refusal
        if isinstance(self._outcome, ServiceError):
            raise self._outcome
        return self._outcome

    async def charge(self, cost: int, units: int = 0) -> None:
        """An operation over an open WebSocket spends its own units of both budgets (RateLimited
        when fewer are left)."""
        await self.authenticator.spend(await self.caller(), cost, units)

    async def identified(self) -> bool:
        """Whether the request's credentials are valid, without spending the rate limit: asked
        before a document is parsed (a caller nobody knows gets a small token budget), and for a
        document that needed no caller. Checked once per request."""
        return await self.checked_caller() is not None

    async def checked_caller(self) -> Caller | None:
        """The caller the request's credentials name (None: missing or refused), checked once
        without spending the rate limit: whether it may run a document that is not trusted."""
        if self._outcome is not None:
            return self._outcome if isinstance(self._outcome, Caller) else None
        if self._identified is None:
            try:
                # The caller is authenticated (and charged) when a field asks for it.
                self._identified = await self._authenticate(0)
            except ServiceError as refusal:
                # The request's answer, should a field ask for its caller: not checked twice.
                self._outcome = refusal
                return None
        return self._identified

    async def recheck(self) -> Caller:
        """The same credentials checked again, without spending the rate limit: an open
        WebSocket's caller, while it lives. A refusal, or the credentials now acting as another
        account (an identity unlinked, then provisioned anew), replaces the outcome, so that
        nothing more runs as the old caller."""
        try:
            caller = await self._authenticate(0, recheck=True)
            if isinstance(self._outcome, Caller) and caller.account_id != self._outcome.account_id:
                raise Unauthenticated()
        except (Unauthenticated, AccessDenied) as refusal:
            self._outcome = refusal
            raise
        return caller

    async def _authenticate(self, cost: int, units: int = 0, *, recheck: bool = False) -> Caller:
        """The request's credentials checked, `cost` units of the rate limit and `units` of the
        cost budget spent (0: none)."""
        api_keys, authorizations = self._credentials()
        return await self.authenticator.authenticate(
            api_keys=api_keys,
            authorizations=authorizations,
            cost=cost,
            units=units,
            recheck=recheck,
        )

    def _credentials(self) -> tuple[list[str], list[str]]:
        if self.connection_params is None:
            headers = self.request.headers
            return headers.getlist("x-api-key"), headers.getlist("authorization")
        params = {str(k).lower(): v for k, v in self.connection_params.items()}
        return (
            [str(params["x-api-key"])] if "x-api-key" in params else [],
            [str(params["authorization"])] if "authorization" in params else [],
        )
