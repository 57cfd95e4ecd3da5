"""The database's health as the service sees it, whichever engine: an outage logged as its
transitions, not once per request."""

from __future__ import annotations

import logging
import time

logger = logging.getLogger("chats_api.db")


class DatabaseHealth:
    """An outage is logged as its transitions: unreachable, then back after N s with the number of
    queries refused in between; each refused request keeps its own access line (503).

    Only a query begun after the outage's first failure ends it: one already under way (its answer
    on the wire when the connection was cut) says nothing of the database now, and would split
    one outage into two in the log."""

    def __init__(self) -> None:
        self._down_since: float | None = None
        self._refused = 0

    def failed(self, error: BaseException) -> None:
        self._refused += 1
        if self._down_since is None:
            self._down_since = time.monotonic()
            logger.warning("database unreachable (%s)", type(error).__name__)

    def succeeded(self, started: float) -> None:
        """A query begun at `started` (`time.monotonic()`) was answered."""
        if self._down_since is not None and started >= self._down_since:
            logger.warning(
                "database back after %.1f s (%d queries refused meanwhile)",
                time.monotonic() - self._down_since,
                self._refused,
            )
            self._down_since = None
            self._refused = 0
