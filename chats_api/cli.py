"""`chats-api`: serve, migrate, and administer accounts and keys without touching the database."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from chats_api.settings import Settings
from db.engine import (
    ServiceEngine,
    close_engine,
    create_engine,
    sqlite_path,
    use_engine,
)
from db.errors import DatabaseError
from db.sqlite import enable_wal
from resolvers import admin, documents, identities
from resolvers.errors import ServiceError
from resolvers.validation import printable


class _Parser(argparse.ArgumentParser):
    """Bad arguments are one line on stderr (scripts read it), not argparse's usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="chats-api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)

    commands.add_parser("migrate", help="create or update the database schema")

    accounts = commands.add_parser("accounts").add_subparsers(dest="action", required=True)
    create_account = accounts.add_parser("create", help="print the new account's id")
    create_account.add_argument("--name", required=True)
    create_account.add_argument("--kind", choices=admin.ACCOUNT_KINDS, default="user")

    keys = commands.add_parser("keys").add_subparsers(dest="action", required=True)
    create_key = keys.add_parser("create", help="print a new API key (shown once)")
    create_key.add_argument("--account", required=True)
    create_key.add_argument("--name", default="")
    create_key.add_argument(
        "--expires-at", type=_aware_datetime, default=None, help="ISO 8601 with a timezone"
    )
    revoke = keys.add_parser(
        "revoke", help="revoke a key, given its id, or the key itself (read from stdin with -)"
    )
    revoke.add_argument("key_or_key_id", nargs="?", default="-")

    orgs = commands.add_parser("orgs").add_subparsers(dest="action", required=True)
    add_member = orgs.add_parser("add-member")
    add_member.add_argument("--org", required=True)
    add_member.add_argument("--account", required=True)

    artists = commands.add_parser("artists").add_subparsers(dest="action", required=True)
    link = artists.add_parser("link")
    link.add_argument("--account", required=True)
    link.add_argument("--artist", required=True)

    _identity_commands(commands)
    _document_commands(commands)
    return parser


def _identity_commands(commands: Any) -> None:
    identities = commands.add_parser("identities").add_subparsers(dest="action", required=True)
    link = identities.add_parser(
        "link", help="link a signed-in user's identity (issuer, subject) to an existing account"
    )
    link.add_argument("--account", required=True)
    link.add_argument("--issuer", required=True)
    link.add_argument("--subject", required=True)
    link.add_argument(
        "--replace", action="store_true", help="move it from the account it is linked to, at once"
    )
    listing = identities.add_parser(
        "list", help="one line each: issuer, subject, account (tab-separated)"
    )
    listing.add_argument("--account", default=None)
    for action, help in (
        ("unlink", None),
        ("block", "refuse the identity from now on, and never provision it"),
        ("unblock", None),
    ):
        one = identities.add_parser(action, help=help)
        one.add_argument("--issuer", required=True)
        one.add_argument("--subject", required=True)
    identities.add_parser("blocked", help="one line each: issuer, subject, blocked at")


def _document_commands(commands: Any) -> None:
    documents = commands.add_parser("documents").add_subparsers(dest="action", required=True)
    publish = documents.add_parser(
        "publish",
        help="store a frontend's operations (an Apollo persisted-query manifest, or a"
        ' {"ID": "BODY"} map), all of them or none',
    )
    publish.add_argument("manifest", help="the manifest's path, or - for standard input")
    documents.add_parser("list", help="one line each: id, name, type, published at")


def _aware_datetime(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "is not an ISO 8601 date and time, e.g. 2027-01-01T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("needs a timezone, e.g. 2027-01-01T00:00:00Z")
    try:
        moment = moment.astimezone(UTC)  # stored in UTC: the year 9999 at -14:00 is past it
    except OverflowError:
        raise argparse.ArgumentTypeError("is out of range") from None
    if moment <= datetime.now(UTC):
        raise argparse.ArgumentTypeError("must be in the future (a key already expired is no key)")
    return moment


def _key_or_id(value: str) -> str:
    """`-` reads the key from stdin, which keeps it out of shell history and `ps`."""
    return sys.stdin.readline().strip() if value == "-" else value


async def _migrate(settings: Settings) -> None:
    from piccolo.apps.migrations.commands.forwards import run_forwards
    from piccolo.engine.finder import engine_finder

    try:
        result = await run_forwards(app_name="all")
    finally:
        engine = engine_finder()
        if isinstance(engine, ServiceEngine):
            await close_engine(engine)  # SQLite's connection has a thread of its own
    if not result.success:
        raise SystemExit(f"chats-api: migration failed: {result.message}")
    if settings.database_url.startswith("sqlite:///"):
        enable_wal(sqlite_path(settings.database_url))


async def _closing(engine: ServiceEngine, action: Coroutine[Any, Any, Any]) -> Any:
    try:
        return await action
    finally:
        await close_engine(engine)


def _admin_action(args: argparse.Namespace) -> Callable[[], Coroutine[Any, Any, Any]]:
    actions: dict[tuple[str, str], Callable[[], Coroutine[Any, Any, Any]]] = {
        ("accounts", "create"): lambda: admin.create_account(args.name, args.kind),
        ("keys", "create"): lambda: admin.create_key(args.account, args.name, args.expires_at),
        ("keys", "revoke"): lambda: admin.revoke_key(_key_or_id(args.key_or_key_id)),
        ("orgs", "add-member"): lambda: admin.add_member(args.org, args.account),
        ("artists", "link"): lambda: admin.link_artist(args.account, args.artist),
        ("identities", "link"): lambda: identities.link(
            args.account, args.issuer, args.subject, replace=args.replace
        ),
        ("identities", "list"): lambda: _identity_lines(args.account),
        ("identities", "unlink"): lambda: identities.unlink(args.issuer, args.subject),
        ("identities", "block"): lambda: identities.block(args.issuer, args.subject),
        ("identities", "unblock"): lambda: identities.unblock(args.issuer, args.subject),
        ("identities", "blocked"): _blocked_lines,
        ("documents", "publish"): lambda: _publish(_manifest(args.manifest)),
        ("documents", "list"): _document_lines,
    }
    return actions[(args.command, args.action)]


def _table(rows: Iterable[Iterable[object]]) -> str | None:
    """One tab-separated line a row, control characters escaped (stored names came from
    operators and manifests); None for no rows."""
    return "\n".join("\t".join(printable(str(cell)) for cell in row) for row in rows) or None


async def _identity_lines(account: str | None) -> str | None:
    rows = await identities.list_links(account)
    return _table((row["issuer"], row["subject"], row["account_id"]) for row in rows)


async def _blocked_lines() -> str | None:
    return _table((i, s, at.isoformat()) for i, s, at in await identities.blocked())


class _CommandFailed(Exception):
    """The command did nothing; its lines say why (stderr), and it exits non-zero."""


def _manifest(path: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise _CommandFailed(f"cannot read the manifest: {exc}") from None


async def _publish(text: bytes) -> str:
    from schema.manifests import ManifestError, read_manifest
    from schema.schema import build_schema  # only this command needs the schema

    try:
        manifest, refused = read_manifest(text, build_schema())
    except ManifestError as exc:
        raise _CommandFailed(str(exc)) from None
    lines = [f"refused {printable(r.document_id)}: {r.error}" for r in refused]
    if not refused:
        new, known, changed = await documents.publish(manifest)
        lines = [f"refused {id}: already published with another body" for id in changed]
    if lines:
        lines.append(f"nothing published: {len(lines)} of {len(manifest) + len(refused)} refused")
        raise _CommandFailed("\n".join(lines))
    return f"{len(new)} new, {len(known)} known, 0 refused"


async def _document_lines() -> str | None:
    rows = await documents.published()
    return _table(
        (row["id"], row["name"], row["operation_type"], at.isoformat()) for row, at in rows
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Piccolo finds its configuration by module name; ours lives in this package.
    os.environ.setdefault("PICCOLO_CONF", "chats_api.piccolo_conf")
    settings = Settings.from_env()

    try:
        engine = create_engine(settings.database_url)
    except ValueError as exc:  # a DATABASE_URL of no known engine
        print(f"chats-api: {exc}", file=sys.stderr)
        return 1
    if args.command == "serve":
        # What only the server needs, imported by it alone: the admin commands, which scripts
        # run often, start without uvicorn's protocol and Starlette's middleware.
        import uvicorn

        from chats_api.head_limits import GuardedHttpToolsProtocol
        from chats_api.logs import uvicorn_log_config
        from chats_api.middleware import MAX_GRAPHQL_BODY_BYTES

        uvicorn.run(
            "chats_api.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            # The service writes one access line per request itself.
            access_log=False,
            # A WebSocket message holds at most what an HTTP request's document may: bigger ones
            # close the socket with 1009 (Message Too Big) before anything reads them.
            ws_max_size=MAX_GRAPHQL_BODY_BYTES,
            # A deadline and a size cap on each request's head (uvicorn has neither).
            http=GuardedHttpToolsProtocol,
            log_config=uvicorn_log_config(),
        )
        return 0
    try:
        if args.command == "migrate":
            asyncio.run(_migrate(settings))
            return 0
        use_engine(engine)
        result: object = asyncio.run(_closing(engine, _admin_action(args)()))
    except ServiceError as exc:
        print(f"chats-api: {exc.message}", file=sys.stderr)
        return 1
    except _CommandFailed as exc:
        print(exc, file=sys.stderr)
        return 1
    except (DatabaseError, OSError) as exc:
        print(f"chats-api: database error: {type(exc).__name__}", file=sys.stderr)
        return 1
    if result is not None:
        print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
