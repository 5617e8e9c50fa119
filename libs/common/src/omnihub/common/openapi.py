"""OpenAPI 3.1 documents generated from the same pydantic models the handlers validate with."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

OPENAPI_PATH = "/api/openapi.json"
_PARAM = re.compile(r"\{(\w+)\}")
_ERRORS = {"400": "invalid input (the message names the field)", "401": "not authenticated",
           "403": "not allowed", "404": "not found", "409": "conflict with the current state",
           "413": "body too large", "429": "too many requests", "503": "a backing service is unavailable"}


@dataclass(frozen=True, slots=True)
class Operation:
    """One documented route: its body, query and response models."""

    method: str
    path: str
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    tags: tuple[str, ...] = field(default_factory=tuple)
    public: bool = False  # no credentials needed


def document(title: str, version: str, operations: Sequence[Operation],
             security: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """An OpenAPI 3.1 document; component schemas come from pydantic (JSON Schema 2020-12)."""
    models: list[tuple[type[BaseModel], Any]] = []
    for op in operations:
        for model, mode in ((op.body, "validation"), (op.response, "serialization")):
            if model is not None and (model, mode) not in models:
                models.append((model, mode))
    refs, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        entry: dict[str, Any] = {"summary": op.summary, "operationId": _operation_id(op), "tags": list(op.tags)}
        params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
                  for name in _PARAM.findall(op.path)]
        if op.query is not None:
            schema = op.query.model_json_schema()
            required = set(schema.get("required", []))
            for name, prop in schema.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
        if params:
            entry["parameters"] = params
        if op.body is not None:
            entry["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": refs[(op.body, "validation")]}}}
        ok: dict[str, Any] = {"description": "OK"}
        ok["content"] = {"application/json": {"schema": refs[(op.response, "serialization")]
                                              if op.response is not None else {}}}
        responses: dict[str, Any] = {str(op.status): ok}
        responses |= {code: {"description": text} for code, text in _ERRORS.items()}
        entry["responses"] = responses
        if op.public:
            entry["security"] = []
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    doc: dict[str, Any] = {"openapi": "3.1.0", "info": {"title": title, "version": version}, "paths": paths,
                           "components": {"schemas": defs.get("$defs", {})}}
    if security:
        doc["components"]["securitySchemes"] = security
        doc["security"] = [{name: [] for name in security}]  # all of them together
    return doc


def _operation_id(op: Operation) -> str:
    words = re.sub(r"[^a-zA-Z0-9]+", "_", op.path.replace("{", "").replace("}", "")).strip("_")
    return f"{op.method.lower()}_{words}"


def serve(app: web.Application, doc: dict[str, Any]) -> None:
    """Serve the document at /api/openapi.json."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(doc)

    app.router.add_get(OPENAPI_PATH, handler)


def undocumented(app: web.Application, doc: dict[str, Any], prefix: str = "/api/") -> list[str]:
    """`METHOD path` of every route under `prefix` missing from the document (a test keeps this empty)."""
    missing = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if not path.startswith(prefix) or route.method == "HEAD" or path == OPENAPI_PATH:
            continue
        if route.method.lower() not in doc["paths"].get(path, {}):
            missing.append(f"{route.method} {path}")
    return missing
