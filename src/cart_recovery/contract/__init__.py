"""The public contract, kept in the repo and served by the app: the cart event's JSON Schema
(``cart-event.schema.json``, draft 2020-12) and the OpenAPI 3.1 document of every HTTP endpoint
(``openapi.json``). Tests hold both to the code: the schema to the event model, the document to
the app's routes, and the app to the document under fuzzing."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

SCHEMA_NAME = "cart-event.schema.json"
OPENAPI_NAME = "openapi.json"


@cache
def raw(name: str) -> bytes:
    """The bytes of one contract file, as kept in the repo."""
    return files(__name__).joinpath(name).read_bytes()


def cart_event_schema() -> dict[str, Any]:
    value: dict[str, Any] = json.loads(raw(SCHEMA_NAME))
    return value


def openapi() -> dict[str, Any]:
    value: dict[str, Any] = json.loads(raw(OPENAPI_NAME))
    return value
