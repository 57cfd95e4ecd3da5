"""Settings read once from the environment; every variable is listed in the README."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///chats.sqlite3"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _list(name: str, default: str) -> tuple[str, ...]:
    raw = os.environ.get(name, default)
    return tuple(item.strip() for item in raw.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    cors_allow_origins: tuple[str, ...] = ("*",)
    # A `limits` rate string per API key; "" turns rate limiting off.
    rate_limit: str = "100/second"
    db_pool_min_size: int = 2
    db_pool_max_size: int = 10
    db_connect_timeout: float = 5.0
    log_level: str = "INFO"

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            cors_allow_origins=_list("CORS_ALLOW_ORIGINS", "*"),
            rate_limit=os.environ.get("RATE_LIMIT", "100/second"),
            db_pool_min_size=_int("DB_POOL_MIN_SIZE", 2),
            db_pool_max_size=_int("DB_POOL_MAX_SIZE", 10),
            db_connect_timeout=float(_int("DB_CONNECT_TIMEOUT", 5)),
            log_level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        )
