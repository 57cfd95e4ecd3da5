"""Which document a GraphQL request runs, decided once per request on both transports: sent in
full, by `sha256Hash` (a trusted document or an automatic persisted query) or by `documentId`, and
whether the safelist lets it. `resolvers/documents.py` holds the trusted documents and the rule of
who may run an untrusted one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from cachetools import LRUCache
from graphql import DocumentNode, GraphQLError, parse
from prometheus_client import Counter

from resolvers.documents import Safelist, TrustedDocuments, may_run_untrusted, sha256_of
from resolvers.persisted import PersistedQueries
from schema.context import Context
from schema.cost import find_operation, selects_more_than
from schema.errors import BAD_USER_INPUT
from schema.extensions import MAX_FIELDS, MAX_TOKENS, token_budget
from schema.pricing import Price, Pricing

logger = logging.getLogger("chats_api.documents")

PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"
COST_LIMIT_EXCEEDED = "COST_LIMIT_EXCEEDED"
# What a document may cost by default: a page of 100 chats with 48 messages each, or 20 chats with
# 100 each and their page info (a chat screen's documents cost from 2 to a few hundred).
DEFAULT_COST_LIMIT = 10_000
# Untrusted operations logged once each (audit), remembered by hash this many at a time.
AUDITED = 10_000
# Untrusted documents known to be within MAX_FIELDS, remembered by text this many at a time.
BOUNDED = 1000
AUDITED_NAME_CHARS = 100
TOO_MANY_FIELDS = f"Document selects more than {MAX_FIELDS} fields."

DOCUMENTS = Counter(
    "chats_api_graphql_documents_total",
    "GraphQL operations admitted, by whether their document is trusted.",
    ["trusted"],
)
REFUSALS = Counter(
    "chats_api_graphql_safelist_refusals_total",
    "GraphQL operations refused because their document is not trusted, by policy.",
    ["policy"],
)
_TRUSTED, _UNTRUSTED = DOCUMENTS.labels("true"), DOCUMENTS.labels("false")
_OPEN = frozenset({Safelist.off, Safelist.audit})  # policies under which anything runs


class Refused(Exception):
    """A request whose document does not run: answered as a request error with `code`, and with
    `status` when it has one of its own (else as request errors are, by media type)."""

    def __init__(self, message: str, code: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status

    def error(self) -> GraphQLError:
        """The refusal as a GraphQL error (a WebSocket's `error` message carries it)."""
        return GraphQLError(self.message, extensions={"code": self.code})


@dataclass(frozen=True, slots=True)
class Admitted:
    """The document that runs (None: the request named none; Strawberry says so), whether it is
    trusted, and the hash to register it under as an automatic persisted query once it ran."""

    query: str | None
    trusted: bool = False
    register: str | None = None


@dataclass(frozen=True, slots=True)
class CostLimit:
    """COST_LIMIT and COST_MODE: what a document may cost, and whether a dearer one is refused
    (`enforce`) or only priced (`measure`)."""

    limit: int = DEFAULT_COST_LIMIT
    enforce: bool = True


DEFAULT_COST = CostLimit()


@cache
def pricing_of(sdl: str) -> Pricing:
    """One schema's prices, shared by the apps built on it (a process's, a test run's)."""
    return Pricing(sdl)


class DocumentGate:
    def __init__(
        self,
        documents: TrustedDocuments,
        persisted_queries: PersistedQueries,
        pricing: Pricing,
        policy: Safelist = Safelist.off,
        cost_limit: CostLimit = DEFAULT_COST,
    ) -> None:
        self.documents = documents
        self.persisted_queries = persisted_queries
        self.policy = policy
        self.pricing = pricing
        self.cost_limit = cost_limit
        self._audited: LRUCache[str, bool] = LRUCache(AUDITED)
        self._bounded: LRUCache[str, bool] = LRUCache(BOUNDED)

    async def admit(
        self,
        context: Context,
        query: object,
        extensions: Mapping[str, object] | None,
        document_id: object = None,
        operation_name: object = None,
    ) -> Admitted:
        """Raises Refused."""
        if document_id is not None:
            if query is not None:
                raise Refused("Send either documentId or query, not both", BAD_USER_INPUT, 400)
            body = self.documents.by_id(document_id) if isinstance(document_id, str) else None
            if body is None:
                raise Refused("PersistedQueryNotFound", PERSISTED_QUERY_NOT_FOUND, 400)
            return self._trusted(body)
        persisted = extensions.get("persistedQuery") if extensions else None
        digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if query is None:
            if not isinstance(digest, str):
                return Admitted(None)
            body = self.documents.by_hash(digest)
            if body is not None:
                return self._trusted(body)
            if await self._may_run_untrusted(context):
                body = await self.persisted_queries.get(digest)
                if body is not None:
                    return await self._untrusted(context, body, digest, operation_name)
            raise Refused("PersistedQueryNotFound", PERSISTED_QUERY_NOT_FOUND)
        if not isinstance(query, str):
            return Admitted(None)
        if self.documents.trusts(query):
            return self._trusted(query)
        own = sha256_of(query) if isinstance(persisted, dict) else None
        if own is not None and digest != own:
            raise Refused("provided sha does not match query", BAD_USER_INPUT)
        if self.policy not in _OPEN and not await self._may_run_untrusted(context):
            REFUSALS.labels(self.policy.value).inc()
            raise Refused("PersistedQueryNotInList", PERSISTED_QUERY_NOT_IN_LIST, 400)
        admitted = await self._untrusted(context, query, own, operation_name)
        return Admitted(query, register=own) if own is not None else admitted

    async def price(
        self, context: Context, query: str | None, operation_name: object
    ) -> Price | None:
        """The admitted document's operation priced by the schema's cost directives (None: it
        will not run); its `estimate` of a request's variables is what the request spends of
        COST_RATE_LIMIT, its `operations` what it spends of RATE_LIMIT."""
        if query is None or not isinstance(operation_name, str | None):
            return None
        # A document priced before within the full budget is priced for anyone: only a new one
        # is parsed, within its caller's own budget.
        price = self.pricing.known(query, operation_name, MAX_TOKENS)
        if price is False:
            price = self.pricing.of(query, operation_name, await token_budget(context))
        return price if isinstance(price, Price) else None

    def over_limit(self, estimated: int) -> Refused | None:
        """The refusal of a document that costs more than COST_LIMIT, when it is enforced."""
        limit = self.cost_limit
        if not limit.enforce or estimated <= limit.limit:
            return None
        return Refused(
            f"Operation cost {estimated} exceeds the limit of {limit.limit}.", COST_LIMIT_EXCEEDED
        )

    async def _may_run_untrusted(self, context: Context) -> bool:
        if self.policy in _OPEN:
            return True
        return may_run_untrusted(self.policy, await context.checked_caller())

    def _trusted(self, body: str) -> Admitted:
        _TRUSTED.inc()
        return Admitted(body, trusted=True)

    async def _untrusted(
        self, context: Context, body: str, digest: str | None, operation_name: object
    ) -> Admitted:
        """A document that is not trusted is bounded in the fields it selects before anything
        validates it (a trusted one was checked when it was published). Audit mode logs it once,
        with its operation's own name, once the document is known to hold that operation."""
        _UNTRUSTED.inc()
        if body not in self._bounded:
            if selects_more_than(body, MAX_FIELDS, await token_budget(context)):
                raise Refused(TOO_MANY_FIELDS, BAD_USER_INPUT)
            self._bounded[body] = True
        if self.policy is Safelist.audit:
            digest = digest or sha256_of(body)
            if digest not in self._audited:
                self._audit(await self._parsed(context, body), digest, operation_name)
        return Admitted(body)

    @staticmethod
    async def _parsed(context: Context, body: str) -> DocumentNode | None:
        """The document, parsed within its caller's token budget (None: it will not parse, and
        the executor answers why)."""
        try:
            return parse(body, max_tokens=await token_budget(context))
        except GraphQLError:
            return None

    def _audit(self, document: DocumentNode | None, digest: str, name: object) -> None:
        operation = None
        if document is not None and isinstance(name, str | None):
            operation = find_operation(document, name)
        if operation is None:
            return  # it does not run: nothing to audit, and nothing of the caller's is logged
        self._audited[digest] = True
        own_name = operation.name.value[:AUDITED_NAME_CHARS] if operation.name else None
        logger.warning("untrusted operation", extra={"operation_name": own_name, "sha256": digest})
