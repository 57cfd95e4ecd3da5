"""Settings read once from the environment; every variable is listed in docs/operations.md."""

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


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = os.environ.get(name, default).strip().lower() or default
    if raw not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


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
    # Longest a request waits for PostgreSQL before answering 503 (see db.errors.Deadline).
    db_query_timeout: float = 3.0
    # asyncpg's prepared statements per connection; 0 behind a transaction pooler (PgBouncer).
    db_statement_cache_size: int = 100
    # A direct PostgreSQL URL for the one LISTEN connection of each worker, when DATABASE_URL
    # goes through a transaction pooler (where LISTEN does not work). Empty: DATABASE_URL.
    events_database_url: str = ""
    # Longest any HTTP request may run before it is cancelled and answered 503.
    request_timeout: float = 10.0
    log_level: str = "INFO"
    # Redis for what replicas must agree on (rate limits, persisted queries); empty: in-process.
    redis_url: str = ""
    # Longest a request waits for Redis before going on without it.
    redis_timeout: float = 0.25
    # After SIGTERM, how long /readyz answers 503 while requests are still served, so that a load
    # balancer stops sending new ones before the listening socket closes.
    drain_seconds: float = 0.0
    # GraphQL documents run as compiled plans once seen (schema.execution); off: every document
    # goes through Strawberry's standard execution.
    graphql_compiled: bool = True
    # Signed-in users: access tokens from this OpenID Connect issuer; empty: Bearer values are keys.
    oidc_issuer: str = ""
    oidc_audience: str = ""
    # The issuer's JWKS URL, skipping discovery (Privy publishes no discovery document).
    oidc_jwks_url: str = ""
    oidc_algorithms: tuple[str, ...] = ("RS256", "ES256", "EdDSA")
    # Seconds of clock skew allowed for exp, nbf and iat.
    oidc_leeway: float = 30.0
    # A verified identity seen for the first time gets a new `user` account.
    oidc_provision: bool = True
    # Open WebSockets per key (or per account, for tokens) in each worker process.
    max_sockets_per_caller: int = 20
    # A Bearer token the Prometheus scraper must send for /metrics; empty: /metrics is open.
    metrics_token: str = ""
    # What runs besides trusted documents: off, audit, tokens or all (resolvers.documents).
    graphql_safelist: str = "off"
    # A streaming reply whose agent wrote nothing for this many seconds is stopped by the service.
    reply_timeout: float = 120.0
    # Automatic persisted queries each caller may register, in RATE_LIMIT's notation.
    apq_registrations: str = "100/hour"
    # The `typ` an access token's header must carry (`at+jwt`, RFC 9068); empty: not checked.
    oidc_token_type: str = ""
    # What a GraphQL document may cost (schema.pricing), and whether a dearer one is refused
    # (enforce) or only priced (measure).
    cost_limit: int = 10_000
    cost_mode: str = "enforce"
    # Cost units each caller may spend, in RATE_LIMIT's notation; empty: no cost budget.
    cost_rate_limit: str = ""
    # Whether a GraphQL span carries its document (graphql.document); off: names only.
    otel_graphql_document: bool = False

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            cors_allow_origins=_list("CORS_ALLOW_ORIGINS", "*"),
            rate_limit=os.environ.get("RATE_LIMIT", "100/second"),
            db_pool_min_size=_int("DB_POOL_MIN_SIZE", 2),
            db_pool_max_size=_int("DB_POOL_MAX_SIZE", 10),
            db_connect_timeout=_float("DB_CONNECT_TIMEOUT", 5.0),
            db_query_timeout=_float("DB_QUERY_TIMEOUT", 3.0),
            request_timeout=_float("REQUEST_TIMEOUT", 10.0),
            db_statement_cache_size=_int("DB_STATEMENT_CACHE_SIZE", 100),
            events_database_url=os.environ.get("EVENTS_DATABASE_URL", ""),
            log_level=os.environ.get("LOG_LEVEL", "INFO").upper(),
            redis_url=os.environ.get("REDIS_URL", ""),
            redis_timeout=_float("REDIS_TIMEOUT", 0.25),
            drain_seconds=_float("DRAIN_SECONDS", 0.0),
            graphql_compiled=os.environ.get("GRAPHQL_COMPILED", "1") != "0",
            oidc_issuer=os.environ.get("OIDC_ISSUER", ""),
            oidc_audience=os.environ.get("OIDC_AUDIENCE", ""),
            oidc_jwks_url=os.environ.get("OIDC_JWKS_URL", ""),
            oidc_algorithms=_list("OIDC_ALGORITHMS", "RS256,ES256,EdDSA"),
            oidc_leeway=_float("OIDC_LEEWAY", 30.0),
            oidc_provision=_bool("OIDC_PROVISION", True),
            metrics_token=os.environ.get("METRICS_TOKEN", ""),
            max_sockets_per_caller=_int("MAX_SOCKETS_PER_CALLER", 20),
            graphql_safelist=_choice("GRAPHQL_SAFELIST", "off", ("off", "audit", "tokens", "all")),
            reply_timeout=_float("REPLY_TIMEOUT", 120.0),
            apq_registrations=os.environ.get("APQ_REGISTRATIONS", "100/hour"),
            oidc_token_type=os.environ.get("OIDC_TOKEN_TYPE", ""),
            cost_limit=_int("COST_LIMIT", 10_000),
            cost_mode=_choice("COST_MODE", "enforce", ("enforce", "measure")),
            cost_rate_limit=os.environ.get("COST_RATE_LIMIT", ""),
            otel_graphql_document=_bool("OTEL_GRAPHQL_DOCUMENT", False),
        )
