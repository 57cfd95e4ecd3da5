"""Rows as the queries return them."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict
from uuid import UUID


class ChatRow(TypedDict):
    id: UUID
    title: str
    account_id: UUID
    session_id: UUID
    artist_id: UUID | None
    created_at: datetime
    updated_at: datetime


class KeyRow(TypedDict):
    id: UUID
    account_id: UUID
