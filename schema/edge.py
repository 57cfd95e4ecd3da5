"""The GraphQL edge, assembled: the HTTP endpoint and the WebSocket over one schema, one gate of
trusted documents and persisted queries, and one process's plans."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from resolvers.documents import Safelist, TrustedDocuments
from resolvers.persisted import PersistedQueries
from resolvers.streams import OpenStreams
from schema.endpoint import GraphQLEndpoint
from schema.execution.plans import Plans, compiles_for
from schema.gate import DEFAULT_COST, CostLimit, DocumentGate, pricing_of
from schema.http_streams import HTTPStreams
from schema.schema import Schema, build_schema
from schema.sockets import GraphQLSockets

logger = logging.getLogger("chats_api.graphql")

MAX_SOCKETS_PER_CALLER = 20


@dataclass(frozen=True, slots=True)
class GraphQLEdge:
    http: GraphQLEndpoint
    websocket: GraphQLSockets


def graphql_edge(
    *,
    persisted: PersistedQueries | None = None,
    documents: TrustedDocuments | None = None,
    safelist: Safelist = Safelist.off,
    compiled: bool = True,
    allowed_origins: Sequence[str] = ("*",),
    streams: OpenStreams | None = None,
    schema: Schema | None = None,
    cost_limit: CostLimit = DEFAULT_COST,
) -> GraphQLEdge:
    """`allowed_origins`: pages on these origins may open a WebSocket, as CORS lets them call
    over HTTP (CORS_ALLOW_ORIGINS); a frontend on its own domain gets its live updates.
    `compiled=False`: every document runs through Strawberry's executor. `cost_limit`: what a
    document may cost, priced by the schema's own directives."""
    schema = build_schema() if schema is None else schema
    pricing = pricing_of(schema.as_str())
    plans = None
    if compiled and compiles_for(schema):
        plans = Plans(schema, pricing)
    elif compiled:
        logger.warning(
            "GraphQL documents are not compiled: the schema's extensions (%s) are not those "
            "the compiler reproduces",
            ", ".join(getattr(e, "__name__", repr(e)) for e in schema.extensions),
        )
    gate = DocumentGate(
        TrustedDocuments() if documents is None else documents,
        PersistedQueries() if persisted is None else persisted,
        pricing,
        safelist,
        cost_limit,
    )
    # One count of open streams per caller, whichever transport carries them.
    streams = OpenStreams(MAX_SOCKETS_PER_CALLER) if streams is None else streams
    return GraphQLEdge(
        http=GraphQLEndpoint(schema, gate, plans, HTTPStreams(schema, streams)),
        websocket=GraphQLSockets(
            schema, gate=gate, streams=streams, allowed_origins=allowed_origins
        ),
    )
