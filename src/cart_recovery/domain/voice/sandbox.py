"""The Jinja2 sandbox every voice template is compiled and rendered in.

The stock sandbox, with ``*`` and ``**`` capped and ``|safe`` removed; the HTML flavour escapes
the owner's own words too. Compiled templates are remembered by source.

A template that is only words and ``{{ name }}`` substitutions of the known placeholders (the
default voice's bodies are) is also compiled to plain string joining, which renders the same
text several times faster; anything else, or a value missing, renders in the sandbox.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any

from jinja2 import StrictUndefined, Template
from jinja2.exceptions import SecurityError
from jinja2.ext import Extension
from jinja2.lexer import TOKEN_DATA, Token, TokenStream
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from cart_recovery.domain.voice.model import PLACEHOLDERS

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


_WS = "[ \t\n\r]"
# ``{{ name }}`` or ``{{ name or "words" }}`` (a default without quotes or backslashes in it)
_SUBSTITUTION = re.compile(
    rf'\{{\{{{_WS}*([A-Za-z_][A-Za-z0-9_]*)(?:{_WS}+or{_WS}+"([^"\\]*)")?{_WS}*\}}\}}'
)
_NEWLINE = re.compile(r"\r\n|\r|\n")  # what Jinja reads as a line break
_KNOWN = frozenset(PLACEHOLDERS)

# A simple template as (words, name, default, words, name, default, ..., words): a name at
# every third place from 1, then its default (None when it has none).
Simple = tuple[str | None, ...]


@functools.lru_cache(maxsize=256)
def simple_template(source: str, html: bool) -> Simple | None:
    """``source`` as words and placeholders when it is nothing but words and ``{{ name }}`` or
    ``{{ name or "words" }}`` substitutions of known placeholders, or None. The words are as
    Jinja outputs them: line breaks made ``\\n``, one trailing line break dropped, escaped for
    HTML."""
    lines = _NEWLINE.split(source)
    if lines[-1] == "":  # Jinja drops one trailing line break (keep_trailing_newline=False)
        del lines[-1]
    pieces: list[str | None] = list(_SUBSTITUTION.split("\n".join(lines)))
    words = [w or "" for w in pieces[0::3]]
    if any(name not in _KNOWN for name in pieces[1::3]):
        return None
    if any("{{" in w or "{%" in w or "{#" in w for w in words) or any(
        w.endswith("{") for w in words[:-1]
    ):
        return None  # a tag, a comment or an expression: the sandbox's job
    if html:
        pieces[0::3] = [str(escape(w)) for w in words]
    return tuple(pieces)


def _join(parts: Simple, values: Mapping[str, object], html: bool) -> str | None:
    out: list[str] = []
    add = out.append
    try:
        for i in range(0, len(parts) - 1, 3):
            add(parts[i] or "")
            value = values[parts[i + 1] or ""]
            default = parts[i + 2]
            if default is not None:
                value = value or default
            add(escaped(value) if html else str(value))
    except KeyError:
        return None  # let the sandbox say what is missing
    add(parts[-1] or "")
    return "".join(out)


def escaped(value: object) -> str:
    """``markupsafe.escape(value)`` as a plain string (building an email from strings is
    several times faster than from ``Markup`` objects): ``Markup`` goes in as it is; a plain
    ``str`` (nearly every value) is escaped here with the same five replacements, made only
    when one of the five characters is there (most values, links included, hold none)."""
    if type(value) is str:
        if "&" in value or "<" in value or ">" in value or "'" in value or '"' in value:
            return (
                value.replace("&", "&amp;")
                .replace(">", "&gt;")
                .replace("<", "&lt;")
                .replace("'", "&#39;")
                .replace('"', "&#34;")
            )
        return value
    return str(escape(value))


def render_text(source: str, values: Mapping[str, object]) -> str:
    """Render a (parsed, so known-good) template as plain text."""
    parts = simple_template(source, False)
    if parts is not None:
        joined = _join(parts, values, False)
        if joined is not None:
            return joined
    return sandboxed_text(source, values)


def render_html(source: str, values: Mapping[str, object]) -> Markup:
    """Render a template as HTML: the owner's text and every plain ``str`` value are escaped;
    ``Markup`` values (links, the items table) go in as they are."""
    parts = simple_template(source, True)
    if parts is not None:
        joined = _join(parts, values, True)
        if joined is not None:
            return Markup(joined)  # noqa: S704 - words and values escaped above
    return sandboxed_html(source, values)


def sandboxed_text(source: str, values: Mapping[str, object]) -> str:
    """``render_text`` always through the sandbox."""
    return compiled_template(source, False).render(values)


def sandboxed_html(source: str, values: Mapping[str, object]) -> Markup:
    """``render_html`` always through the sandbox."""
    return Markup(compiled_template(source, True).render(values))  # noqa: S704 - autoescaped output
