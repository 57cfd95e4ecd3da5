"""/openapi.json, and /docs: the same document as a plain HTML page, made on the server so that
nothing is loaded from the internet."""

from __future__ import annotations

import html
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from rest.openapi import DOCUMENT
from rest.responses import JSONResponse


async def openapi(request: Request) -> Response:
    return JSONResponse(DOCUMENT)


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        resolved: dict[str, Any] = DOCUMENT["components"]["schemas"][ref.rsplit("/", 1)[1]]
        return resolved
    return schema


def _schema_table(schema: dict[str, Any]) -> str:
    schema = _resolve(schema)
    required = set(schema.get("required", []))
    rows = []
    for name, field in schema.get("properties", {}).items():
        field = _resolve(field) if "$ref" in field else field
        kind = field.get("type", "object")
        kind = " or ".join(kind) if isinstance(kind, list) else kind
        if "format" in field:
            kind += f" ({field['format']})"
        rows.append(
            f"<tr><td><code>{html.escape(name)}</code>{' *' if name in required else ''}</td>"
            f"<td>{html.escape(kind)}</td><td>{html.escape(field.get('description', ''))}</td></tr>"
        )
    return (
        "<table><tr><th>field</th><th>type</th><th>meaning</th></tr>" + "".join(rows) + "</table>"
    )


def _operation(path: str, method: str, operation: dict[str, Any]) -> str:
    parts = [
        f"<h2><code>{method.upper()} {html.escape(path)}</code>: "
        f"{html.escape(operation.get('summary', ''))}</h2>",
        f"<p>{html.escape(operation.get('description', ''))}</p>",
    ]
    if operation.get("parameters"):
        parameters = "".join(
            f"<tr><td><code>{p['name']}</code></td><td>{p['schema'].get('type')}</td>"
            f"<td>{html.escape(p.get('description', ''))}</td></tr>"
            for p in operation["parameters"]
        )
        parts.append(f"<h3>Query parameters</h3><table>{parameters}</table>")
    if "requestBody" in operation:
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        parts.append("<h3>Body (JSON)</h3>" + _schema_table(schema))
    rows = []
    for status, response in operation["responses"].items():
        content = response.get("content", {}).get("application/json", {})
        messages = [e["value"]["message"] for e in content.get("examples", {}).values()]
        detail = "; ".join(f"<code>{html.escape(m)}</code>" for m in messages)
        rows.append(
            f"<tr><td>{status}</td><td>{html.escape(response['description'])}</td>"
            f"<td>{detail}</td></tr>"
        )
    parts.append(
        "<h3>Responses</h3><table><tr><th>status</th><th>when</th><th>message</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    return "\n".join(parts)


def _page() -> str:
    operations = [
        _operation(path, method, operation)
        for path, methods in DOCUMENT["paths"].items()
        for method, operation in methods.items()
    ]
    schemas = "".join(
        f"<h3>{name}</h3>{_schema_table(schema)}"
        for name, schema in DOCUMENT["components"]["schemas"].items()
    )
    info = DOCUMENT["info"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(info["title"])}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse;margin:.5rem 0}}td,th{{border:1px solid #ccc;padding:.3rem .6rem;
text-align:left;vertical-align:top}}code{{background:#f4f4f4}}</style></head><body>
<h1>{html.escape(info["title"])} {html.escape(info["version"])}</h1>
<p>{html.escape(info["description"])}</p>
<p>Authenticate with <code>x-api-key: KEY</code> or <code>Authorization: Bearer KEY</code>.
Errors are <code>{{"status": "error", "message": "..."}}</code>. The machine-readable document is
<a href="/openapi.json">/openapi.json</a> (OpenAPI {DOCUMENT["openapi"]}).</p>
{"".join(operations)}
<h2>Schemas</h2>{schemas}
<details><summary>The whole document</summary>
<pre>{html.escape(json.dumps(DOCUMENT, indent=2))}</pre></details></body></html>"""


PAGE = _page()


async def docs(request: Request) -> Response:
    return HTMLResponse(PAGE)


routes = [
    Route("/openapi.json", openapi, methods=["GET"]),
    Route("/docs", docs, methods=["GET"]),
]
