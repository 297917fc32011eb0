"""Configuration from SSM Parameter Store and secrets from Secrets Manager.

Both are read lazily (the first invocation that needs them, never at import) and kept for the
life of the execution environment. The webhook secret is read in both stages of a rotation,
``AWSCURRENT`` and ``AWSPREVIOUS``, so storefronts signing with either are accepted; when a
signature matches neither, the secrets are read again (at most once every few minutes), so a
rotation reaches warm functions without waiting for a cold start. No secret value is ever
logged or put in an error message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from cart_recovery.adapters.aws.errors import client_error_type, error_code

log = logging.getLogger("cart_recovery.aws.config")

REFRESH_AFTER = 300.0  # seconds between re-reads of the webhook secrets on a failed signature


def parameters_under(client: Any, path: str) -> dict[str, str]:
    """Every parameter under ``path`` (recursive, SecureStrings decrypted), keyed by its name
    below ``path`` (``/cr/config/mail_from`` → ``mail_from``)."""
    prefix = path if path.endswith("/") else path + "/"
    out: dict[str, str] = {}
    request: dict[str, Any] = {"Path": prefix, "Recursive": True, "WithDecryption": True}
    while True:
        page = client.get_parameters_by_path(**request)
        for p in page.get("Parameters", []):
            name = str(p["Name"])
            out[name[len(prefix) :] if name.startswith(prefix) else name] = str(p["Value"])
        token = page.get("NextToken")
        if not token:
            return out
        request["NextToken"] = token


def secure_parameter(client: Any, name: str) -> str:
    """One SecureString parameter's value, decrypted (an error names the parameter, never a
    value)."""
    try:
        answer = client.get_parameter(Name=name, WithDecryption=True)
    except client_error_type() as e:
        raise RuntimeError(f"cannot read the parameter {name}: {error_code(e)}") from None
    return str(answer["Parameter"]["Value"])


class Secrets:
    """Secrets Manager values, cached per execution environment."""

    def __init__(self, client: Any, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._monotonic = monotonic
        self._cache: dict[tuple[str, str], str | None] = {}
        self._read_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def _value(self, secret_id: str, stage: str) -> str | None:
        key = (secret_id, stage)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = self._fetch(secret_id, stage)
                self._read_at[secret_id] = self._monotonic()
            return self._cache[key]

    def _fetch(self, secret_id: str, stage: str) -> str | None:
        try:
            answer = self._client.get_secret_value(SecretId=secret_id, VersionStage=stage)
        except client_error_type() as e:
            if stage != "AWSCURRENT" and error_code(e) == "ResourceNotFoundException":
                return None  # no previous version: not in a rotation
            log.error("secret not readable", extra={"secret_id": secret_id, "error": error_code(e)})
            raise
        value = answer.get("SecretString")
        if value is None:
            raise ValueError(f"secret {secret_id} holds no text")
        return str(value).strip()

    def current(self, secret_id: str) -> str:
        value = self._value(secret_id, "AWSCURRENT")
        assert value is not None
        return value

    def rotating(self, secret_id: str) -> tuple[str, ...]:
        """The current value and, during a rotation, the previous one."""
        values = [self._value(secret_id, "AWSCURRENT"), self._value(secret_id, "AWSPREVIOUS")]
        out: list[str] = []
        for v in values:
            if v and v not in out:
                out.append(v)
        return tuple(out)

    def refresh(self, secret_id: str, *, min_age: float = REFRESH_AFTER) -> bool:
        """Forget ``secret_id`` if it was read more than ``min_age`` seconds ago. True when it
        was forgotten (the caller may try again with the values read afresh)."""
        with self._lock:
            read_at = self._read_at.get(secret_id)
            if read_at is not None and self._monotonic() - read_at < min_age:
                return False
            for key in [k for k in self._cache if k[0] == secret_id]:
                del self._cache[key]
            self._read_at.pop(secret_id, None)
            return True
