"""Reading botocore errors without importing botocore where it is not needed."""

from __future__ import annotations

from typing import Any


def error_code(error: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (``ConditionalCheckFailedException``,
    ``ResourceNotFoundException``...), or None for any other exception."""
    response: Any = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code is not None else None


def client_error_type() -> type[Exception]:
    from botocore.exceptions import ClientError

    error: type[Exception] = ClientError
    return error


def transport_error_types() -> tuple[type[Exception], ...]:
    """botocore's errors for a request that never got an answer (connection, timeout)."""
    from botocore.exceptions import BotoCoreError

    error: type[Exception] = BotoCoreError
    return (error,)
