"""One error vocabulary: every domain error is mapped on both edges, documented in the OpenAPI
document, and rendered by each edge through one function."""

from __future__ import annotations

import pytest
from graphql import GraphQLError

from chats_api import jsoncodec
from resolvers.errors import (
    FAMILIES,
    ChatNotFound,
    InternalError,
    RateLimited,
    ServiceError,
    ServiceUnavailable,
    error_classes,
)
from rest import errors as rest_errors
from rest.openapi import DOCUMENT
from schema import errors as graphql_errors

CLASSES = error_classes()
CODE_OF_STATUS = {
    400: "BAD_USER_INPUT",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    410: "CURSOR_EXPIRED",
    413: "BAD_USER_INPUT",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def _documented() -> dict[str, set[str]]:
    """Status -> the messages /openapi.json gives as its examples, over every operation."""
    found: dict[str, set[str]] = {}
    for operations in DOCUMENT["paths"].values():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                # A stream's 200 is text/event-stream; every error is JSON.
                json_content = response["content"].get("application/json", {})
                examples = json_content.get("examples", {})
                found.setdefault(status, set()).update(
                    e["value"].get("message") for e in examples.values()
                )
    return found


@pytest.mark.parametrize("error_class", CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_is_mapped_on_both_edges_and_documented(
    error_class: type[ServiceError],
) -> None:
    # Mapped explicitly (along the class hierarchy), not by the fallback for unknown classes.
    assert (
        any(cls in rest_errors.STATUS for cls in error_class.__mro__) or error_class is ServiceError
    )
    assert (
        any(cls in graphql_errors.CODES for cls in error_class.__mro__)
        or error_class is ServiceError
    )
    status = rest_errors.status_for(error_class)
    assert graphql_errors.code_for(error_class) == CODE_OF_STATUS[status]
    documented = _documented()
    assert str(status) in documented
    if error_class not in FAMILIES:  # a family's members carry their own, field-named message
        assert error_class.default_message in documented[str(status)]
        if error_class.retry_after is not None:
            assert any(
                "Retry-After" in operation["responses"][str(status)].get("headers", {})
                for operations in DOCUMENT["paths"].values()
                for operation in operations.values()
                if str(status) in operation["responses"]
            )


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [
        (ChatNotFound(), 404, None),
        (RateLimited(retry_after=7), 429, "7"),
        (ServiceUnavailable(), 503, "5"),
        (InternalError(), 500, None),
    ],
)
def test_rest_renders_status_envelope_and_retry_after(
    error: ServiceError, status: int, retry_after: str | None
) -> None:
    response = rest_errors.error_response(error)
    assert response.status_code == status
    assert jsoncodec.loads(bytes(response.body)) == {"status": "error", "message": error.message}
    assert response.headers.get("retry-after") == retry_after


def test_graphql_renders_the_same_error_with_its_code() -> None:
    response = graphql_errors.error_response(ServiceUnavailable(), 503)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert jsoncodec.loads(bytes(response.body)) == {
        "errors": [
            {
                "message": "Service temporarily unavailable",
                "extensions": {"code": "SERVICE_UNAVAILABLE", "retryAfter": 5},
            }
        ]
    }


def test_a_domain_error_raised_in_a_field_keeps_its_message_and_gets_its_code() -> None:
    raised = GraphQLError(
        "whatever", path=["createChat"], original_error=RateLimited(retry_after=3)
    )
    error = graphql_errors.to_graphql_error(raised)
    assert error.message == "Too many requests"
    assert error.extensions == {"code": "TOO_MANY_REQUESTS", "retryAfter": 3}
    assert error.path == ["createChat"]


def test_a_document_error_is_bad_user_input() -> None:
    error = graphql_errors.to_graphql_error(GraphQLError("Syntax Error: Unexpected Name 'x'."))
    assert error.message == "Syntax Error: Unexpected Name 'x'."
    assert error.extensions == {"code": "BAD_USER_INPUT"}


def test_anything_else_in_a_field_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    raised = GraphQLError("secret detail", path=["chat"], original_error=KeyError("secret"))
    error = graphql_errors.to_graphql_error(raised)
    assert error.message == "Internal server error"
    assert error.extensions == {"code": "INTERNAL_SERVER_ERROR"}
    assert "secret detail" not in error.message
