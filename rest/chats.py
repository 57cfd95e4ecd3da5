"""/api/chats."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from resolvers import chats
from resolvers.auth import Authenticator
from resolvers.models import Caller
from resolvers.validation import parse_new_chat
from rest.body import json_object, read_body
from rest.responses import chat_json, success


async def authenticate(request: Request) -> Caller:
    authenticator: Authenticator = request.app.state.authenticator
    return await authenticator.authenticate(
        api_keys=request.headers.getlist("x-api-key"),
        authorizations=request.headers.getlist("authorization"),
    )


async def create_chat(request: Request) -> Response:
    # The contract's order: 413 before 401 before 400.
    body = await read_body(request)
    caller = await authenticate(request)
    chat = await chats.create_chat(caller, parse_new_chat(json_object(body)))
    return success(chat=chat_json(chat))


routes = [Route("/api/chats", create_chat, methods=["POST"])]
