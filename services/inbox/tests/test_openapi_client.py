"""The agent desktop's API types come from the inbox's OpenAPI document: a model change without `make api-types` fails."""

from __future__ import annotations

import json
from pathlib import Path

from omnihub.inbox.models import openapi

WEB_API = Path(__file__).parents[1] / "web" / "src" / "api"


def test_the_desktop_has_the_current_openapi_document() -> None:
    committed = json.loads((WEB_API / "openapi.json").read_text())
    assert committed == openapi(), "the inbox's models changed: run `make api-types` and fix what vue-tsc reports"


def test_the_desktop_uses_the_generated_request_types() -> None:
    schemas = (WEB_API / "schemas.ts").read_text()
    for name in openapi()["components"]["schemas"]:
        if name.endswith("Body"):
            assert f'Schemas["{name}"]' in schemas, f"{name} has no TypeScript type in schemas.ts"
