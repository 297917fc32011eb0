"""The voice doc: what the reminder emails say (SPEC §5), parsed into ``Voice``.

The owner edits plain text: a few settings (``Store name: …``), then one section per reminder
(``[First reminder]``, ``[Second reminder]``), each with a ``Subject:``, an ``Opening:``, a
``Saved opening:`` (for carts started from a saved link) and a ``Body:`` that runs to the next
section. Placeholders are written ``{{ name }}``; the wording around them is the owner's.

Every template is compiled and test-rendered in a Jinja2 sandbox while the doc is parsed, so a bad
edit (an unknown placeholder, an unclosed ``{% if %}``, a reach for ``__class__``) is an error
naming its line, never a broken email. As with the rules doc, the parser never guesses.
"""

from __future__ import annotations

import functools
import re
import traceback
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.ext import Extension
from jinja2.lexer import TOKEN_DATA, Token, TokenStream
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from cart_recovery.domain.rules import Problem

STEPS = (1, 2)

# What a subject or a body may use. ``items`` is a ready-made block: a list (text), a table (HTML).
PLACEHOLDERS = (
    "greeting",
    "opening",
    "items",
    "total",
    "return_link",
    "unsubscribe_link",
    "store_name",
    "first_name",
)
BODY_NEEDS = ("items", "total", "return_link")  # SPEC §7: every email shows these

DEFAULT_GREETING = "Hi {{ first_name }},"
DEFAULT_GREETING_NO_NAME = "Hi there,"
DEFAULT_BUTTON = "Return to your cart"
DEFAULT_UNSUBSCRIBE = "Unsubscribe"
DEFAULT_FOOTER = "You're getting this because you left items in your cart at {{ store_name }}."

DEFAULT_VOICE_TEXT = """\
# The voice doc: what the reminder emails say. Change the words freely.
# Lines starting with # are notes for you and never appear in an email.
#
# Placeholders go in double curly braces. A Subject or Body can use:
#   {{ greeting }}  {{ opening }}  {{ items }}  {{ total }}  {{ return_link }}
#   {{ unsubscribe_link }}  {{ store_name }}  {{ first_name }}
# {{ first_name }} is empty when we don't know the name: {{ first_name or "friend" }} helps.
# Every Body must show {{ items }}, {{ total }} and {{ return_link }}. An unsubscribe link is
# always added at the foot of every email, whatever the Body says.
# A Body runs to the next [section]; blank lines separate its paragraphs.

Store name: Linen & Light
Greeting: Hi {{ first_name }},
Greeting without a name: Hi there,
Button: Return to your cart
Unsubscribe link: Unsubscribe
Footer: You're getting this because you left items in your cart at {{ store_name }}.

[First reminder]
Subject: Your cart is still here, {{ first_name or "friend" }}
Opening: Still thinking it over? Your cart's still here.
Saved opening: Still saving these? They're right where you left them.
Body:
{{ greeting }}

{{ opening }}

{{ items }}

Total: {{ total }}

{{ return_link }}

Thanks for shopping with {{ store_name }}.

[Second reminder]
Subject: We saved your cart for you, {{ first_name or "friend" }}
Opening: Last nudge — we saved your cart in case you still want it.
Saved opening: Still saving these? We're keeping them safe for whenever you're ready.
Body:
{{ greeting }}

{{ opening }}

{{ items }}

Total: {{ total }}

{{ return_link }}

No rush at all. This is our last note about this cart.

Warmly,
{{ store_name }}
"""


@dataclass(frozen=True)
class StepVoice:
    """One reminder's templates (Jinja2 source, as the owner wrote them)."""

    subject: str
    opening: str
    saved_opening: str
    body: str


@dataclass(frozen=True)
class Voice:
    """The parsed voice doc. ``steps`` maps 1 and 2 to their templates."""

    store_name: str
    steps: Mapping[int, StepVoice]
    greeting: str = DEFAULT_GREETING
    greeting_no_name: str = DEFAULT_GREETING_NO_NAME
    button: str = DEFAULT_BUTTON
    unsubscribe: str = DEFAULT_UNSUBSCRIBE
    footer: str = DEFAULT_FOOTER

    def step(self, step: int) -> StepVoice:
        try:
            return self.steps[step]
        except KeyError:
            raise ValueError(f"the voice doc has no template for reminder {step}") from None


class VoiceError(ValueError):
    """The doc could not be read. ``problems`` lists every bad line."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


def plain_opening(voice: Voice, step: int, saved_link: bool) -> str:
    """The owner's opening line for ``step``, as sent when no polished line is supplied."""
    templates = voice.step(step)
    source = templates.saved_opening if saved_link else templates.opening
    return fixed_line(source, voice.store_name)


def fixed_line(source: str, store_name: str, first_name: str | None = None) -> str:
    """A one-line template that depends only on the store's name (and the first name): an
    opening, the greeting, the button, the footer. Rendered once per value and remembered,
    unless it draws at random (a line that may differ each time is never remembered)."""
    if "random" in source:
        return _render_line(source, store_name, first_name)
    return _remembered_line(source, store_name, first_name)


def _render_line(source: str, store_name: str, first_name: str | None) -> str:
    values: dict[str, object] = {"store_name": store_name}
    if first_name is not None:
        values["first_name"] = first_name
    return one_line(render_text(source, values))


_remembered_line = functools.lru_cache(maxsize=4096)(_render_line)


_ASCII_CONTROLS = {code: " " for code in (*range(0x20), 0x7F)}


def one_line(value: str) -> str:
    """``value`` on one line: control characters and line breaks become spaces, runs of
    whitespace collapse to one space, lone surrogates go. Safe for a header or a greeting."""
    if value.isascii():  # the usual case: ASCII's control characters are its only Cc
        if value.isprintable() and "  " not in value and value.strip(" ") == value:
            return value  # one line already
        return " ".join(value.translate(_ASCII_CONTROLS).split())
    kept = []
    for ch in value:
        category = unicodedata.category(ch)
        if category == "Cs":
            continue
        kept.append(" " if category in ("Cc", "Zl", "Zp") else ch)
    return " ".join("".join(kept).split())


# --- the sandbox -------------------------------------------------------------------------------

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
def _env(html: bool) -> _Sandbox:
    return _sandbox(html)


@functools.lru_cache(maxsize=256)
def _template(source: str, html: bool) -> Template:
    template = _env(html).from_string(source)
    # The same globals as a plain dict rather than a ChainMap over the environment's: every
    # render copies them, and copying a ChainMap cost more than the rendering itself.
    template.globals = dict(template.globals)
    return template


def render_text(source: str, values: Mapping[str, object]) -> str:
    """Render a (parsed, so known-good) template as plain text."""
    return _template(source, False).render(values)


def render_html(source: str, values: Mapping[str, object]) -> Markup:
    """Render a template as HTML: the owner's text and every plain ``str`` value are escaped;
    ``Markup`` values (links, the items table) go in as they are."""
    return Markup(_template(source, True).render(values))  # noqa: S704 - autoescaped output


# --- parsing -----------------------------------------------------------------------------------

_SECTION = re.compile(r"^\s*\[([^\]]*)\]\s*$")
_FIELD = re.compile(r"^([A-Za-z][A-Za-z '\-]*?)\s*:\s*(.*)$")
_FIRST = {"first", "1st", "1", "one"}
_SECOND = {"second", "2nd", "2", "two"}
_MORE = re.compile(r"\b(third|3rd|3|three|fourth|4th|4|four|fifth|5th|5|five)\b", re.I)
_FILLER = {"reminder", "email", "step", "nudge", "the"}
_IGNORED_WORDS = re.compile(r"\bignored\b", re.IGNORECASE)

_SETTINGS = {
    "store name": "store_name",
    "store": "store_name",
    "greeting": "greeting",
    "greeting without a name": "greeting_no_name",
    "greeting without name": "greeting_no_name",
    "greeting with no name": "greeting_no_name",
    "no name greeting": "greeting_no_name",
    "button": "button",
    "return button": "button",
    "button text": "button",
    "unsubscribe": "unsubscribe",
    "unsubscribe link": "unsubscribe",
    "unsubscribe text": "unsubscribe",
    "footer": "footer",
}
_STEP_FIELDS = {
    "subject": "subject",
    "opening": "opening",
    "opening line": "opening",
    "saved opening": "saved_opening",
    "saved link opening": "saved_opening",
    "saved opening line": "saved_opening",
    "body": "body",
}
_FIELD_LABELS = {
    "subject": "Subject:",
    "opening": "Opening:",
    "saved_opening": "Saved opening:",
    "body": "Body:",
}
_SECTION_LABELS = {1: "[First reminder]", 2: "[Second reminder]"}
# Which placeholders each kind of template may use.
_ALLOWED = {
    "subject": frozenset(PLACEHOLDERS),
    "body": frozenset(PLACEHOLDERS),
    "opening": frozenset({"store_name"}),
    "saved_opening": frozenset({"store_name"}),
    "greeting": frozenset({"first_name", "store_name"}),
    "greeting_no_name": frozenset({"store_name"}),
    "button": frozenset({"store_name"}),
    "unsubscribe": frozenset({"store_name"}),
    "footer": frozenset({"store_name"}),
}
_DEFAULT_SETTINGS = {
    "greeting": DEFAULT_GREETING,
    "greeting_no_name": DEFAULT_GREETING_NO_NAME,
    "button": DEFAULT_BUTTON,
    "unsubscribe": DEFAULT_UNSUBSCRIBE,
    "footer": DEFAULT_FOOTER,
}


@dataclass(frozen=True)
class _Source:
    """One template as found in the doc: its text and the doc line its first line is on."""

    kind: str
    text: str
    line: int


@dataclass
class _Section:
    step: int
    line: int
    text: str
    fields: dict[str, _Source] = field(default_factory=dict)
    body: list[tuple[int, str]] = field(default_factory=list)


def _key(label: str) -> str:
    return " ".join(label.lower().replace("-", " ").split())


def _step_of(title: str) -> int | None:
    words = [w for w in _key(title).split() if w not in _FILLER]
    if len(words) != 1:
        return None
    if words[0] in _FIRST:
        return 1
    if words[0] in _SECOND:
        return 2
    return None


def _bad_char(line: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cs") and ch != "\t" for ch in line)


def parse_voice(text: str) -> Voice:
    """Read the voice doc. Raises ``VoiceError`` listing every problem, each with its line."""
    lines = text.splitlines()
    problems: list[Problem] = []
    settings: dict[str, _Source] = {}
    sections: dict[int, _Section] = {}
    current: _Section | None = None
    skipping = False  # inside a section we could not read: its lines were reported already
    in_body = False

    for no, raw in enumerate(lines, start=1):
        line = raw.rstrip()
        if _bad_char(line):
            problems.append(Problem(no, line, "this line holds a control character"))
            line = "".join(" " if _bad_char(ch) else ch for ch in line)
        header = _SECTION.match(line)
        if header:
            in_body = False
            step = _step_of(header.group(1))
            if step is None:
                message = (
                    "there are at most two reminders"
                    if _MORE.search(header.group(1))
                    else "unknown section; use [First reminder] or [Second reminder]"
                )
                problems.append(Problem(no, line, message))
                current, skipping = None, True
            elif step in sections:
                problems.append(Problem(no, line, "this reminder already has a section above"))
                current, skipping = None, True
            else:
                current = sections[step] = _Section(step, no, line.strip())
                skipping = False
            continue
        if in_body and current is not None:
            current.body.append((no, line))
            continue
        if skipping:
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        found = _FIELD.match(stripped)
        if found is None:
            where = "setting like 'Store name: …'" if current is None else "'Subject:' line"
            problems.append(Problem(no, line, f"expected a {where} or a [section] heading"))
            continue
        key, value = _key(found.group(1)), found.group(2).strip()
        if current is None:
            if key in _SETTINGS:
                name = _SETTINGS[key]
                if name in settings:
                    problems.append(Problem(no, line, "this setting is already given above"))
                elif not value:
                    problems.append(Problem(no, line, "this setting is empty"))
                else:
                    settings[name] = _Source(name, value, no)
            elif key in _STEP_FIELDS:
                problems.append(
                    Problem(no, line, "this belongs under [First reminder] or [Second reminder]")
                )
            else:
                problems.append(Problem(no, line, f"unknown setting {found.group(1)!r}"))
            continue
        if key not in _STEP_FIELDS:
            known = ", ".join(_FIELD_LABELS.values())
            problems.append(Problem(no, line, f"unknown line; a reminder has {known}"))
            continue
        name = _STEP_FIELDS[key]
        if name in current.fields:
            problems.append(Problem(no, line, "this reminder already has this line above"))
            continue
        if name == "body":
            in_body = True
            current.fields[name] = _Source(name, "", no)
            if value:
                current.body.append((no, value))
            continue
        if not value:
            problems.append(Problem(no, line, "this line is empty"))
            continue
        current.fields[name] = _Source(name, value, no)

    end = max(len(lines), 1)
    store = settings.get("store_name")
    if store is None:
        problems.append(Problem(1, lines[0] if lines else "", "missing a 'Store name: …' line"))
    for step in STEPS:
        if step not in sections:
            problems.append(Problem(end, "", f"missing the {_SECTION_LABELS[step]} section"))
            continue
        section = sections[step]
        if "body" in section.fields:
            section.fields["body"] = _body_source(section)
        for name, label in _FIELD_LABELS.items():
            if name not in section.fields:
                problems.append(Problem(section.line, section.text, f"no {label} line here"))

    sources = [s for s in settings.values() if s.kind != "store_name"]
    for section in sections.values():
        sources.extend(section.fields.values())
    for source in sources:
        problems.extend(_check(source, lines, store.text if store else "Store"))

    if problems:
        problems.sort(key=lambda p: p.line)
        raise VoiceError(problems)
    assert store is not None

    def setting(name: str) -> str:
        given = settings.get(name)
        return given.text if given is not None else _DEFAULT_SETTINGS[name]

    return Voice(
        store_name=one_line(store.text),
        steps={
            step: StepVoice(
                subject=section.fields["subject"].text,
                opening=section.fields["opening"].text,
                saved_opening=section.fields["saved_opening"].text,
                body=section.fields["body"].text,
            )
            for step, section in sorted(sections.items())
        },
        greeting=setting("greeting"),
        greeting_no_name=setting("greeting_no_name"),
        button=setting("button"),
        unsubscribe=setting("unsubscribe"),
        footer=setting("footer"),
    )


def _body_source(section: _Section) -> _Source:
    body = list(section.body)
    while body and not body[0][1].strip():
        body.pop(0)
    while body and not body[-1][1].strip():
        body.pop()
    if not body:
        return section.fields["body"]  # empty: reported by _check
    return _Source("body", "\n".join(line for _, line in body), body[0][0])


# --- checking one template ---------------------------------------------------------------------


def _check(source: _Source, lines: list[str], store_name: str) -> list[Problem]:
    """Every problem with one template: syntax, placeholders, sandbox escapes, a test render."""

    def problem(relative_line: int | None, message: str) -> Problem:
        no = source.line + (relative_line or 1) - 1
        text = lines[no - 1].rstrip() if 0 < no <= len(lines) else ""
        return Problem(no, text, message)

    if not source.text.strip():
        return [problem(1, "this is empty")]
    env = _env(False)
    try:
        tree = env.parse(source.text)
        used = meta.find_undeclared_variables(tree)  # compiles: unknown filters fail here
    except TemplateSyntaxError as exc:
        return [problem(exc.lineno, f"template error: {exc.message}")]

    found: list[Problem] = []
    allowed = _ALLOWED[source.kind]
    unknown = used - allowed - set(env.globals)
    for node in tree.find_all(nodes.Name):
        if node.name in unknown:
            unknown.discard(node.name)
            choices = ", ".join(f"{{{{ {n} }}}}" for n in sorted(allowed))
            found.append(
                problem(node.lineno, f"unknown placeholder {{{{ {node.name} }}}}; use {choices}")
            )
    unsafe_lines = set()
    for lineno, message in _unsafe(tree):
        if lineno not in unsafe_lines:  # one per line: ''.__class__.__mro__ is one mistake
            unsafe_lines.add(lineno)
            found.append(problem(lineno, message))
    if source.kind == "body":
        for needed in BODY_NEEDS:
            if needed not in used:
                found.append(problem(1, f"the Body must show {{{{ {needed} }}}}"))
    if _IGNORED_WORDS.search(source.text):
        found.append(problem(1, "never tell a shopper they ignored us; keep the reminder warm"))
    if found:
        return found

    for values in _samples(source.kind, store_name):
        for html in (False, True):
            try:
                out = _template(source.text, html).render(values)
            except Exception as exc:  # anything a template can raise: report, never crash
                message = getattr(exc, "message", None) or str(exc)
                return [problem(_failing_line(exc), f"template error: {message}")]
            if source.kind == "subject" and not one_line(out):
                return [problem(1, "this subject comes out empty")]
    return []


def _unsafe(tree: nodes.Template) -> Iterator[tuple[int, str]]:
    """Reaches the sandbox would refuse at send time, caught now with a line number."""
    for node in tree.find_all(nodes.Getattr):
        if node.attr.startswith("_"):
            yield node.lineno, f"'{node.attr}' is not allowed in a template"
    for item in tree.find_all(nodes.Getitem):
        if isinstance(item.arg, nodes.Const) and str(item.arg.value).startswith("_"):
            yield item.lineno, f"'{item.arg.value}' is not allowed in a template"
    for filt in tree.find_all(nodes.Filter):
        if filt.name == "attr":
            yield filt.lineno, "the attr filter is not allowed in a template"
    for loader in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        yield loader.lineno, "templates cannot include or import other templates"
    for modifier in tree.find_all(nodes.EvalContextModifier):
        yield modifier.lineno, "autoescape cannot be switched off"


def _samples(kind: str, store_name: str) -> list[dict[str, object]]:
    """Values to test-render with: with a name and without one."""
    if kind not in ("subject", "body"):
        return [{"store_name": store_name, "first_name": name} for name in ("Sam", "")]
    link = Markup('<a href="https://shop.example/r/x">link</a>')
    return [
        {
            "greeting": greeting,
            "opening": "Still thinking it over?",
            "items": "1 × Candle — $9.00",
            "total": "$9.00",
            "return_link": link,
            "unsubscribe_link": link,
            "store_name": store_name,
            "first_name": name,
        }
        for name, greeting in (("Sam", "Hi Sam,"), ("", "Hi there,"))
    ]


def _failing_line(exc: BaseException) -> int | None:
    """The template line a render error came from (Jinja rewrites tracebacks to show it)."""
    lineno = getattr(exc, "lineno", None)
    if isinstance(lineno, int):
        return lineno
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == "<template>" and frame.lineno is not None:
            return frame.lineno
    return None
