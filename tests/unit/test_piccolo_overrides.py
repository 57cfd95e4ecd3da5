"""The Piccolo (and aiosqlite) methods and attributes the service's engines override or read,
pinned: an upgrade that renames or reshapes one fails here, by name, instead of silently
bypassing an override (a Piccolo method of another name would then run, without the deadline,
the shared connection or the pool's gate)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import aiosqlite
import pytest
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction
from piccolo.table import TableMeta

from db.connections import ServiceTransaction
from db.postgres import LazyPostgresEngine
from db.sqlite import TidySQLiteEngine, TidySQLiteTransaction


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


OVERRIDES = [
    (PostgresEngine, LazyPostgresEngine, "check_version"),
    (PostgresEngine, LazyPostgresEngine, "transaction"),
    (PostgresEngine, LazyPostgresEngine, "_run_in_pool"),
    (SQLiteEngine, TidySQLiteEngine, "get_connection"),
    (SQLiteEngine, TidySQLiteEngine, "_run_in_existing_connection"),
    (SQLiteEngine, TidySQLiteEngine, "_run_in_new_connection"),
    (SQLiteEngine, TidySQLiteEngine, "transaction"),
    (PostgresTransaction, ServiceTransaction, "get_connection"),
    (PostgresTransaction, ServiceTransaction, "__aenter__"),
    (PostgresTransaction, ServiceTransaction, "__aexit__"),
    (SQLiteTransaction, TidySQLiteTransaction, "__aenter__"),
    (SQLiteTransaction, TidySQLiteTransaction, "__aexit__"),
]


@pytest.mark.parametrize(
    ("piccolo", "ours", "name"), OVERRIDES, ids=[f"{p.__name__}.{n}" for p, _, n in OVERRIDES]
)
def test_each_override_replaces_a_method_piccolo_still_has(
    piccolo: type, ours: type, name: str
) -> None:
    theirs = getattr(piccolo, name)
    assert getattr(ours, name) is not theirs
    if name.startswith("__a"):
        return  # the context-manager protocol: its signature is the language's
    assert parameters(getattr(ours, name)) == parameters(theirs)


def test_piccolo_calls_the_overridden_methods_where_we_expect() -> None:
    """The private ones are Piccolo's own way in: its public `run_querystring` reaches them."""
    assert "_run_in_pool" in inspect.getsource(PostgresEngine.run_querystring)
    sqlite_source = inspect.getsource(SQLiteEngine.run_querystring)
    assert "_run_in_existing_connection" in sqlite_source
    assert "_run_in_new_connection" in sqlite_source


@pytest.mark.parametrize("transaction", [PostgresTransaction, SQLiteTransaction])
def test_transactions_keep_the_state_ours_read(transaction: type) -> None:
    source = inspect.getsource(vars(transaction)["__init__"])
    for attribute in ("self._parent", "self._committed", "self._rolled_back"):
        assert attribute in source


def test_tables_read_their_engine_from_a_property_ours_replaces() -> None:
    assert isinstance(TableMeta.__dict__["db"], property)
    assert "_db" in inspect.getsource(TableMeta)


def test_aiosqlite_runs_work_on_its_thread_as_the_one_trip_create_expects() -> None:
    assert parameters(aiosqlite.Connection._execute) == ["self", "fn", "args", "kwargs"]
    assert "self._conn" in inspect.getsource(aiosqlite.Connection)
