"""Open streams per caller: one cap for every transport."""

from __future__ import annotations

from collections import Counter


class OpenStreams:
    """Open streams per caller (its key, or its account for a token), at most `limit` each in
    this process, whatever carries them (WebSockets, Server-Sent Events): a key cannot hold the
    service's memory and file descriptors by the thousand."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def open(self, holder: str) -> bool:
        if self._open[holder] >= self.limit:
            return False
        self._open[holder] += 1
        return True

    def close(self, holder: str) -> None:
        self._open[holder] -= 1
        if self._open[holder] <= 0:
            del self._open[holder]
