"""The Jinja2 sandbox every voice template is compiled and rendered in.

The stock sandbox, with ``*`` and ``**`` capped and ``|safe`` removed; the HTML flavour escapes
the owner's own words too. Compiled templates are remembered by source.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

from jinja2 import StrictUndefined, Template
from jinja2.exceptions import SecurityError
from jinja2.ext import Extension
from jinja2.lexer import TOKEN_DATA, Token, TokenStream
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

_MAX_REPEAT = 10_000  # longest string/list a template may build with ``*``
_MAX_EXPONENT = 100


class _Sandbox(SandboxedEnvironment):
    """The stock sandbox, plus a cap on ``"x" * 10**9``-style arithmetic."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(times, int)
                    and len(seq) * times > _MAX_REPEAT
                ):
                    raise SecurityError("that repetition is too long")
        if operator == "**" and isinstance(right, int | float) and abs(right) > _MAX_EXPONENT:
            raise SecurityError("that power is too large")
        return super().call_binop(context, operator, left, right)


class _EscapeLiteralText(Extension):
    """For the HTML part: the owner's own words are plain text too, so escape them."""

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        for token in stream:
            if token.type == TOKEN_DATA:
                yield Token(token.lineno, TOKEN_DATA, str(escape(token.value)))
            else:
                yield token


def _sandbox(html: bool) -> _Sandbox:
    env = _Sandbox(
        autoescape=html,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[_EscapeLiteralText] if html else [],
    )
    # ``|safe`` would let a shopper's name or a title through unescaped.
    del env.filters["safe"]
    return env


@functools.cache
def environment(html: bool) -> _Sandbox:
    return _sandbox(html)


@functools.lru_cache(maxsize=256)
def compiled_template(source: str, html: bool) -> Template:
    template = environment(html).from_string(source)
    # The same globals as a plain dict rather than a ChainMap over the environment's: every
    # render copies them, and copying a ChainMap cost more than the rendering itself.
    template.globals = dict(template.globals)
    return template


def render_text(source: str, values: Mapping[str, object]) -> str:
    """Render a (parsed, so known-good) template as plain text."""
    return compiled_template(source, False).render(values)


def render_html(source: str, values: Mapping[str, object]) -> Markup:
    """Render a template as HTML: the owner's text and every plain ``str`` value are escaped;
    ``Markup`` values (links, the items table) go in as they are."""
    return Markup(compiled_template(source, True).render(values))  # noqa: S704 - autoescaped output
