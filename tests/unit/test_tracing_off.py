"""Without an OTLP endpoint nothing of the tracing is installed: no middleware, no tracer for the
GraphQL edge or SQLite (the benchmark measures what remains: nothing, against the code before)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chats_api.app import create_app
from chats_api.settings import Settings
from chats_api.tracing import ENDPOINTS, exporting
from db import tracing as db_tracing
from schema import telemetry


def test_without_an_endpoint_nothing_traces(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ENDPOINTS:
        monkeypatch.delenv(name, raising=False)
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'off.sqlite3'}"))
    assert not exporting()
    assert "Tracing" not in [getattr(m.cls, "__name__", "") for m in app.user_middleware]
    assert telemetry.TRACER is None
    assert db_tracing.traceparent() is None


def test_the_sdk_switch_wins_over_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert exporting()
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not exporting()
