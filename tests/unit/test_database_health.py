"""An outage's log lines: one pair, however its queries interleave."""

from __future__ import annotations

import logging
import time

import pytest

from db.health import DatabaseHealth


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage().split(" (")[0] for record in caplog.records]


def test_a_query_begun_before_the_outage_does_not_end_it(caplog: pytest.LogCaptureFixture) -> None:
    """What a fault test saw under load: one connection cut (the first failure), then another
    query's answer, already on the wire, delivered. The outage goes on until a query begun after
    it started is answered."""
    caplog.set_level(logging.WARNING, logger="chats_api")
    health = DatabaseHealth()
    in_flight = time.monotonic()
    health.failed(ConnectionResetError())
    health.succeeded(in_flight)
    health.failed(ConnectionRefusedError())
    assert _lines(caplog) == ["database unreachable"]
    health.succeeded(time.monotonic())
    assert _lines(caplog) == ["database unreachable", "database back after 0.0 s"]
    assert "2 queries refused meanwhile" in caplog.records[-1].getMessage()


def test_answers_while_healthy_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="chats_api")
    health = DatabaseHealth()
    for _ in range(3):
        health.succeeded(time.monotonic())
    assert caplog.records == []
