"""A chats list kept live over Server-Sent Events, as a frontend keeps it: it resumes from its
last cursor (`Last-Event-ID`) whenever its stream breaks or ends."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.streams import subscription


@dataclass
class Follower:
    """A chats list kept live: resumes from its last cursor whenever its stream breaks or ends."""

    key: str
    start: str
    heard: list[dict[str, Any]] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)  # the codes its streams ended with

    async def follow(self, base: str, *, until: int) -> None:
        """Until it has heard `until` events."""
        while len(self.heard) < until:
            last = self.heard[-1]["cursor"] if self.heard else self.start
            headers = {"x-api-key": self.key, "last-event-id": last}
            try:
                async with subscription("sse", base, headers) as items:
                    async for _, payload in items:
                        if "errors" in payload:
                            self.ended.append(payload["errors"][0]["extensions"]["code"])
                            break
                        self.heard.append(payload["data"]["chatEvents"])
                        if len(self.heard) >= until:
                            return
            except (httpx.TransportError, AssertionError, OSError):
                pass
            await asyncio.sleep(0.2)

    def ids(self) -> list[str]:
        return [event["chat"]["id"] for event in self.heard]
