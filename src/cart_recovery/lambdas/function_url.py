"""Lambda Function URL events (payload format 2.0) in, HTTP responses out."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from cart_recovery.ports import RequestError


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # names in lower case
    query: Mapping[str, str]
    body: bytes


def parse_request(event: Mapping[str, Any], limit: int) -> HttpRequest:
    """The request in a Function URL event. RequestError(413) for a body over ``limit`` bytes,
    (400) for a body that claims base64 and is not."""
    http = event.get("requestContext", {}).get("http", {})
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    raw = event.get("body") or ""
    if not isinstance(raw, str):
        raise RequestError(400, "bad_request", "the request body is not text")
    if len(raw) > limit * 2:  # cheap refusal before decoding anything large
        raise RequestError(413, "too_large", f"body is larger than {limit // 1024} KiB")
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(400, "bad_request", "the body is not valid base64") from None
    else:
        body = raw.encode("utf-8", "surrogateescape")
    if len(body) > limit:
        raise RequestError(413, "too_large", f"body is larger than {limit // 1024} KiB")
    query = dict(parse_qsl(event.get("rawQueryString") or "", keep_blank_values=True))
    return HttpRequest(
        method=str(http.get("method", "GET")).upper(),
        path=str(event.get("rawPath") or http.get("path") or "/"),
        headers=headers,
        query=query,
        body=body,
    )


def json_response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", "cache-control": "no-store"},
        "body": json.dumps(body, separators=(",", ":")),
    }


def error_response(error: RequestError) -> dict[str, Any]:
    return json_response(error.status, error.body())
