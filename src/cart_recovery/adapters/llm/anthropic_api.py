"""The line writer on the Anthropic API (Messages), through the official ``anthropic`` SDK.

Install with ``pip install 'cart-recovery[llm]'``. The key is passed in explicitly (settings read
``CART_RECOVERY_ANTHROPIC_API_KEY`` or ``ANTHROPIC_API_KEY``), so the SDK consults no other
credential source; it is kept out of ``repr`` and never logged.
"""

from __future__ import annotations

from typing import Any

from cart_recovery.adapters.llm.base import (
    DEFAULT_TIMEOUT,
    Answer,
    LineFailure,
    ModelLines,
    require,
)
from cart_recovery.domain.lines import Prompt

DEFAULT_ANTHROPIC_MODEL = "claude-haiku-4-5"
DEFAULT_ANTHROPIC_BASE_URL = "https://api.anthropic.com"


class AnthropicLines(ModelLines):
    provider = "anthropic"

    def __init__(
        self,
        *,
        api_key: str,
        model: str = DEFAULT_ANTHROPIC_MODEL,
        base_url: str = DEFAULT_ANTHROPIC_BASE_URL,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 0,
    ) -> None:
        super().__init__(model=model, timeout=timeout)
        self._sdk = require("anthropic", extra="llm", what="The Anthropic line writer")
        if not api_key:
            raise ValueError(
                "the Anthropic line writer needs an API key "
                "(CART_RECOVERY_ANTHROPIC_API_KEY or ANTHROPIC_API_KEY)"
            )
        if not base_url:
            raise ValueError("the Anthropic line writer needs a base URL")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.base_url = base_url.rstrip("/")
        # Retries share the one deadline: with the default of none, a 429 or a 500 falls back
        # at once instead of waiting for a retry the deadline would cut short anyway.
        self.max_retries = max_retries
        # Building the client makes no connection; an explicit base URL keeps
        # ANTHROPIC_BASE_URL from redirecting the calls.
        self._client: Any = self._sdk.Anthropic(
            api_key=api_key,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=self.max_retries,
        )

    def __repr__(self) -> str:
        return (
            f"AnthropicLines(model={self.model!r}, base_url={self.base_url!r}, "
            f"timeout={self.timeout})"
        )

    def close(self) -> None:
        super().close()
        self._client.close()

    def _ask(self, prompt: Prompt, timeout: float) -> Answer:
        sdk = self._sdk
        try:
            message = self._client.messages.create(
                model=self.model,
                max_tokens=prompt.max_tokens,
                system=prompt.system,
                messages=[{"role": "user", "content": prompt.user}],
                timeout=timeout,
            )
        except sdk.APITimeoutError:
            raise LineFailure("timeout") from None
        except sdk.APIStatusError as e:
            raise LineFailure("http_error", status=e.status_code, error=type(e).__name__) from None
        except sdk.APIConnectionError as e:
            raise LineFailure("http_error", error=type(e).__name__) from None
        except (sdk.APIResponseValidationError, ValueError) as e:  # a body that isn't JSON
            raise LineFailure("bad_answer:malformed", error=type(e).__name__) from None
        try:
            text = "".join(
                block.text for block in message.content if getattr(block, "type", "") == "text"
            )
            if not isinstance(text, str):
                raise TypeError(type(text).__name__)
        except (AttributeError, TypeError) as e:  # JSON, but not a message
            raise LineFailure("bad_answer:malformed", error=type(e).__name__) from None
        return Answer(text=text, truncated=getattr(message, "stop_reason", None) == "max_tokens")
