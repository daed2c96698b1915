"""JSON request bodies read strictly before FastAPI reads them (``kit.strictjson``).

FastAPI parses a JSON body with ``json.loads``: a repeated key keeps its last value (a status
post ``{"code": "02", ..., "code": "03"}`` would accept what a reviewer reads as a rejection),
``NaN`` passes, and an integer of thousands of digits is a 400 without a reason. A router built
with ``route_class=StrictJsonRoute`` reads the body with ``kit.strictjson`` first and refuses
it with its precise code (``invalid_json``, ``duplicate_key``, ``number_out_of_range``); FastAPI
then parses the same cached bytes for its schema, whose models are strict too.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from email.message import Message
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from docex.kit import strictjson


def _is_json(content_type: str | None) -> bool:
    """Whether FastAPI would read the body as JSON (no type, or application/json, ``+json``)."""
    if not content_type:
        return True
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class StrictJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            if request.method in ("POST", "PUT", "PATCH") and _is_json(
                request.headers.get("content-type")
            ):
                body = await request.body()
                if body:
                    strictjson.loads(body)
            return await handler(request)

        return strict_handler
