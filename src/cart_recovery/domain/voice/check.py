"""Checking one template of the voice doc: syntax, placeholders, sandbox escapes, a test render.

Every problem is reported on the doc line it comes from.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterator
from dataclasses import dataclass

from jinja2 import TemplateSyntaxError, meta, nodes
from markupsafe import Markup

from cart_recovery.domain.rules import Problem
from cart_recovery.domain.voice.lines import one_line
from cart_recovery.domain.voice.model import BODY_NEEDS, PLACEHOLDERS
from cart_recovery.domain.voice.sandbox import compiled_template, environment

_IGNORED_WORDS = re.compile(r"\bignored\b", re.IGNORECASE)

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


@dataclass(frozen=True)
class TemplateSource:
    """One template as found in the doc: its text and the doc line its first line is on."""

    kind: str
    text: str
    line: int


def check_template(source: TemplateSource, lines: list[str], store_name: str) -> list[Problem]:
    """Every problem with one template: syntax, placeholders, sandbox escapes, a test render."""

    def problem(relative_line: int | None, message: str) -> Problem:
        no = source.line + (relative_line or 1) - 1
        text = lines[no - 1].rstrip() if 0 < no <= len(lines) else ""
        return Problem(no, text, message)

    if not source.text.strip():
        return [problem(1, "this is empty")]
    env = environment(False)
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
                out = compiled_template(source.text, html).render(values)
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
