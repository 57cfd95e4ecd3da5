"""The `chats-api` command line, run as a real process against both engines."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from tests.support.databases import Database, run_cli

pytestmark = pytest.mark.anyio
UUID_LINE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\n")
KEY_LINE = re.compile(r"chats_[A-Za-z0-9_-]{43}\n")


def ok(database: Database, *args: str) -> str:
    result = run_cli(args, database.url)
    assert result.returncode == 0, result.stderr
    return result.stdout


def fails(database: Database, *args: str) -> str:
    result = run_cli(args, database.url)
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_accounts_keys_orgs_and_artists(database: Database) -> None:
    person = ok(database, "accounts", "create", "--name", "Ada")
    assert UUID_LINE.fullmatch(person)
    org = ok(database, "accounts", "create", "--name", "Label", "--kind", "organization").strip()
    artist = ok(database, "accounts", "create", "--name", "Band", "--kind", "artist").strip()
    key = ok(database, "keys", "create", "--account", person.strip(), "--name", "laptop")
    assert KEY_LINE.fullmatch(key)
    assert ok(database, "orgs", "add-member", "--org", org, "--account", person.strip()) == ""
    # Adding again changes nothing and is not an error.
    assert ok(database, "orgs", "add-member", "--org", org, "--account", person.strip()) == ""
    assert ok(database, "artists", "link", "--account", person.strip(), "--artist", artist) == ""


async def test_key_is_stored_only_as_a_hash(database: Database) -> None:
    person = ok(database, "accounts", "create", "--name", "Ada").strip()
    key = ok(database, "keys", "create", "--account", person).strip()
    rows = await database.fetch("SELECT key_hash FROM api_keys")
    assert len(rows) == 1
    assert key not in rows[0]["key_hash"]
    assert re.fullmatch(r"[0-9a-f]{64}", rows[0]["key_hash"])


@pytest.mark.parametrize("by", ["key", "id"])
async def test_revoke(database: Database, by: str) -> None:
    person = ok(database, "accounts", "create", "--name", "Ada").strip()
    key = ok(database, "keys", "create", "--account", person).strip()
    target = key
    if by == "id":
        target = (await database.fetch("SELECT id FROM api_keys"))[0]["id"]
    assert ok(database, "keys", "revoke", target) == ""
    rows = await database.fetch("SELECT revoked_at FROM api_keys")
    assert rows[0]["revoked_at"] is not None
    # Revoking again is not an error, and keeps the time of the first revocation.
    assert ok(database, "keys", "revoke", target) == ""
    assert await database.fetch("SELECT revoked_at FROM api_keys") == rows


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ("keys", "create", "--account", "00000000-0000-0000-0000-000000000000"),
            "chats-api: account 00000000-0000-0000-0000-000000000000 does not exist",
            id="key-for-unknown-account",
        ),
        pytest.param(
            ("keys", "create", "--account", "nope"),
            "chats-api: account must be a valid UUID",
            id="key-for-malformed-id",
        ),
        pytest.param(
            ("keys", "revoke", "chats_nope"), "chats-api: no such key", id="revoke-unknown"
        ),
        pytest.param(
            ("keys", "revoke", str(uuid.UUID(int=1))),
            "chats-api: no such key",
            id="revoke-unknown-id",
        ),
    ],
)
def test_bad_arguments(database: Database, args: tuple[str, ...], message: str) -> None:
    assert fails(database, *args) == message


def test_wrong_kinds(database: Database) -> None:
    person = ok(database, "accounts", "create", "--name", "Ada").strip()
    other = ok(database, "accounts", "create", "--name", "Bob").strip()
    assert fails(database, "orgs", "add-member", "--org", person, "--account", other) == (
        f"chats-api: org {person} is a user account, not an organization"
    )
    assert fails(database, "artists", "link", "--account", person, "--artist", other) == (
        f"chats-api: artist {other} is a user account, not an artist"
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(
            ["accounts", "create", "--name", "x", "--kind", "robot"],
            "invalid choice: 'robot'",
            id="kind",
        ),
        pytest.param(
            ["accounts", "create"], "the following arguments are required: --name", id="missing"
        ),
        pytest.param(["keys"], "the following arguments are required: action", id="no-action"),
        pytest.param(["nonsense"], "invalid choice: 'nonsense'", id="command"),
    ],
)
def test_usage_errors_are_one_line(database: Database, args: list[str], fragment: str) -> None:
    result = run_cli(args, database.url)
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert fragment in line
    assert line.startswith("chats-api")


def test_bad_database_url_is_one_line() -> None:
    result = run_cli(["accounts", "create", "--name", "x"], "mysql://nowhere")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "chats-api: DATABASE_URL must start with sqlite:/// or postgresql://"
        " (got a value starting with 'mysql')"
    ]


async def test_revoke_reads_the_key_from_stdin(database: Database) -> None:
    """The key never in argv (shell history, `ps`)."""
    person = ok(database, "accounts", "create", "--name", "Ada").strip()
    key = ok(database, "keys", "create", "--account", person).strip()
    for args in (["keys", "revoke"], ["keys", "revoke", "-"]):
        result = run_cli(args, database.url, input=key + "\n")
        assert result.returncode == 0, result.stderr
    assert (await database.fetch("SELECT revoked_at FROM api_keys"))[0]["revoked_at"] is not None
    result = run_cli(["keys", "revoke"], database.url, input="chats_nope\n")
    assert (result.returncode, result.stderr) == (1, "chats-api: no such key\n")


def test_a_key_cannot_be_created_already_expired(database: Database) -> None:
    person = ok(database, "accounts", "create", "--name", "Ada").strip()
    result = run_cli(
        ["keys", "create", "--account", person, "--expires-at", "2020-01-01T00:00:00Z"],
        database.url,
    )
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "must be in the future" in line


async def test_identities(database: Database) -> None:
    ada = ok(database, "accounts", "create", "--name", "Ada").strip()
    bob = ok(database, "accounts", "create", "--name", "Bob").strip()
    issuer = "https://idp.example/"
    link = ["identities", "link", "--issuer", issuer]
    assert ok(database, *link, "--subject", "ada-sub", "--account", ada) == ""
    assert ok(database, *link, "--subject", "ada-sub", "--account", ada) == ""  # idempotent
    assert ok(database, *link, "--subject", "bob-sub", "--account", bob) == ""
    assert ok(database, "identities", "list") == (
        f"{issuer}\tada-sub\t{ada}\n{issuer}\tbob-sub\t{bob}\n"
    )
    assert ok(database, "identities", "list", "--account", bob) == f"{issuer}\tbob-sub\t{bob}\n"
    assert fails(database, *link, "--subject", "ada-sub", "--account", bob) == (
        f"chats-api: the identity is linked to account {ada}; unlink it first, or link it"
        " with --replace"
    )
    unlink = ["identities", "unlink", "--issuer", issuer]
    assert ok(database, *unlink, "--subject", "ada-sub") == ""
    assert fails(database, *unlink, "--subject", "ada-sub") == "chats-api: no such identity"
    assert ok(database, "identities", "list") == f"{issuer}\tbob-sub\t{bob}\n"
    unknown = str(uuid.UUID(int=7))
    assert fails(database, *link, "--subject", "x", "--account", unknown) == (
        f"chats-api: account {unknown} does not exist"
    )
    assert fails(database, *link, "--subject", "", "--account", ada) == (
        "chats-api: subject must be 1 to 255 characters"
    )
    assert fails(database, "identities", "list", "--account", "nope") == (
        "chats-api: account must be a valid UUID"
    )
    rows = await database.fetch("SELECT issuer, subject FROM identities")
    assert rows == [{"issuer": issuer, "subject": "bob-sub"}]


async def test_an_identity_moves_at_once_and_can_be_blocked(database: Database) -> None:
    ada = ok(database, "accounts", "create", "--name", "Ada").strip()
    bob = ok(database, "accounts", "create", "--name", "Bob").strip()
    issuer = "https://idp.example/"
    which = ["--issuer", issuer, "--subject", "sub-1"]
    assert ok(database, "identities", "link", *which, "--account", ada) == ""
    assert ok(database, "identities", "link", "--replace", *which, "--account", bob) == ""
    assert ok(database, "identities", "list") == f"{issuer}\tsub-1\t{bob}\n"
    # Not linked yet: --replace links it.
    other = ["--issuer", issuer, "--subject", "sub-2"]
    assert ok(database, "identities", "link", "--replace", *other, "--account", ada) == ""
    assert ok(database, "identities", "block", *which) == ""
    assert ok(database, "identities", "block", *which) == ""  # blocked already: harmless
    [line] = ok(database, "identities", "blocked").splitlines()
    assert line.startswith(f"{issuer}\tsub-1\t")
    assert ok(database, "identities", "unblock", *which) == ""
    assert fails(database, "identities", "unblock", *which) == (
        "chats-api: the identity is not blocked"
    )
    assert ok(database, "identities", "blocked") == ""
    rows = await database.fetch("SELECT subject FROM identities ORDER BY subject")
    assert rows == [{"subject": "sub-1"}, {"subject": "sub-2"}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ("accounts", "create", "--name", "Ada\n2026-01-01\tforged"),
            "chats-api: name must not hold control characters",
            id="account-name-newline",
        ),
        pytest.param(
            ("accounts", "create", "--name", "Ada\x1b[31m"),
            "chats-api: name must not hold control characters",
            id="account-name-escape",
        ),
        pytest.param(
            (
                "identities",
                "link",
                "--account",
                str(uuid.UUID(int=1)),
                "--issuer",
                "i",
                "--subject",
                "x\ny",
            ),
            "chats-api: subject must not hold control characters",
            id="subject",
        ),
        pytest.param(
            ("identities", "block", "--issuer", "https://idp\u202e/", "--subject", "x"),
            "chats-api: issuer must not hold control characters",
            id="issuer-bidi",
        ),
    ],
)
def test_control_characters_are_refused(
    database: Database, args: tuple[str, ...], message: str
) -> None:
    assert fails(database, *args) == message


def test_a_key_of_a_name_with_control_characters_is_refused(database: Database) -> None:
    person = ok(database, "accounts", "create", "--name", "Ada").strip()
    assert fails(database, "keys", "create", "--account", person, "--name", "a\rb") == (
        "chats-api: name must not hold control characters"
    )


async def test_a_manifest_id_with_control_characters_is_refused(
    database: Database, tmp_path: Any
) -> None:
    manifest = tmp_path / "manifest.json"
    forged = "me\n2026-01-01\tforged\tquery"
    manifest.write_text(json.dumps({forged: "query Me { __typename }"}))
    result = run_cli(["documents", "publish", str(manifest)], database.url)
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        "refused me\\u000a2026-01-01\\u0009forged\\u0009query: the id holds control characters",
        "nothing published: 1 of 1 refused",
    ]
    assert await database.count("trusted_documents") == 0


@pytest.mark.parametrize(
    "when",
    ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "tomorrow", "2027-13-01T00:00:00Z"],
)
def test_every_bad_date_is_one_line(database: Database, when: str) -> None:
    person = ok(database, "accounts", "create", "--name", "Ada").strip()
    result = run_cli(["keys", "create", "--account", person, "--expires-at", when], database.url)
    assert (result.returncode, result.stdout) == (2, "")
    [line] = result.stderr.splitlines()
    assert line.startswith("chats-api keys create: argument --expires-at: ")
