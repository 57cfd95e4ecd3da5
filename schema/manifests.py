"""A frontend's manifest of trusted documents (Apollo's persisted-query manifest, or a
`{"ID": "BODY"}` map) read against this schema and its limits: what `chats-api documents publish`
stores, and what it refuses, document by document."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from graphql import GraphQLError, OperationDefinitionNode, parse
from strawberry.types.execution import ExecutionContext

from resolvers.documents import DocumentRow, sha256_of
from resolvers.validation import has_control_characters
from schema.execution.private import graphql_schema
from schema.extensions import LIMIT_RULES, MAX_TOKENS, validated
from schema.schema import Schema

APOLLO_FORMAT = "apollo-persisted-query-manifest"


class ManifestError(Exception):
    """The manifest as a whole cannot be read."""


@dataclass(frozen=True)
class RefusedDocument:
    document_id: str
    error: str


def read_manifest(
    text: str | bytes, schema: Schema
) -> tuple[list[DocumentRow], list[RefusedDocument]]:
    """The documents of an Apollo persisted-query manifest or of a `{"ID": "BODY"}` map, each
    parsed and validated against `schema` and its limits; and those refused, with their first
    error. Raises ManifestError when it is neither format."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ManifestError(f"the manifest is not JSON: {exc}") from None
    entries = _entries(data)
    apollo = isinstance(data, dict) and data.get("format") == APOLLO_FORMAT
    context = ExecutionContext(query=None, schema=schema, allowed_operations=())
    rules = (*context.validation_rules, *LIMIT_RULES)
    documents: dict[str, DocumentRow] = {}
    refused: list[RefusedDocument] = []
    for document_id, body, claimed_type in entries:
        digest = sha256_of(body)
        error = None
        if has_control_characters(document_id):
            error = "the id holds control characters"
        elif apollo and document_id != digest:
            error = f"the id is not the SHA-256 of the body ({digest})"
        if error is None:
            checked = _check(body, schema, rules)
            if isinstance(checked, str):
                error = checked
            else:
                operation_type, name = checked
                if claimed_type is not None and claimed_type != operation_type:
                    error = f"the manifest says {claimed_type}, the body is a {operation_type}"
        if error is not None:
            refused.append(RefusedDocument(document_id, error))
            continue
        documents[document_id] = DocumentRow(
            id=document_id, sha256=digest, name=name, operation_type=operation_type, body=body
        )
    return list(documents.values()), refused


def _entries(data: object) -> list[tuple[str, str, str | None]]:
    """(id, body, operation type the manifest claims) of either format."""
    if isinstance(data, dict) and "format" in data:
        if data.get("format") != APOLLO_FORMAT or data.get("version") != 1:
            raise ManifestError(
                f"unknown manifest format {data.get('format')!r} (version {data.get('version')!r});"
                f' expected "{APOLLO_FORMAT}" version 1, or {{"ID": "BODY"}}'
            )
        operations = data.get("operations")
        if not isinstance(operations, list):
            raise ManifestError("an Apollo manifest's `operations` must be a list")
        entries = []
        for number, operation in enumerate(operations):
            if not (
                isinstance(operation, dict)
                and isinstance(operation.get("id"), str)
                and isinstance(operation.get("body"), str)
                and operation.get("type") in ("query", "mutation", "subscription")
            ):
                raise ManifestError(
                    f"operation {number} needs a string `id` and `body`, and a `type`"
                    " (query, mutation or subscription)"
                )
            entries.append((operation["id"], operation["body"], operation["type"]))
        return entries
    if isinstance(data, dict) and data and all(isinstance(v, str) for v in data.values()):
        return [(str(key), value, None) for key, value in data.items()]
    raise ManifestError(
        f'expected an Apollo persisted-query manifest ("format": "{APOLLO_FORMAT}") or a'
        ' non-empty {"ID": "BODY"} map'
    )


def _check(body: str, schema: Schema, rules: tuple[object, ...]) -> tuple[str, str] | str:
    """(operation type, name) of a document that runs here, or its first error."""
    if not body.strip():
        return "the document is empty"
    try:
        document = parse(body, max_tokens=MAX_TOKENS)
    except GraphQLError as exc:
        return exc.message
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1:
        return f"a trusted document holds one operation, this one {len(operations)}"
    errors = validated(graphql_schema(schema), body, document, rules)  # type: ignore[arg-type]
    if errors:
        return errors[0].message
    operation = operations[0]
    return operation.operation.value, operation.name.value if operation.name else ""
