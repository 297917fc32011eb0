"""The line writer on Amazon Bedrock: ``bedrock-runtime`` ``converse`` through boto3.

Install with ``pip install 'cart-recovery[aws]'``. Credentials come from boto3's usual chain
(environment, profile, the Lambda or instance role) or from the ``session`` handed in; the
client is built once, up front (no connection is made then), with connect and read timeouts of
the writer's own timeout and a single attempt, so the deadline bounds the whole call.
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

DEFAULT_BEDROCK_MODEL = "global.anthropic.claude-haiku-4-5-20251001-v1:0"


class BedrockLines(ModelLines):
    provider = "bedrock"

    def __init__(
        self,
        *,
        model: str = DEFAULT_BEDROCK_MODEL,
        region: str | None = None,
        endpoint_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        session: Any = None,
    ) -> None:
        super().__init__(model=model, timeout=timeout)
        what = "The Bedrock line writer"
        boto3 = require("boto3", extra="aws", what=what)
        config = require("botocore.config", extra="aws", what=what)
        self._errors = require("botocore.exceptions", extra="aws", what=what)
        self._parsers = require("botocore.parsers", extra="aws", what=what)
        self.region = region
        self.endpoint_url = endpoint_url
        session = session if session is not None else boto3.session.Session()
        self._client: Any = session.client(
            "bedrock-runtime",
            region_name=region,
            endpoint_url=endpoint_url,
            config=config.Config(
                connect_timeout=self.timeout,
                read_timeout=self.timeout,
                retries={"total_max_attempts": 1, "mode": "standard"},
            ),
        )

    def __repr__(self) -> str:
        return (
            f"BedrockLines(model={self.model!r}, region={self.region!r}, "
            f"endpoint_url={self.endpoint_url!r}, timeout={self.timeout})"
        )

    def close(self) -> None:
        super().close()
        close = getattr(self._client, "close", None)
        if callable(close):
            close()

    def _ask(self, prompt: Prompt, timeout: float) -> Answer:
        errors = self._errors
        try:
            response = self._client.converse(
                modelId=self.model,
                system=[{"text": prompt.system}],
                messages=[{"role": "user", "content": [{"text": prompt.user}]}],
                inferenceConfig={"maxTokens": prompt.max_tokens},
            )
        except (errors.ReadTimeoutError, errors.ConnectTimeoutError):
            raise LineFailure("timeout") from None
        except errors.ClientError as e:
            meta = e.response.get("ResponseMetadata", {})
            code = e.response.get("Error", {}).get("Code")
            raise LineFailure(
                "http_error", status=meta.get("HTTPStatusCode"), error=str(code or "ClientError")
            ) from None
        except (errors.ConnectionError, errors.HTTPClientError) as e:
            raise LineFailure("http_error", error=type(e).__name__) from None
        except self._parsers.ResponseParserError as e:
            raise LineFailure("bad_answer:malformed", error=type(e).__name__) from None
        except (errors.NoCredentialsError, errors.PartialCredentialsError) as e:
            raise LineFailure("credentials", error=type(e).__name__) from None
        try:
            blocks = response["output"]["message"]["content"]
            text = "".join(block["text"] for block in blocks if "text" in block)
            if not isinstance(text, str):
                raise TypeError(type(text).__name__)
        except (KeyError, TypeError) as e:  # JSON, but not a Converse answer
            raise LineFailure("bad_answer:malformed", error=type(e).__name__) from None
        return Answer(text=text, truncated=response.get("stopReason") == "max_tokens")
