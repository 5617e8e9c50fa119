"""Read an HTTP JSON body into a pydantic model with size, nesting-depth and type limits (400, never 500)."""

from __future__ import annotations

import re
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

MAX_BYTES = 64 * 1024
MAX_DEPTH = 32
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
M = TypeVar("M", bound=BaseModel)


class Body(BaseModel):
    """Base of request bodies: unknown fields are ignored; NaN and infinities are refused."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


def nesting_depth(raw: bytes, limit: int) -> int:
    """The deepest array/object nesting in a JSON text, stopping once past `limit` (no recursion)."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_STRINGS.sub(b'""', raw)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                break
        else:
            depth -= 1
    return deepest


def describe(exc: ValidationError) -> str:
    """One line per problem, each naming its field, e.g. `text: Input should be a valid string`."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        lines.append(f"{where}: {err['msg']}")
    return "; ".join(lines)


def parse_body(raw: bytes, model: type[M], *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> M:
    """Validate raw JSON bytes into `model`, or raise 400/413 with a message naming what is wrong.

    The depth is checked on the bytes before parsing; pydantic's own parser (not json.loads) refuses
    invalid UTF-8 and lone surrogate escapes such as "\\udc00".
    """
    if len(raw) > max_bytes:
        raise web.HTTPRequestEntityTooLarge(max_size=max_bytes, actual_size=len(raw),
                                            text=f"the body is larger than {max_bytes} bytes")
    if not raw.strip():
        raw = b"{}"
    if nesting_depth(raw, max_depth) > max_depth:
        raise web.HTTPBadRequest(text=f"the JSON is nested deeper than {max_depth} levels")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise web.HTTPBadRequest(text=f"invalid request: {describe(exc)}") from None


async def read_body(request: web.Request, model: type[M], *, max_bytes: int = MAX_BYTES,
                    max_depth: int = MAX_DEPTH) -> M:
    """Read and validate the request's JSON body (an empty body counts as `{}`)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise web.HTTPRequestEntityTooLarge(max_size=max_bytes, actual_size=request.content_length,
                                            text=f"the body is larger than {max_bytes} bytes")
    raw = await request.read()
    return parse_body(raw, model, max_bytes=max_bytes, max_depth=max_depth)

