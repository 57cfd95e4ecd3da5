"""Time and ids, made by the application so every engine stores the same values."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from uuid_utils.compat import uuid7


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> UUID:
    """Time-ordered (UUIDv7), so primary-key indexes grow at their end."""
    return uuid7()
