"""Line writers: who may polish a reminder's opening line and the owner's summary paragraph.

``template`` (the default) keeps the owner's words; ``anthropic`` asks the Anthropic API;
``bedrock`` asks Amazon Bedrock. The model-backed ones share one flow (``base.ModelLines``): a
tight prompt, a strict deadline, the checks of ``domain/lines.py``, and the plain text on any
failure. Their SDKs are optional extras, imported only when the writer is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cart_recovery.adapters.llm.anthropic_api import (
    DEFAULT_ANTHROPIC_BASE_URL,
    DEFAULT_ANTHROPIC_MODEL,
    AnthropicLines,
)
from cart_recovery.adapters.llm.base import LineFailure, MissingExtra, ModelLines
from cart_recovery.adapters.llm.bedrock import DEFAULT_BEDROCK_MODEL, BedrockLines
from cart_recovery.adapters.llm.template import TemplateLines
from cart_recovery.ports import LineWriter


@dataclass(frozen=True)
class LineWriterConfig:
    """Which line writer, and what it needs (the runtime's settings pick these out)."""

    kind: str = "template"  # template | anthropic | bedrock
    timeout: float = 3.0
    anthropic_model: str = DEFAULT_ANTHROPIC_MODEL
    anthropic_base_url: str = DEFAULT_ANTHROPIC_BASE_URL
    anthropic_api_key: str = field(default="", repr=False)
    bedrock_model: str = DEFAULT_BEDROCK_MODEL
    bedrock_region: str | None = None
    bedrock_endpoint_url: str | None = None


def make_line_writer(config: LineWriterConfig) -> LineWriter:
    """The line writer ``config.kind`` names. Raises MissingExtra (naming the pip extra) when
    its SDK is not installed, ValueError when a setting it needs is missing."""
    if config.kind == "anthropic":
        return AnthropicLines(
            api_key=config.anthropic_api_key,
            model=config.anthropic_model,
            base_url=config.anthropic_base_url,
            timeout=config.timeout,
        )
    if config.kind == "bedrock":
        return BedrockLines(
            model=config.bedrock_model,
            region=config.bedrock_region,
            endpoint_url=config.bedrock_endpoint_url,
            timeout=config.timeout,
        )
    if config.kind == "template":
        return TemplateLines()
    raise ValueError(f"unknown line writer {config.kind!r}")


__all__ = [
    "DEFAULT_ANTHROPIC_BASE_URL",
    "DEFAULT_ANTHROPIC_MODEL",
    "DEFAULT_BEDROCK_MODEL",
    "AnthropicLines",
    "BedrockLines",
    "LineFailure",
    "LineWriterConfig",
    "MissingExtra",
    "ModelLines",
    "TemplateLines",
    "make_line_writer",
]
