"""The JSON log line's time, formatted once a second, is what `datetime` would write."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from chats_api.logs import JSONFormatter, configure_logging


@pytest.mark.parametrize(
    "created",
    [
        1_764_921_600.0,  # a whole second
        1_764_921_600.0005,  # half a millisecond: truncated, as isoformat does
        1_764_921_600.9999996,  # rounded to the microsecond first: the next second
        1_764_921_601.123456,
        1_764_921_659.999,
    ],
)
def test_the_time_is_datetimes(created: float) -> None:
    record = logging.LogRecord("chats_api", logging.INFO, "", 0, "hello", None, None)
    record.created = created
    line = json.loads(JSONFormatter().format(record))
    assert line["time"] == datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


def test_one_formatter_over_many_seconds() -> None:
    """The cached date and seconds follow the record's own second, forwards and back."""
    formatter = JSONFormatter()
    for created in (1_764_921_600.5, 1_764_921_601.25, 1_764_921_600.75, 1_764_925_200.0):
        record = logging.LogRecord("chats_api", logging.INFO, "", 0, "hello", None, None)
        record.created = created
        expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
        assert json.loads(formatter.format(record))["time"] == expected


def test_extra_fields_follow_in_their_order() -> None:
    logger = logging.getLogger("chats_api.test")
    record = logger.makeRecord(
        logger.name, logging.INFO, "", 0, "request", (), None, extra={"route": "/", "status": 200}
    )
    record.request_id = "abc"
    line = json.loads(JSONFormatter().format(record))
    assert list(line) == ["time", "level", "logger", "request_id", "message", "route", "status"]
    assert line["request_id"] == "abc"


def test_strawberrys_loggers_write_the_services_json_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A WebSocket operation's task that fails logs through `strawberry.ws.task`: one JSON line,
    never Python's plain-text last resort (the probe saw 30-line plain tracebacks)."""
    configure_logging("INFO")
    logging.getLogger("strawberry.ws.task").error("Exception in worker task")
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert (line["logger"], line["level"]) == ("strawberry.ws.task", "ERROR")
