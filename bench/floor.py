"""The floor: the same work as POST /api/chats, by hand, in one round trip.

Key lookup, validation of the body, a session and a chat written atomically, the seed's JSON answer;
a bare Starlette route on an asyncpg pool with hand-written SQL in a single statement. Nothing the
service does can be cheaper than this on the same machine, so the service is measured against it.
Run: DATABASE_URL=postgresql://... uvicorn bench.floor:app
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from uuid_utils.compat import uuid7

from db.postgres import keep_session

CREATE = """
WITH k AS (
    SELECT account_id FROM api_keys
    WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $4)
), s AS (
    INSERT INTO sessions (id, account_id, artist_id, created_at)
    SELECT $2, account_id, NULL, $4 FROM k RETURNING id, account_id
)
INSERT INTO chats (id, session_id, account_id, title, created_at, updated_at)
SELECT $3, s.id, s.account_id, $5, $4, $4 FROM s
RETURNING account_id
"""

pool: asyncpg.Pool | None = None


def error(status: int, message: str) -> Response:
    body = orjson.dumps({"status": "error", "message": message})
    return Response(body, status, media_type="application/json")


async def create_chat(request: Request) -> Response:
    key = request.headers.get("x-api-key")
    if not key:
        return error(401, "Unauthorized")
    try:
        payload = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        return error(400, "Invalid JSON body")
    topic = payload.get("topic", "") if isinstance(payload, dict) else None
    if not isinstance(topic, str) or len(topic.strip()) > 100:
        return error(400, "topic must be a string of at most 100 characters")
    title = topic.strip() or "New chat"
    now = datetime.now(UTC)
    session_id, chat_id = uuid7(), uuid7()
    assert pool is not None
    account_id = await pool.fetchval(
        CREATE, hashlib.sha256(key.encode()).hexdigest(), session_id, chat_id, now, title
    )
    if account_id is None:
        return error(401, "Unauthorized")
    chat = {
        "id": str(chat_id),
        "title": title,
        "accountId": str(account_id),
        "sessionId": str(session_id),
        "updatedAt": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "artistId": None,
    }
    return Response(
        orjson.dumps({"status": "success", "chat": chat}), media_type="application/json"
    )


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global pool
    # The same pool settings as the service (db.engine.keep_session): no reset round trip.
    pool = await asyncpg.create_pool(
        os.environ["DATABASE_URL"], min_size=2, max_size=10, reset=keep_session
    )
    yield
    await pool.close()


app = Starlette(routes=[Route("/api/chats", create_chat, methods=["POST"])], lifespan=lifespan)
