"""The requests' Prometheus instruments (prometheus-client), observed by the middleware: requests
by route or GraphQL operation and status, and their latency. `rest/metrics.py` serves them."""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    Counter,
    Histogram,
)

REQUESTS = Counter(
    "chats_api_requests_total",
    "HTTP requests answered, by route, GraphQL operation and status.",
    ["method", "route", "operation", "status"],
)
LATENCY = Histogram(
    "chats_api_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route", "operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# The labelled children, by their labels: prometheus-client looks them up under a lock on every
# `labels()` call; the set of label values is bounded (routes, operations, statuses).
_children: dict[tuple[str, str, str, int], tuple[Any, Any]] = {}


def observe(method: str, route: str, operation: str, status: int, seconds: float) -> None:
    key = (method, route, operation, status)
    children = _children.get(key)
    if children is None:
        children = _children[key] = (
            REQUESTS.labels(method, route, operation, str(status)),
            LATENCY.labels(method, route, operation),
        )
    children[0].inc()
    children[1].observe(seconds)
