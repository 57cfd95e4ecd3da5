"""Two apps on one database, one compiling the documents it sees and one running every document
through Strawberry's standard execution, driven with the same requests (conftest.py's `twins`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal

from schema.execution.plan import Plan
from tests.support.world import World

UUID_OR_TIME = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
)
JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"


def normalise(value: Any, seen: dict[str, str]) -> Any:
    """Ids and times made during the run, by order of first appearance (the same id twice is
    the same placeholder twice, so a field answering the wrong id still differs)."""
    if isinstance(value, dict):
        return {key: normalise(item, seen) for key, item in value.items()}
    if isinstance(value, list):
        return [normalise(item, seen) for item in value]
    if isinstance(value, str):
        return UUID_OR_TIME.sub(lambda m: seen.setdefault(m.group(), f"<{len(seen)}>"), value)
    return value


@dataclass
class Twins:
    portal: BlockingPortal
    compiled: httpx.AsyncClient
    standard: httpx.AsyncClient
    plans: Callable[[str, str | None], Plan | None]
    world: World

    def answers(self, body: dict[str, Any], **options: Any) -> tuple[Any, Any]:
        answers: tuple[Any, Any] = self.portal.call(self._answers, body, options)
        return answers

    async def _answers(self, body: dict[str, Any], options: dict[str, Any]) -> tuple[Any, Any]:
        key = options.get("key", "alice")
        headers = {"accept": options.get("accept", JSON)}
        if key is not None:
            headers["x-api-key"] = self.world.keys[key]
        twin_bodies = options.get("bodies", (body, body))
        answers = []
        for client, sent in zip((self.compiled, self.standard), twin_bodies, strict=True):
            response = await client.post("/graphql", json=sent, headers=headers)
            answers.append(
                (
                    response.status_code,
                    response.headers["content-type"],
                    response.headers.get("retry-after"),
                    normalise(response.json(), {}),
                )
            )
        return answers[0], answers[1]

    def same(self, body: dict[str, Any], *, compiled: bool, **options: Any) -> Any:
        """Both answers, required identical; and whether the document took the compiled path."""
        fast, standard = self.answers(body, **options)
        assert fast == standard
        if "query" in body:
            plan = self.plans(body["query"], body.get("operationName"))
            assert isinstance(plan, Plan) is compiled, body["query"]
        return fast[3]
