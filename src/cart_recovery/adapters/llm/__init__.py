"""Line writers: who may polish a reminder's opening line and the owner's summary paragraph.

``template`` (the default) keeps the owner's words; ``anthropic`` asks the Anthropic API;
``bedrock`` asks Amazon Bedrock. The model-backed ones share one flow (``base.ModelLines``): a
tight prompt, a strict deadline, the checks of ``domain/lines.py``, and the plain text on any
failure. Their SDKs are optional extras, imported only when the writer is built.
"""

from __future__ import annotations

from cart_recovery.adapters.llm.anthropic_api import (
    DEFAULT_ANTHROPIC_BASE_URL,
    DEFAULT_ANTHROPIC_MODEL,
    AnthropicLines,
)
from cart_recovery.adapters.llm.base import LineFailure, MissingExtra, ModelLines
from cart_recovery.adapters.llm.bedrock import DEFAULT_BEDROCK_MODEL, BedrockLines
from cart_recovery.adapters.llm.template import TemplateLines
from cart_recovery.config.settings import Settings
from cart_recovery.ports import LineWriter


def make_line_writer(settings: Settings) -> LineWriter:
    """The line writer ``settings.line_writer`` names. Raises MissingExtra (naming the pip
    extra) when its SDK is not installed, ValueError when a setting it needs is missing."""
    if settings.line_writer == "anthropic":
        return AnthropicLines(
            api_key=settings.anthropic_api_key,
            model=settings.anthropic_model,
            base_url=settings.anthropic_base_url,
            timeout=settings.llm_timeout_seconds,
        )
    if settings.line_writer == "bedrock":
        return BedrockLines(
            model=settings.bedrock_model,
            region=settings.bedrock_region,
            endpoint_url=settings.bedrock_endpoint_url,
            timeout=settings.llm_timeout_seconds,
        )
    if settings.line_writer == "template":
        return TemplateLines()
    raise ValueError(f"unknown line writer {settings.line_writer!r}")


__all__ = [
    "DEFAULT_ANTHROPIC_BASE_URL",
    "DEFAULT_ANTHROPIC_MODEL",
    "DEFAULT_BEDROCK_MODEL",
    "AnthropicLines",
    "BedrockLines",
    "LineFailure",
    "MissingExtra",
    "ModelLines",
    "TemplateLines",
    "make_line_writer",
]
